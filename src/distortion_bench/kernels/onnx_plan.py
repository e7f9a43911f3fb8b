"""Read an exported network's weights and structure from its ONNX file, for the Numba kernels.

The ONNX file is the one source of truth: the kernels get every number (weights, biases, the
shaper's table and cell edges, dilations, kernel sizes) from its initializers, node attributes
and metadata (:mod:`distortion_bench.onnx_contract`), never from a checkpoint or the config.
The reader understands the graphs this project's exporter writes, per ``model_type``:

- ``lstm`` / ``gru``: one ``LSTM``/``GRU`` node per layer (forward, default activations; GRU
  with ``linear_before_reset=1`` as PyTorch exports it; layer 0 takes the audio, each further
  layer the hidden state below), then ``MatMul`` + ``Add`` (the output layer), plus the input
  when the model has its skip connection;
- ``shaper``: the same core fed by the piecewise-linear table (two ``Gather`` of 1-D
  initializers: values and slopes, and the cell edges as a constant);
- ``tcn``: ``Conv`` 1x1 in, per block a dilated ``Conv`` (2C outputs) split into tanh x sigmoid
  and a 1x1 ``Conv`` mix with the residual, the skip sum, ``Conv`` 1x1 out, plus the input
  when the model has its skip connection;
- the knob-conditioned ``lstm_knobs`` / ``gru_knobs``: layer 0 reads the audio concatenated
  with the knobs mapped onto [-1, 1] (its ``W`` has ``1 + K`` columns, audio first), and
  ``tcn_knobs``: two 1x1 ``Conv`` of the mapped knobs (the FiLM MLP, the only convolutions the
  audio does not reach) give each block's per-channel scale ``1 + gamma`` and shift ``beta``.
  The knob map itself (range, log scale) is read from the metadata, not the graph: with one
  setting per call everything that depends only on the knobs folds into the weights when a knob
  changes (:mod:`distortion_bench.kernels.knob_folding`), so the kernels run unchanged;
- ``shaper_knobs``: a ``shaper`` whose table is one of a bank (values and slopes of every table
  end to end, one ``Gather`` at ``table * cells + cell``, the table chosen by an integer knob),
  in front of an ``lstm_knobs`` / ``gru_knobs`` core that reads the table's output where the
  others read the audio; the kernel takes the chosen table when that knob changes.

Anything else (an op outside the model type's set, mixed LSTM and GRU nodes, shapes that do
not match the metadata) is refused with :class:`~distortion_bench.onnx_contract.OnnxModelError`
naming the file and what was expected. The processor also checks the kernel against ONNX
Runtime on noise when it is built, so a graph wired differently with the same ops cannot pass.

Weight layouts (float32, C-contiguous, what the kernels index):

- recurrent, ``G`` = 4H (LSTM, ONNX gate order i, o, f, c) or 3H (GRU: z, r, n), L layers:
  ``[w0 (G: layer 0's input weights) | w_up ((L-1) x H x G: each further layer's input weights,
  transposed: row j = what h[j] of the layer below adds to each gate) | w_bias (L x G) |
  r_bias (L x G) | r_t (L x H x G, R transposed likewise) | out_w (H) | out_b (1)]``;
- TCN: the arrays as the file has them (:class:`TcnPlan`); :func:`distortion_bench.kernels.tcn.pack`
  lays them out for the kernel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from distortion_bench.onnx_contract import (
    AUDIO_IN,
    AUDIO_OUT,
    KNOBS_IN,
    OnnxContract,
    OnnxModelError,
    read_onnx_contract,
)

#: ops each model type's graph may contain
ALLOWED_OPS = {
    "lstm": {"Transpose", "LSTM", "Constant", "Squeeze", "MatMul", "Add", "Slice", "Concat"},
    "gru": {"Transpose", "GRU", "Constant", "Squeeze", "MatMul", "Add", "Slice", "Concat"},
    "shaper": {
        "Transpose",
        "LSTM",
        "GRU",
        "Constant",
        "Squeeze",
        "MatMul",
        "Add",
        "Slice",
        "Concat",
        "Clip",
        "Div",
        "Floor",
        "Cast",
        "Gather",
        "Sub",
        "Mul",
    },
    "tcn": {"Conv", "Concat", "Split", "Tanh", "Sigmoid", "Mul", "Add", "Slice", "Constant"},
}
#: what a conditioned graph adds: the knob map onto [-1, 1], the knobs broadcast over time, shapes
KNOB_OPS = {"Clip", "Log", "Where", "Sub", "Div", "Mul", "Unsqueeze", "Shape", "Gather", "ConstantOfShape"}
KNOB_OPS_RECURRENT = KNOB_OPS | {"Reshape", "Equal", "Expand", "Conv", "Tanh"}
ALLOWED_OPS["lstm_knobs"] = ALLOWED_OPS["lstm"] | KNOB_OPS_RECURRENT
ALLOWED_OPS["gru_knobs"] = ALLOWED_OPS["gru"] | KNOB_OPS_RECURRENT
ALLOWED_OPS["tcn_knobs"] = ALLOWED_OPS["tcn"] | KNOB_OPS
ALLOWED_OPS["shaper_knobs"] = ALLOWED_OPS["shaper"] | KNOB_OPS_RECURRENT
GATES = {"LSTM": 4, "GRU": 3}


@dataclass(frozen=True)
class RecurrentPlan:
    """An LSTM/GRU network (optionally behind a waveshaper table), ready for the kernel.

    Attributes:
        cell: ``"lstm"`` or ``"gru"``.
        hidden: hidden units H.
        layers: stacked recurrent layers.
        weights: the flat recurrent layout of the module docstring.
        skip: whether the core's input is added to its output.
        table: ``(3, cells)`` rows edge, value, slope of the shaper's table; ``(3, 0)`` if none.
        knob_w: ``(K, G)``: what knob ``k`` (mapped onto [-1, 1]) adds to each gate of layer 0;
            ``(0, G)`` for a fixed-setting model.
        knobs: the metadata's knob space (``{name: {min, max, scale, unit}}``), or None.
        film: a conditioned model's input FiLM MLP ``(w1 (F, K), b1 (F,), w2 (2, F), b2 (2,))``
            (rows of ``w2``: the audio's gamma, then its beta); ``()``.
        tables: a ``shaper_knobs`` model's bank, ``(T, 3, cells)`` (each like :attr:`table`; table
            ``t`` for the keyed knob at its minimum + ``t``), or None; :attr:`table` is then the
            bank's first.
        table_knob: the knob (index into :attr:`knobs`' order) that chooses the table; -1 if none.
    """

    path: Path
    model_type: str
    cell: str
    hidden: int
    layers: int
    weights: np.ndarray
    skip: bool
    table: np.ndarray
    knob_w: np.ndarray | None = None
    knobs: dict[str, dict[str, Any]] | None = None
    film: tuple[np.ndarray, ...] = ()
    tables: np.ndarray | None = None
    table_knob: int = -1

    @property
    def bias0_offset(self) -> int:
        """Where layer 0's input bias starts in :attr:`weights` (what the knobs fold into)."""
        return self.gates + (self.layers - 1) * self.hidden * self.gates

    @property
    def state_rows(self) -> int:
        """Rows of the kernel's state array: LSTM h and c per layer, GRU h per layer."""
        return (2 if self.cell == "lstm" else 1) * self.layers

    @property
    def gates(self) -> int:
        return GATES[self.cell.upper()] * self.hidden

    @property
    def macs_per_sample(self) -> int:
        """Multiply-adds per sample: input and recurrent projections, output layer, table."""
        g = self.gates
        inputs = g + (self.layers - 1) * g * self.hidden
        return inputs + self.layers * g * self.hidden + self.hidden + (1 if self.table.shape[1] else 0)

    @property
    def activations_per_sample(self) -> int:
        """tanh/sigmoid evaluations per sample (LSTM: 3 sigmoid + 2 tanh per unit; GRU: 2 + 1)."""
        return (5 if self.cell == "lstm" else 3) * self.hidden * self.layers


@dataclass(frozen=True)
class TcnPlan:
    """A streaming TCN as the file stores it (the kernel packs it: :func:`..tcn.pack`).

    Attributes:
        channels: C.
        blocks: ``(kernel_size, dilation)`` per block; block ``i`` carries
            ``(kernel_size - 1) * dilation`` samples of its input as state.
        in_w, in_b: input 1x1 conv, ``(C,)`` each.
        conv_w, conv_b: per block the dilated conv, ``(2C, C, k)`` and ``(2C,)`` (tanh half first).
        mix_w, mix_b: per block but the last the 1x1 mix, ``(C, C)`` and ``(C,)``.
        out_w, out_b: output 1x1 conv, ``(C,)`` and ``(1,)``.
        skip: whether the input is added to the output conv's result.
        film: the FiLM MLP of a ``tcn_knobs`` model, ``(w1 (F, K), b1 (F,), w2 (2 C (B + 1), F),
            b2 (2 C (B + 1),))`` (rows of ``w2``: the gammas of the input projection and of the B
            blocks, then their betas, C each); ``()``.
        knobs: the metadata's knob space, or None.
    """

    path: Path
    model_type: str
    channels: int
    blocks: tuple[tuple[int, int], ...]
    in_w: np.ndarray
    in_b: np.ndarray
    conv_w: tuple[np.ndarray, ...]
    conv_b: tuple[np.ndarray, ...]
    mix_w: tuple[np.ndarray, ...]
    mix_b: tuple[np.ndarray, ...]
    out_w: np.ndarray
    out_b: np.ndarray
    skip: bool = False
    film: tuple[np.ndarray, ...] = ()
    knobs: dict[str, dict[str, Any]] | None = None

    @property
    def contexts(self) -> list[int]:
        return [(k - 1) * d for k, d in self.blocks]

    @property
    def parameters(self) -> int:
        arrays = [self.in_w, self.in_b, *self.conv_w, *self.conv_b, *self.mix_w, *self.mix_b, self.out_w, self.out_b]
        arrays += list(self.film)
        return int(sum(a.size for a in arrays))

    @property
    def macs_per_sample(self) -> int:
        c = self.channels
        return 2 * c + sum(2 * c * c * k for k, _ in self.blocks) + (len(self.blocks) - 1) * c * c

    @property
    def activations_per_sample(self) -> int:
        return 2 * self.channels * len(self.blocks)


class _Graph:
    """Index of one ONNX graph: initializers, constants, producers and consumers of values."""

    def __init__(self, path: Path, proto: onnx.ModelProto) -> None:
        self.path = path
        g = proto.graph
        self.inputs = list(g.input)
        self.nodes = list(g.node)
        self.init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.const: dict[str, np.ndarray] = {}
        for n in self.nodes:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.const[n.output[0]] = numpy_helper.to_array(a.t)
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list[Any]] = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def fail(self, what: str) -> OnnxModelError:
        return OnnxModelError(f"{self.path}: {what}")

    def of_type(self, op: str) -> list[Any]:
        return [n for n in self.nodes if n.op_type == op]

    def tensor(self, name: str, shape: Sequence[int], role: str) -> np.ndarray:
        """The initializer or constant ``name``, checked to have ``shape``."""
        value = self.init.get(name, self.const.get(name))
        if value is None:
            raise self.fail(f"{role} ({name!r}) is not a constant of the graph; expected weights stored in the file")
        if tuple(value.shape) != tuple(shape):
            raise self.fail(f"{role} ({name!r}) has shape {list(value.shape)}, expected {list(shape)}")
        return np.ascontiguousarray(value, dtype=np.float32)

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def read_plan(path: str | os.PathLike[str]) -> RecurrentPlan | TcnPlan:
    """The kernel plan of an exported file, or :class:`OnnxModelError` saying what is wrong."""
    contract = read_onnx_contract(path)
    graph = _Graph(contract.path, onnx.load(str(contract.path)))
    model_type = contract.metadata.get("model_type")
    if model_type not in ALLOWED_OPS:
        raise graph.fail(
            f"metadata model_type {model_type!r} has no Numba kernel; expected one of {sorted(ALLOWED_OPS)}"
        )
    unknown = sorted({n.op_type for n in graph.nodes} - ALLOWED_OPS[model_type])
    if unknown:
        raise graph.fail(
            f"ops {unknown} are not part of a {model_type!r} graph as this project exports it "
            f"(expected only {sorted(ALLOWED_OPS[model_type])})"
        )
    if (KNOBS_IN in [i.name for i in graph.inputs]) != model_type.endswith("_knobs"):
        raise graph.fail(f"model_type {model_type!r} and the graph's inputs disagree on taking 'knobs'")
    if model_type.startswith("tcn"):
        return _tcn_plan(graph, contract)
    return _recurrent_plan(graph, contract, model_type)


