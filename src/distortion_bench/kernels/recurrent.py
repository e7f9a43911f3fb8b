"""LSTM and GRU networks (optionally behind the shaper's table) as Numba kernels, float32.

Shapes and units: ``x``, ``y`` ``(time,)`` float32 samples; ``state`` ``(rows, H)`` (LSTM: rows
``2l``, ``2l + 1`` = h, c of layer ``l``; GRU: row ``l`` = h of layer ``l``); ``weights`` the flat
recurrent layout of :mod:`.onnx_plan`; ``table`` ``(3, cells)`` edges, values, slopes
(``(3, 0)``: no table); ``scratch`` ``(scratch_size(G, H),)``.

Layout for speed (an LSTM-24 is 4 gates x 24 x (24 + 1) + 24 ~ 2,400 multiply-adds per sample):

- the recurrent matrix is stored transposed (row ``j`` = what ``h[j]`` adds to each of the G
  gates), so the recurrence is a sum of scaled rows, contiguous over the gates: an element-wise
  loop LLVM vectorizes without reassociating anything (every gate's sum is taken in the same
  order whatever the SIMD width), four rows per pass so the accumulator goes through memory a
  quarter as often;
- gate activations by :mod:`.activations` (plain arithmetic: vectorized over the units; the
  LSTM's ``i * g`` and ``o * tanh(c)`` as gated products, one division each);
- the table over a whole tile of ``TILE`` samples before the recurrence (vectorized over time);
  the output layer per sample as four interleaved partial sums (storing each step's hidden state
  for a tile-wide output pass was tried: the strided store kept the activation loop scalar and
  cost 2.5x).

Every output sample is computed by the same operations in the same order whatever the buffer
cuts, so chunked processing equals whole-signal processing bit for bit. No fastmath except
``contract`` (multiply-adds fused into FMA instructions, identically in vector and scalar code).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from distortion_bench.kernels.activations import sigmoid32, tanh32, tanh_times_sigmoid32

#: samples per pass of the table (its outputs stay in L1)
TILE = 256
_FLAGS = {"contract"}
_SIG = "void(float32[::1], float32[::1], float32[::1], float32[:, ::1], float32[::1], float32[:, ::1], boolean)"
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)


def scratch_size(gates: int, hidden: int) -> int:
    """float32 elements of scratch a kernel needs: two gate accumulators, input tile."""
    return 2 * gates + TILE


@numba.njit(inline="always", error_model="numpy", fastmath=_FLAGS)
def input_tile(xs, m, table, u):  # pragma: no cover - compiled
    """``u[:m]`` = the core's input for the tile ``xs``: the table's output, or ``xs`` itself."""
    cells = table.shape[1]
    if cells == 0:
        for t in range(m):
            u[t] = xs[t]
        return
    width = _TWO / np.float32(cells)
    for t in range(m):
        xv = xs[t]
        xc = max(min(xv, _ONE), -_ONE)
        idx = min(max(int(math.floor((xc + _ONE) / width)), 0), cells - 1)
        u[t] = table[1, idx] + table[2, idx] * (xc - table[0, idx]) + (xv - xc)


@numba.njit(inline="always", error_model="numpy", fastmath=_FLAGS)
def _output(h, out_w, out_b, quads, hidden):  # pragma: no cover - compiled
    """``out_b + sum_j out_w[j] h[j]`` as four interleaved partial sums (a short dependency
    chain; the order is fixed, so every sample is summed alike whatever the buffer cuts)."""
    s0 = np.float32(0.0)
    s1 = np.float32(0.0)
    s2 = np.float32(0.0)
    s3 = np.float32(0.0)
    for jq in range(quads):
        j = 4 * jq
        s0 += out_w[j] * h[j]
        s1 += out_w[j + 1] * h[j + 1]
        s2 += out_w[j + 2] * h[j + 2]
        s3 += out_w[j + 3] * h[j + 3]
    for j in range(4 * quads, hidden):
        s0 += out_w[j] * h[j]
    return out_b + ((s0 + s1) + (s2 + s3))


@numba.njit(inline="always", error_model="numpy", fastmath=_FLAGS)
def _add_rows(acc, v, mat, quads, rows):  # pragma: no cover - compiled
    """``acc[g] += sum_j v[j] * mat[j, g]``: scaled rows of ``mat`` ``(rows, G)``, four per pass
    (contiguous over the gates: vectorized, and a quarter of the accumulator round trips)."""
    gates = acc.shape[0]
    for jq in range(quads):
        j = 4 * jq
        v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
        for g in range(gates):
            acc[g] += v0 * mat[j, g] + v1 * mat[j + 1, g] + v2 * mat[j + 2, g] + v3 * mat[j + 3, g]
    for j in range(4 * quads, rows):
        vj = v[j]
        for g in range(gates):
            acc[g] += vj * mat[j, g]


@numba.njit(inline="always", error_model="numpy", fastmath=_FLAGS)
def _views(weights, layers, hidden, gates):  # pragma: no cover - compiled
    """The flat recurrent layout (see :mod:`.onnx_plan`) as arrays, made once per call."""
    w0 = weights[0:gates]
    up = max(layers - 1, 1)  # a (1, H, G) placeholder when there is no further layer
    a = gates
    w_up = weights[a : a + up * hidden * gates].reshape((up, hidden, gates))
    a += (layers - 1) * hidden * gates
    w_bias = weights[a : a + layers * gates].reshape((layers, gates))
    a += layers * gates
    r_bias = weights[a : a + layers * gates].reshape((layers, gates))
    a += layers * gates
    r_t = weights[a : a + layers * hidden * gates].reshape((layers, hidden, gates))
    a += layers * hidden * gates
    return w0, w_up, w_bias, r_bias, r_t, weights[a : a + hidden], weights[a + hidden]


@numba.njit(_SIG, cache=True, nogil=True, error_model="numpy", fastmath=_FLAGS)
def lstm_kernel(x, y, weights, state, scratch, table, skip):  # pragma: no cover - compiled
    """One buffer through stacked LSTM layers (ONNX gate order i, o, f, c); updates ``state``."""
    hidden = state.shape[1]
    layers = state.shape[0] // 2
    gates = 4 * hidden
    # views made once per call: inside the loops every index is an induction variable, so LLVM
    # sees contiguous, non-negative accesses and vectorizes them
    w0, w_up, w_bias, r_bias, r_t, out_w, out_b = _views(weights, layers, hidden, gates)
    acc = scratch[0:gates]
    u = scratch[2 * gates : 2 * gates + TILE]
    quads = hidden // 4
    h0, c0, wb0, rb0, rt0 = state[0], state[1], w_bias[0], r_bias[0], r_t[0]  # layer 0's, hoisted
    n = x.shape[0]
    for start in range(0, n, TILE):
        m = min(TILE, n - start)
        input_tile(x[start : start + m], m, table, u)
        for t in range(m):
            xt = u[t]
            for layer in range(layers):
                if layer == 0:
                    h, c, wb, rb, rt = h0, c0, wb0, rb0, rt0
                else:
                    h, c, wb, rb, rt = state[2 * layer], state[2 * layer + 1], w_bias[layer], r_bias[layer], r_t[layer]
                if layer == 0:
                    for g in range(gates):
                        acc[g] = (wb[g] + rb[g]) + w0[g] * xt
                else:
                    for g in range(gates):
                        acc[g] = wb[g] + rb[g]
                    _add_rows(acc, state[2 * layer - 2], w_up[layer - 1], quads, hidden)
                _add_rows(acc, h, rt, quads, hidden)
                for k in range(hidden):
                    # i * g and o * tanh(c) as gated products: three divisions per unit, not five
                    ck = sigmoid32(acc[2 * hidden + k]) * c[k] + tanh_times_sigmoid32(acc[3 * hidden + k], acc[k])
                    c[k] = ck
                    h[k] = tanh_times_sigmoid32(ck, acc[hidden + k])
            yt = _output(state[2 * layers - 2], out_w, out_b, quads, hidden)
            y[start + t] = yt + xt if skip else yt


@numba.njit(_SIG, cache=True, nogil=True, error_model="numpy", fastmath=_FLAGS)
def gru_kernel(x, y, weights, state, scratch, table, skip):  # pragma: no cover - compiled
    """One buffer through stacked GRU layers (gate order z, r, n; ``linear_before_reset``)."""
    hidden = state.shape[1]
    layers = state.shape[0]
    gates = 3 * hidden
    w0, w_up, w_bias, r_bias, r_t, out_w, out_b = _views(weights, layers, hidden, gates)
    accx = scratch[0:gates]  # input projection (with its bias)
    acc = scratch[gates : 2 * gates]  # recurrent projection (with its bias, inside r * (...))
    u = scratch[2 * gates : 2 * gates + TILE]
    quads = hidden // 4
    h0, wb0, rb0, rt0 = state[0], w_bias[0], r_bias[0], r_t[0]  # layer 0's, hoisted
    n = x.shape[0]
    for start in range(0, n, TILE):
        m = min(TILE, n - start)
        input_tile(x[start : start + m], m, table, u)
        for t in range(m):
            xt = u[t]
            for layer in range(layers):
                if layer == 0:
                    h, wb, rb, rt = h0, wb0, rb0, rt0
                else:
                    h, wb, rb, rt = state[layer], w_bias[layer], r_bias[layer], r_t[layer]
                if layer == 0:
                    for g in range(gates):
                        accx[g] = wb[g] + w0[g] * xt
                else:
                    for g in range(gates):
                        accx[g] = wb[g]
                    _add_rows(accx, state[layer - 1], w_up[layer - 1], quads, hidden)
                for g in range(gates):
                    acc[g] = rb[g]
                _add_rows(acc, h, rt, quads, hidden)
                for k in range(hidden):
                    z = sigmoid32(accx[k] + acc[k])
                    r = sigmoid32(accx[hidden + k] + acc[hidden + k])
                    nk = tanh32(accx[2 * hidden + k] + r * acc[2 * hidden + k])
                    h[k] = (_ONE - z) * nk + z * h[k]
            yt = _output(state[layers - 1], out_w, out_b, quads, hidden)
            y[start + t] = yt + xt if skip else yt
