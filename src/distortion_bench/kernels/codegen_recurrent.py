"""Source of an LSTM or GRU kernel specialised to one network's shape (hidden size, layers).

The generic kernels (:mod:`.recurrent`) take the sizes at run time: the recurrence is a loop over
the hidden units' rows with the gate accumulator in memory, written and read back 24 times per
sample for an LSTM-24. Here the sizes are literals in the source, so the kernel is laid out the
other way round:

- per sample, the previous hidden state is read once into named scalars (``h_0 .. h_{H-1}``);
- every term of a gate sum is a weight loaded contiguously along the loop's index times a
  broadcast scalar (views of the weights made once per call, indexed by literals and the loop
  index alone), so LLVM vectorizes the loop and each sum stays in a register (nothing goes
  through memory between the terms);
- an LSTM computes its 4H gate sums in one loop (``acc[g]``, 96 for an LSTM-24: six 16-lane
  vectors), then the cell state, then the hidden state, each a loop over the units; a GRU
  computes each unit's three gates and its new state in one loop over the units. Every loop
  stores into one array: with two stores LLVM could not prove a loop safe to vectorize
  (measured). An LSTM's loop lengths are read from the arrays, not written as literals (a short
  literal loop is unrolled before the vectorizer sees it and stays scalar); a GRU's literal unit
  loop is compiled with LLVM's short-loop threshold lowered (:mod:`.llvm_options`);
- each gate sum is four independent partial sums (rows ``j = 0, 4, 8, ..``, ``1, 5, ..``, ...)
  added as ``(s0 + s1) + (s2 + s3)``: four short dependency chains instead of one of H terms;
- the output layer is unrolled with literal indices, four partial sums likewise.

The weights stay in the flat array of :mod:`.onnx_plan` (read at literal offsets, so a knob
fold that rewrites them in place needs no new kernel), the state and scratch are the generic
kernels' arrays, and the signature is theirs: the processor swaps one for the other. Every
sample runs the same instructions whatever the buffer cuts (unit ``k`` always takes the same
lane or the same scalar epilogue), so chunked processing equals whole-signal processing bit for
bit. Rounding differs from the generic kernel's (another order of the sums); both are checked
against ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the generic kernels' signature (:mod:`.recurrent`): the processor swaps one kernel for the other
_SIGNATURE = "void(float32[::1], float32[::1], float32[::1], float32[:, ::1], float32[::1], float32[:, ::1], boolean)"
#: bumped whenever the generated text changes, so cached kernels of older text are not reused
GENERATOR_VERSION = 3


@dataclass(frozen=True)
class RecurrentShape:
    """What the generated source depends on: ``cell`` (``lstm``/``gru``), ``hidden`` H, ``layers`` L."""

    cell: str
    hidden: int
    layers: int

    @property
    def gates(self) -> int:
        return (4 if self.cell == "lstm" else 3) * self.hidden

    def offsets(self) -> dict[str, int]:
        """Start of each part of the flat weights (see :mod:`.onnx_plan`)."""
        g, h, layers = self.gates, self.hidden, self.layers
        w_up = g
        w_bias = w_up + (layers - 1) * h * g
        r_bias = w_bias + layers * g
        r_t = r_bias + layers * g
        out_w = r_t + layers * h * g
        return {
            "w0": 0,
            "w_up": w_up,
            "w_bias": w_bias,
            "r_bias": r_bias,
            "r_t": r_t,
            "out_w": out_w,
            "out_b": out_w + h,
        }


def interleaved_sum(terms: list[str], first: str | None = None) -> str:
    """``first + terms`` as four interleaved partial sums ``(s0 + s1) + (s2 + s3)`` (a literal
    expression; ``first`` starts the first partial sum)."""
    parts: list[list[str]] = [[], [], [], []]
    for i, term in enumerate(terms):
        parts[i % 4].append(term)
    if first is not None:
        parts[0].insert(0, first)
    sums = [" + ".join(p) for p in parts if p]
    while len(sums) < 4:
        sums.append("")
    a, b, c, d = (f"({s})" if s else "" for s in sums)
    left = f"{a} + {b}" if b else a
    right = f"{c} + {d}" if d else c
    return f"({left}) + ({right})" if right else left


def _gate(shape: RecurrentShape, layer: int, gate: int, inputs: list[str], recurrent: bool) -> str:
    """Gate ``gate``'s sum for unit ``k`` of ``layer``: its input part (``recurrent=False``: bias
    plus the layer's input weights times ``inputs``) or its recurrent part (``recurrent=True``:
    the recurrent bias plus ``R h``). Indices into the per-call views of :func:`_views`: literals
    and ``k`` alone, so every address is an induction variable LLVM can vectorize over (an
    offset ``c + k`` keeps Numba's wrap-around select for negative indices, and LLVM then
    cannot bound the accesses)."""
    h = shape.hidden
    if recurrent:
        terms = [f"rt{layer}[{j}, {gate}, k] * h_{j}" for j in range(h)]
        return interleaved_sum(terms, f"rb{layer}[{gate}, k]")
    if layer == 0:
        return f"wb0[{gate}, k] + w0[{gate}, k] * xt"
    terms = [f"wu{layer}[{j}, {gate}, k] * {inputs[j]}" for j in range(h)]
    return interleaved_sum(terms, f"wb{layer}[{gate}, k]")


def _views(shape: RecurrentShape) -> list[str]:
    """Source lines making the per-call views of the flat weights: layer 0's input weights
    ``w0``, per layer its biases ``wb``/``rb``, recurrent weights ``rt`` (row ``j``: what ``h[j]``
    adds to each gate) and, above layer 0, input weights ``wu``. A GRU indexes them by gate and
    unit (vectors ``(gates, H)``, matrices ``(H, gates, H)``); an LSTM by its flat gate index
    (vectors ``(G,)``, matrices ``(H, G)``) and gets its gate scratch too."""
    o, h, g = shape.offsets(), shape.hidden, shape.gates
    lstm = shape.cell == "lstm"
    vector = "" if lstm else f".reshape(({g // h}, {h}))"
    matrix = f".reshape(({h}, {g}))" if lstm else f".reshape(({h}, {g // h}, {h}))"
    lines = [f"    w0 = W[0:{g}]{vector}"]
    for layer in range(shape.layers):
        wb, rb, rt = o["w_bias"] + layer * g, o["r_bias"] + layer * g, o["r_t"] + layer * h * g
        lines += [
            f"    wb{layer} = W[{wb}:{wb + g}]{vector}",
            f"    rb{layer} = W[{rb}:{rb + g}]{vector}",
            f"    rt{layer} = W[{rt}:{rt + h * g}]{matrix}",
        ]
        if layer > 0:
            wu = o["w_up"] + (layer - 1) * h * g
            lines.append(f"    wu{layer} = W[{wu}:{wu + h * g}]{matrix}")
    if lstm:
        lines += [
            f"    acc = scratch[TILE : TILE + {g}]",
            *(f"    a{label} = scratch[TILE + {i * h} : TILE + {(i + 1) * h}]" for i, label in enumerate("iofc")),
            # trip counts read from the arrays: a literal short loop is unrolled before LLVM's
            # vectorizer sees it, and the unrolled code stays scalar
            "    ng = acc.shape[0]",
            "    nh = ai.shape[0]",
        ]
    lines.append(f"    out_w = W[{o['out_w']}:{o['out_w'] + h}]")
    lines.append(f"    out_b = W[{o['out_b']}]")
    return lines


def recurrent_source(shape: RecurrentShape, name: str = "kernel") -> str:
    """Python source of ``name(x, y, weights, state, scratch, table, skip)`` for ``shape``
    (the generic kernels' signature and arrays; see :mod:`.recurrent`)."""
    h, layers = shape.hidden, shape.layers
    lstm = shape.cell == "lstm"
    rows = 2 if lstm else 1  # state rows per layer: h (and c)
    lines = [
        f"# generated by distortion_bench.kernels.codegen_recurrent v{GENERATOR_VERSION}: "
        f"{shape.cell.upper()}, hidden {h}, layers {layers}",
        "import numba",
        "import numpy as np",
        "from distortion_bench.kernels.activations import sigmoid32, tanh32, tanh_times_sigmoid32",
        "from distortion_bench.kernels.recurrent import TILE, input_tile",
        "",
        "_ONE = np.float32(1.0)",
        "",
        "",
        "@numba.njit(",
        f"    {_SIGNATURE!r},",
        '    cache=True, nogil=True, error_model="numpy", fastmath={"contract"},',
        ")",
        f"def {name}(x, y, W, state, scratch, table, skip):  # pragma: no cover - compiled",
        "    u = scratch[0:TILE]",
        *_views(shape),
    ]
    for layer in range(layers):
        lines.append(f"    hs{layer} = state[{rows * layer}]")
        if lstm:
            lines.append(f"    cs{layer} = state[{rows * layer + 1}]")
    lines += [
        "    n = x.shape[0]",
        "    for start in range(0, n, TILE):",
        "        m = min(TILE, n - start)",
        "        input_tile(x[start : start + m], m, table, u)",
        "        for t in range(m):",
        "            xt = u[t]",
    ]
    ind = " " * 12
    for layer in range(layers):
        # the layer's previous hidden state as scalars, and (above layer 0) the new state below
        lines += [f"{ind}h_{j} = hs{layer}[{j}]" for j in range(h)]
        inputs = [f"b_{j}" for j in range(h)]
        if layer > 0:
            lines += [f"{ind}b_{j} = hs{layer - 1}[{j}]" for j in range(h)]
        body = ind + "    "
        if lstm:  # ONNX gate order i, o, f, c: every gate sum, then the cell state, then the hidden state
            terms = [f"rt{layer}[{j}, g] * h_{j}" for j in range(h)]
            if layer == 0:
                first = "(wb0[g] + rb0[g]) + w0[g] * xt"
            else:
                terms = [f"wu{layer}[{j}, g] * {inputs[j]}" for j in range(h)] + terms
                first = f"wb{layer}[g] + rb{layer}[g]"
            lines += [
                f"{ind}for g in range(ng):  # the 4H gate sums",
                f"{body}acc[g] = {interleaved_sum(terms, first)}",
                f"{ind}for k in range(nh):  # the new cell state",
                f"{body}cs{layer}[k] = sigmoid32(af[k]) * cs{layer}[k] + tanh_times_sigmoid32(ac[k], ai[k])",
                f"{ind}for k in range(nh):  # the new hidden state",
                f"{body}hs{layer}[k] = tanh_times_sigmoid32(cs{layer}[k], ao[k])",
            ]
        else:  # gate order z, r, n; the recurrent part of n inside r * (...) (linear_before_reset)
            lines.append(f"{ind}for k in range({h}):")
            for g, label in enumerate(("z", "r", "n")):
                lines.append(f"{body}a{label} = {_gate(shape, layer, g, inputs, False)}")
                lines.append(f"{body}r{label} = {_gate(shape, layer, g, inputs, True)}")
            lines += [
                f"{body}z = sigmoid32(az + rz)",
                f"{body}r = sigmoid32(ar + rr)",
                f"{body}nk = tanh32(an + r * rn)",
                f"{body}hs{layer}[k] = (_ONE - z) * nk + z * hs{layer}[k]",
            ]
    top = layers - 1
    out = interleaved_sum([f"out_w[{j}] * hs{top}[{j}]" for j in range(h)])
    lines += [
        f"{ind}yt = out_b + ({out})",
        f"{ind}y[start + t] = yt + xt if skip else yt",
        "",
    ]
    return "\n".join(lines)