def _recurrent_plan(graph: _Graph, contract: OnnxContract, model_type: str) -> RecurrentPlan:
    cells = [n for n in graph.nodes if n.op_type in GATES]  # graph order = layer order
    if not cells or len({n.op_type for n in cells}) != 1:
        raise graph.fail(
            f"expected one or more LSTM nodes or one or more GRU nodes (one per layer), found "
            f"{[n.op_type for n in cells]}"
        )
    op = cells[0].op_type
    cell = op.lower()
    knobs = len(contract.knobs or {})
    shaper = model_type in ("shaper", "shaper_knobs")
    if not shaper and cell != model_type.removesuffix("_knobs"):
        raise graph.fail(f"metadata model_type {model_type!r} but the graph has {op} nodes")
    layers = len(cells)
    hidden = int(graph.attrs(cells[0]).get("hidden_size", 0))
    shapes = contract.state_shapes
    expected_states = [(layers, 1, hidden)] * (2 if cell == "lstm" else 1)
    if [tuple(s) for s in shapes] != expected_states:
        raise graph.fail(
            f"state shapes {shapes} do not fit {layers} {op} layer(s) of hidden_size {hidden} "
            f"(expected {[list(s) for s in expected_states]})"
        )
    g = GATES[op] * hidden
    w_rows, w_bias, r_bias, r_rows = [], [], [], []
    for layer, node in enumerate(cells):
        attrs = graph.attrs(node)
        bad = {k: v for k, v in attrs.items() if k not in ("hidden_size", "linear_before_reset", "direction")}
        if bad or attrs.get("direction", b"forward") not in (b"forward", "forward"):
            raise graph.fail(
                f"{op} attributes {sorted(attrs)} are not the default forward cell "
                "(custom activations, clip or direction are not supported)"
            )
        if int(attrs.get("hidden_size", 0)) != hidden:
            raise graph.fail(f"{op} layer {layer} has hidden_size {attrs.get('hidden_size')}, layer 0 {hidden}")
        if cell == "gru" and attrs.get("linear_before_reset", 0) != 1:
            raise graph.fail("GRU with linear_before_reset=0; expected 1 (PyTorch's GRU)")
        if cell == "lstm" and len(node.input) > 7 and node.input[7]:
            raise graph.fail("LSTM with peephole weights; expected none (PyTorch's LSTM)")
        inputs = 1 + knobs if layer == 0 else hidden
        w = graph.tensor(node.input[1], (1, g, inputs), f"{op} layer {layer} input weights W")
        r = graph.tensor(node.input[2], (1, g, hidden), f"{op} layer {layer} recurrent weights R")
        b = (
            graph.tensor(node.input[3], (1, 2 * g), f"{op} layer {layer} biases B")
            if len(node.input) > 3 and node.input[3]
            else np.zeros((1, 2 * g), np.float32)
        )
        # transposed: row j = what input j (or h[j]) adds to each of the G gates; layer 0's
        # knob columns (after the audio's) are kept apart: they fold into its bias per setting
        w_t = np.ascontiguousarray(w.reshape(g, inputs).T)
        if layer == 0:
            w_t, knob_w = w_t[:1], np.ascontiguousarray(w_t[1:])
        w_rows.append(w_t.reshape(-1))
        w_bias.append(b.reshape(2 * g)[:g])
        r_bias.append(b.reshape(2 * g)[g:])
        r_rows.append(np.ascontiguousarray(r.reshape(g, hidden).T).reshape(-1))
    matmuls = [n for n in graph.of_type("MatMul") if n.input[1] in graph.init]
    if len(matmuls) != 1:
        raise graph.fail(f"expected one MatMul with stored weights (the output layer), found {len(matmuls)}")
    out_w = graph.tensor(matmuls[0].input[1], (hidden, 1), "output layer weights")
    adds = [n for n in graph.consumers.get(matmuls[0].output[0], []) if n.op_type == "Add"]
    bias_names = [i for n in adds for i in n.input if i in graph.init]
    if len(bias_names) != 1:
        raise graph.fail("expected the output layer's MatMul to be followed by an Add of a stored bias")
    out_b = graph.tensor(bias_names[0], (1,), "output layer bias")
    # the core's input: the value transposed into the first recurrent node ('audio', or the table's output)
    feed = graph.producer.get(cells[0].input[0])
    core_input = feed.input[0] if feed is not None and feed.op_type == "Transpose" else cells[0].input[0]
    table = _table(graph, core_input) if model_type == "shaper" else np.zeros((3, 0), np.float32)
    film: tuple[np.ndarray, ...] = ()
    tables, table_knob = None, -1
    if knobs:  # the audio (scaled and shifted by the input FiLM), then the knobs, concatenated
        concat = graph.producer.get(core_input)
        shifted = graph.producer.get(concat.input[0]) if concat is not None and concat.op_type == "Concat" else None
        scaled = [graph.producer.get(i) for i in shifted.input] if shifted is not None else []
        # what the FiLM scales: the audio, or (shaper_knobs) the table's output, computed from it
        audio_path = _reached_from(graph, [AUDIO_IN])
        fed = [i for n in scaled if n is not None and n.op_type == "Mul" for i in n.input if i in audio_path]
        wanted = "the table's output" if shaper else "'audio'"
        if (
            shifted is None
            or shifted.op_type != "Add"
            or len(fed) != 1
            or (not shaper and fed[0] != AUDIO_IN)
            or (shaper and fed[0] == AUDIO_IN)
        ):
            raise graph.fail(
                f"the first {op} node does not read {wanted} (scaled and shifted by the knobs' FiLM) concatenated "
                "with the knobs, audio first"
            )
        film = _film(graph, graph.of_type("Conv"), knobs, 2)
        core_input = fed[0]
        if shaper:
            tables = _table(graph, core_input, audio_path)
            table = tables[0]
            specs = list((contract.knobs or {}).values())
            keyed = [i for i, k in enumerate(specs) if k.get("scale") == "integer"]
            values = int(round(float(specs[keyed[0]]["max"]) - float(specs[keyed[0]]["min"]))) + 1 if keyed else 0
            if values != tables.shape[0]:
                raise graph.fail(
                    f"a bank of {tables.shape[0]} tables, expected one per value of the first integer knob of "
                    f"{list(contract.knobs or {})}"
                )
            table_knob = keyed[0]
    elif model_type != "shaper" and core_input != AUDIO_IN:
        raise graph.fail(f"the first {op} node is not fed by the input 'audio' (fed by {core_input!r})")
    last = graph.producer.get(AUDIO_OUT)
    skip = last is not None and last.op_type == "Add" and core_input in last.input
    weights = np.concatenate([*w_rows, *w_bias, *r_bias, *r_rows, out_w.reshape(hidden), out_b.reshape(1)]).astype(
        np.float32
    )
    return RecurrentPlan(
        contract.path,
        model_type,
        cell,
        hidden,
        layers,
        np.ascontiguousarray(weights),
        skip,
        table,
        knob_w,
        contract.knobs,
        film,
        tables,
        table_knob,
    )


def _table(graph: _Graph, table_out: str, audio_path: set[str] | None = None) -> np.ndarray:
    """``(3, cells)``: edges, values, slopes of the shaper's table (graph :class:`PiecewiseLinearTable`);
    with ``audio_path`` (the values computed from the audio, in a conditioned graph), the bank
    ``(T, 3, cells)`` of a ``shaper_knobs`` model (its values and slopes ``(T * cells,)``)."""
    gathers = [n for n in graph.of_type("Gather") if n.input[0] in graph.init or n.input[0] in graph.const]
    tables = {n.output[0]: n for n in gathers}
    value = slope = edge = None
    for out, n in tables.items():
        users = {u.op_type for u in graph.consumers.get(out, [])}
        if n.input[0] in graph.const:
            edge = n.input[0]
        elif "Mul" in users:
            slope = n.input[0]
        elif "Add" in users:
            value = n.input[0]
    if None in (value, slope, edge) or table_out not in graph.producer:
        raise graph.fail(
            "expected the shaper's table: Gather of the cell edges (constant), values and slopes "
            "(stored), feeding Sub, Mul and Add"
        )
    stored = int(graph.init[value].shape[0])
    cells = int(graph.const[edge].shape[0]) if audio_path is not None else stored
    count = stored // cells
    if count * cells != stored:
        raise graph.fail(f"table values ({stored}) are not a whole number of tables of {cells} cells")
    edges = graph.tensor(edge, (cells,), "table cell edges")
    values = graph.tensor(value, (stored,), "table values").reshape(count, cells)
    slopes = graph.tensor(slope, (stored,), "table slopes").reshape(count, cells)
    width = np.float32(2.0 / cells)
    expected = np.float32(-1.0) + width * np.arange(cells, dtype=np.float32)
    if not np.array_equal(edges, expected):
        raise graph.fail(f"table cell edges are not {cells} uniform cells over [-1, 1]")
    on_audio = [n for n in graph.of_type("Div") if audio_path is None or n.input[0] in audio_path]
    divs = [graph.const.get(n.input[1]) for n in on_audio]
    if len(divs) != 1 or divs[0] is None or np.float32(divs[0]) != width:
        raise graph.fail(f"expected one Div by the cell width {float(width)} (the table's index computation)")
    bank = np.stack([np.stack([edges, values[t], slopes[t]]) for t in range(count)])
    return np.ascontiguousarray(bank if audio_path is not None else bank[0], dtype=np.float32)


def _reached_from(graph: _Graph, sources: Sequence[str]) -> set[str]:
    """Every value computed from any of ``sources`` (graph inputs)."""
    seen, todo = set(sources), list(sources)
    while todo:
        for node in graph.consumers.get(todo.pop(), []):
            for out in node.output:
                if out not in seen:
                    seen.add(out)
                    todo.append(out)
    return seen


def _film(graph: _Graph, convs: list[Any], knobs: int, outputs: int) -> tuple[np.ndarray, ...]:
    """The FiLM MLP ``(w1, b1, w2, b2)`` from its two 1x1 convolutions (graph order)."""
    if len(convs) != 2:
        raise graph.fail(f"expected the FiLM MLP as two Conv nodes of the knobs, found {len(convs)}")
    first = graph.init.get(convs[0].input[1])
    hidden = int(first.shape[0]) if first is not None else 0
    w1 = graph.tensor(convs[0].input[1], (hidden, knobs, 1), "FiLM layer 1 weights").reshape(hidden, knobs)
    b1 = graph.tensor(convs[0].input[2], (hidden,), "FiLM layer 1 bias")
    w2 = graph.tensor(convs[1].input[1], (outputs, hidden, 1), "FiLM layer 2 weights").reshape(outputs, hidden)
    b2 = graph.tensor(convs[1].input[2], (outputs,), "FiLM layer 2 bias")
    between = {n.op_type for n in graph.consumers.get(convs[0].output[0], [])}
    if between != {"Tanh"}:
        raise graph.fail(f"expected tanh between the FiLM MLP's two layers, found {sorted(between)}")
    return w1, b1, np.ascontiguousarray(w2), b2


def _tcn_plan(graph: _Graph, contract: OnnxContract) -> TcnPlan:
    blocks = len(contract.state_shapes)
    knobs = len(contract.knobs or {})
    # the audio's path (from 'audio' and the caches) and, in a conditioned graph, the FiLM MLP's
    audio_path = _reached_from(graph, [AUDIO_IN, *contract.state_names])
    convs = [n for n in graph.of_type("Conv") if n.input[0] in audio_path]
    film_convs = [n for n in graph.of_type("Conv") if n.input[0] not in audio_path]
    if film_convs and not knobs:
        raise graph.fail(f"{len(film_convs)} Conv node(s) do not read the audio, in a model without knobs")
    # in, (dilated conv, 1x1 mix) per block, out; the last block's mix feeds nothing (only its
    # gated output reaches the skip sum), so the exporter's graph leaves it out
    if len(convs) != 2 * blocks + 1:
        raise graph.fail(
            f"expected {2 * blocks + 1} Conv nodes (in, conv + mix per block of the {blocks} state "
            f"caches but the last block's mix, out), found {len(convs)}"
        )
    for n in convs:
        a = graph.attrs(n)
        if a.get("group", 1) != 1 or any(v != 1 for v in a.get("strides", [1])) or any(a.get("pads", [0, 0])):
            raise graph.fail(f"Conv {n.name or n.output[0]!r}: expected group 1, stride 1, no padding; got {a}")
    if convs[0].input[0] != AUDIO_IN:
        raise graph.fail("the first Conv does not read the input 'audio'")
    first = graph.init.get(convs[0].input[1])
    channels = int(first.shape[0]) if first is not None else 0
    in_w = graph.tensor(convs[0].input[1], (channels, 1, 1), "input conv weights").reshape(channels)
    in_b = graph.tensor(convs[0].input[2], (channels,), "input conv bias")
    conv_w, conv_b, mix_w, mix_b, plan_blocks = [], [], [], [], []
    for i in range(blocks):
        conv = convs[1 + 2 * i]
        w = graph.init.get(conv.input[1])
        if w is None or w.ndim != 3:
            raise graph.fail(f"block {i}: dilated Conv weights are not stored (2C, C, k) weights")
        k = int(w.shape[2])
        dilation = int(graph.attrs(conv).get("dilations", [1])[0])
        shape = tuple(contract.state_shapes[i])
        if shape != (1, channels, (k - 1) * dilation):
            raise graph.fail(
                f"block {i}: state cache{i} shape {list(shape)} does not fit kernel {k}, dilation "
                f"{dilation}, {channels} channels (expected [1, {channels}, {(k - 1) * dilation}])"
            )
        conv_w.append(graph.tensor(conv.input[1], (2 * channels, channels, k), f"block {i} conv weights"))
        conv_b.append(graph.tensor(conv.input[2], (2 * channels,), f"block {i} conv bias"))
        if i + 1 < blocks:
            mix = convs[2 + 2 * i]
            mix_w.append(
                graph.tensor(mix.input[1], (channels, channels, 1), f"block {i} mix weights").reshape(
                    channels, channels
                )
            )
            mix_b.append(graph.tensor(mix.input[2], (channels,), f"block {i} mix bias"))
        plan_blocks.append((k, dilation))
    out_w = graph.tensor(convs[-1].input[1], (1, channels, 1), "output conv weights").reshape(channels)
    out_b = graph.tensor(convs[-1].input[2], (1,), "output conv bias")
    film = _film(graph, film_convs, knobs, 2 * channels * (blocks + 1)) if knobs else ()
    # a fixed-setting graph splits each gate's 2C channels with Split; a conditioned one with
    # Slices (the FiLM's Splits cut its gammas and betas): the build-time check covers its wiring
    splits = [] if knobs else graph.of_type("Split")
    for s in splits:
        first_half = {u.op_type for u in graph.consumers.get(s.output[0], [])}
        second = {u.op_type for u in graph.consumers.get(s.output[1], [])} if len(s.output) > 1 else set()
        if first_half != {"Tanh"} or second != {"Sigmoid"}:
            raise graph.fail("expected each gate Split to feed tanh (first half) and sigmoid (second half)")
    if not knobs and len(splits) != blocks:
        raise graph.fail(f"expected {blocks} gate Splits, found {len(splits)}")
    # the skip: the output conv's result plus the input, in the node that writes the output
    last = graph.producer.get(AUDIO_OUT)
    skip = last is not None and last.op_type == "Add" and AUDIO_IN in last.input and convs[-1].output[0] in last.input
    return TcnPlan(
        contract.path,
        str(contract.metadata.get("model_type")),
        channels,
        tuple(plan_blocks),
        in_w,
        in_b,
        tuple(conv_w),
        tuple(conv_b),
        tuple(mix_w),
        tuple(mix_b),
        out_w,
        out_b,
        skip,
        film,
        contract.knobs,
    )
