"""The streaming TCN (gated residual blocks, :class:`~distortion_bench.nn.models.StreamingTCN`)
as a Numba kernel, float32.

Shapes and units: ``x``, ``y`` ``(time,)`` float32 samples; ``weights`` the packed layout of
:func:`pack` (channels padded to C4, a multiple of 4, with zero weights: padded channels stay
exactly 0); ``layout`` int64 ``[C4, blocks, k_0, d_0, ..., k_{B-1}, d_{B-1}, p_0, ..., p_{B-1}]``
(the positions ``p_i`` are state: :func:`initial_layout` gives the values after silence);

- ``state`` ``(blocks * C4, max_context + SPAN)``: rows ``i*C4 .. i*C4 + C - 1`` are block ``i``'s
  input history, written left to right: the tile's input goes at column ``p_i`` (the block's
  position, kept in ``layout``'s tail), and the ``context_i = (k_i - 1) d_i`` columns before it
  are the block's state (what ONNX calls ``cache<i>``). Only when a tile would run past the end
  do the last ``context_i`` columns move to the front (``p_i = context_i``): a copy every
  ``SPAN / buffer`` calls instead of every call;
- ``scratch`` ``(3 C4, TILE)``: the gate pre-activations (rows ``0 .. 2 C4 - 1``, tanh half
  first; the gated values overwrite the tanh half) and the skip sum (rows ``2 C4 ..``).

Both are 2-D arrays made by the processor, so the kernel builds no views by reshaping (each a
call into Numba's runtime) and indexes rows directly.

Every loop that carries arithmetic runs over the tile's time axis (contiguous): the dilated and
1x1 convolutions are register-blocked four output by four input channels per pass (16
multiply-adds per sample per pass, a quarter of the accumulator round trips through memory),
with the 16 weights of a pass packed side by side in the order the passes read them (at small
buffers the per-pass bookkeeping, not the arithmetic, is the cost), reading and writing rows
through 1-D views, so that every index in the time loop is an induction variable from 0 (LLVM
vectorizes it; an offset it cannot prove non-negative keeps Numba's wrap-around select for
negative indices in the loop, and with many rows in one loop its alias checks made it give up:
both were tried and ran at scalar speed). The gate ``tanh(a) * sigmoid(b)`` takes one division
(:func:`~.activations.tanh_times_sigmoid32`). Each output sample is
computed by the same operations in the same order whatever the buffer cuts: chunked equals whole
bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from distortion_bench.kernels.activations import tanh_times_sigmoid32
from distortion_bench.kernels.onnx_plan import TcnPlan

#: samples per pass (a tile's gates and skip sum stay in L1/L2)
TILE = 256
#: columns of history per block row beyond its context (a slide every SPAN samples)
SPAN = 1024
_FLAGS = {"contract"}


def padded(channels: int) -> int:
    """Channels rounded up to a multiple of 4 (the register blocking's width)."""
    return -(-channels // 4) * 4


def state_shape(channels: int, contexts: Sequence[int]) -> tuple[int, int]:
    """``(blocks * C4, max_context + SPAN)``: the kernel's state array (see the module docstring)."""
    return len(contexts) * padded(channels), max(contexts) + SPAN


def scratch_shape(channels: int) -> tuple[int, int]:
    """``(3 C4, TILE)``: gate pre-activations and skip sum."""
    return 3 * padded(channels), TILE


def initial_layout(channels: int, blocks: Sequence[tuple[int, int]]) -> np.ndarray:
    """``layout`` for ``blocks`` of ``(kernel_size, dilation)``, positions at the state after silence."""
    kd = [v for pair in blocks for v in pair]
    positions = [(k - 1) * d for k, d in blocks]
    return np.array([padded(channels), len(blocks), *kd, *positions], dtype=np.int64)


def _quads(w: np.ndarray) -> np.ndarray:
    """``(O4, C4, k)`` weights -> passes ``(k, C4/4, O4/4, 16)``: for tap q, input group c and output
    group o, ``[w[o+i, c+j, q] for i in 0..3 for j in 0..3]`` (the order :func:`_accumulate` reads).
    (Eight output rows per pass was tried: with twelve rows in one loop LLVM's alias checks gave
    up and the loop ran scalar, 5x slower.)"""
    o4, c4, k = w.shape
    return np.ascontiguousarray(w.reshape(o4 // 4, 4, c4 // 4, 4, k).transpose(4, 2, 0, 1, 3)).reshape(-1)


def pack(plan: TcnPlan) -> np.ndarray:
    """The kernel's weights: channels padded to C4 with zeros, conv and mix passes packed.

    ``[in_w (C4) | in_b (C4) | per block: conv passes (k * C4/4 * 2C4/4 * 16) | conv_b (2C4) |
    mix passes (C4/4 * C4/4 * 16) | mix_b (C4) | out_w (C4) | out_b (1) | skip (1) | FiLM scale
    (B * C4) | FiLM shift (B * C4)]`` (the last block's mix is zeros: the graph has none; ``skip``
    is 1.0 when the input is added to the output, else 0.0; the FiLM rows, 1 and 0 here, are what
    a knob-conditioned TCN's knobs set, :func:`film_offset`, and only :data:`tcn_film_kernel`
    reads them).
    """
    c, c4 = plan.channels, padded(plan.channels)

    def vec(v: np.ndarray, n: int) -> np.ndarray:
        out = np.zeros(n, np.float32)
        out[: v.shape[0]] = v
        return out

    parts = [vec(plan.in_w, c4), vec(plan.in_b, c4)]
    for i, (k, _) in enumerate(plan.blocks):
        w = np.zeros((2 * c4, c4, k), np.float32)
        w[:c, :c] = plan.conv_w[i][:c]  # tanh half
        w[c4 : c4 + c, :c] = plan.conv_w[i][c:]  # sigmoid half
        b = np.zeros(2 * c4, np.float32)
        b[:c], b[c4 : c4 + c] = plan.conv_b[i][:c], plan.conv_b[i][c:]
        m = np.zeros((c4, c4, 1), np.float32)
        mb = np.zeros(c4, np.float32)
        if i < len(plan.mix_w):
            m[:c, :c, 0] = plan.mix_w[i]
            mb[:c] = plan.mix_b[i]
        parts += [_quads(w), b, _quads(m), mb]
    parts += [
        vec(plan.out_w, c4),
        plan.out_b.astype(np.float32).reshape(1),
        np.array([1.0 if plan.skip else 0.0], np.float32),
        np.ones(len(plan.blocks) * c4, np.float32),
        np.zeros(len(plan.blocks) * c4, np.float32),
    ]
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def film_offset(plan: TcnPlan) -> int:
    """Where the FiLM scale rows start in :func:`pack`'s weights (the shift rows follow them)."""
    return pack_size(plan) - 2 * len(plan.blocks) * padded(plan.channels)


def pack_size(plan: TcnPlan) -> int:
    """float32 elements of :func:`pack`'s weights."""
    c4 = padded(plan.channels)
    per_block = sum(2 * c4 * c4 * k + 2 * c4 + c4 * c4 + c4 for k, _ in plan.blocks)
    return 2 * c4 + per_block + c4 + 2 + 2 * len(plan.blocks) * c4


@numba.njit(inline="always", error_model="numpy", fastmath=_FLAGS)
def _accumulate(dst, drow, at, weights, pos, bias, outs, channels, src, srow, shift, m):  # pragma: no cover
    """``dst[drow + o, at + t] (+)= sum_c w[o, c] src[srow + c, shift + t]`` over ``t < m`` for one
    tap, its passes packed at ``weights[pos:]`` (see :func:`_quads`); returns the next ``pos``.

    With ``bias >= 0`` the destination is overwritten, starting from ``weights[bias + o]`` (the
    first pass of a convolution). One pass reads four input rows and updates four output rows
    with 16 multiply-adds per sample; each output gets its terms in the same order (bias, then
    input channel groups in turn) whatever the tile.
    """
    for cq in range(channels // 4):
        c = 4 * cq
        first = bias >= 0 and cq == 0
        r0 = src[srow + c, shift : shift + m]
        r1 = src[srow + c + 1, shift : shift + m]
        r2 = src[srow + c + 2, shift : shift + m]
        r3 = src[srow + c + 3, shift : shift + m]
        for oq in range(outs // 4):
            o = 4 * oq
            w = weights[pos : pos + 16]
            pos += 16
            z0 = dst[drow + o, at : at + m]
            z1 = dst[drow + o + 1, at : at + m]
            z2 = dst[drow + o + 2, at : at + m]
            z3 = dst[drow + o + 3, at : at + m]
            a0, a1, a2, a3 = w[0], w[1], w[2], w[3]
            b0, b1, b2, b3 = w[4], w[5], w[6], w[7]
            d0, d1, d2, d3 = w[8], w[9], w[10], w[11]
            e0, e1, e2, e3 = w[12], w[13], w[14], w[15]
            if first:
                bb = weights[bias + o : bias + o + 4]
                i0, i1, i2, i3 = bb[0], bb[1], bb[2], bb[3]
                for t in range(m):
                    v0, v1, v2, v3 = r0[t], r1[t], r2[t], r3[t]
                    z0[t] = i0 + (a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3)
                    z1[t] = i1 + (b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3)
                    z2[t] = i2 + (d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3)
                    z3[t] = i3 + (e0 * v0 + e1 * v1 + e2 * v2 + e3 * v3)
            else:
                for t in range(m):
                    v0, v1, v2, v3 = r0[t], r1[t], r2[t], r3[t]
                    z0[t] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
                    z1[t] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
                    z2[t] += d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3
                    z3[t] += e0 * v0 + e1 * v1 + e2 * v2 + e3 * v3
    return pos


#: kernel variants: the fixed-setting TCN, FiLM rows constant per call, FiLM rows per sample
PLAIN, FILMED, MOVING = 0, 1, 2


def _build_kernel(mode: int) -> Any:
    """The kernel, compiled with ``mode`` as a constant: the fixed-setting TCN's kernel
    (:data:`PLAIN`) has no FiLM multiply-add in its gate loop at all (reading scale 1 and shift 0
    there cost it 1-5 % per call, and an unconditional multiply-add 9-16 %); :data:`FILMED`
    reads one FiLM row per channel from the weights (knobs constant within the call);
    :data:`MOVING` reads a FiLM value per channel and sample from ``film`` (a knob gliding;
    :func:`~distortion_bench.kernels.knob_folding.film_rows` lays it out), the input
    projection's folded weight and bias included. The other variants take ``film`` too (an empty
    array), so every variant has one signature; Numba caches each on disk."""

    @numba.njit(
        "void(float32[::1], float32[::1], float32[::1], int64[::1], float32[:, ::1], float32[:, ::1], float32[:, ::1])",
        cache=True,
        nogil=True,
        error_model="numpy",
        fastmath=_FLAGS,
    )
    def tcn_kernel(x, y, weights, layout, state, scratch, film):  # pragma: no cover - compiled
        """One buffer through the TCN; updates ``state`` and the positions in ``layout``.
        ``film`` (:data:`MOVING` only): ``(2 (blocks + 1) C4, time)``."""
        channels, blocks = layout[0], layout[1]
        pos0 = 2 + 2 * blocks  # layout index of block 0's position
        width = state.shape[1]
        in_w = weights[0:channels]
        in_b = weights[channels : 2 * channels]
        wout = 2 * channels
        for i in range(blocks):
            wout += 2 * channels * channels * layout[2 + 2 * i] + 2 * channels + channels * channels + channels
        out_w = weights[wout : wout + channels]
        out_b = weights[wout + channels]
        skip = weights[wout + channels + 1] != 0.0
        film_w = wout + channels + 2  # FiLM scale rows, then shift rows (one per block, C4 each)
        shifts = (blocks + 1) * channels  # MOVING: where ``film``'s shift (and input bias) rows start
        skip0 = 2 * channels
        n = x.shape[0]
        for start in range(0, n, TILE):
            m = min(TILE, n - start)
            xs = x[start : start + m]
            ys = y[start : start + m]
            # a block whose history row is full keeps its last `ctx` columns, moved to the front
            for i in range(blocks):
                ctx = (layout[2 + 2 * i] - 1) * layout[3 + 2 * i]
                p = layout[pos0 + i]
                if p + m > width:
                    for c in range(channels):
                        row = state[i * channels + c]
                        for j in range(ctx):
                            row[j] = row[p - ctx + j]
                    layout[pos0 + i] = ctx
            p = layout[pos0]
            for c in range(channels):  # the input 1x1 conv, into block 0's rows at its position
                row = state[c, p : p + m]
                if mode == MOVING:
                    wt = film[c, start : start + m]
                    bt = film[shifts + c, start : start + m]
                    for t in range(m):
                        row[t] = bt[t] + wt[t] * xs[t]
                else:
                    wc, bc = in_w[c], in_b[c]
                    for t in range(m):
                        row[t] = bc + wc * xs[t]
            pos = 2 * channels
            for i in range(blocks):
                k, d = layout[2 + 2 * i], layout[3 + 2 * i]
                ctx = (k - 1) * d
                base = i * channels
                p = layout[pos0 + i]
                conv_b = pos + 2 * channels * channels * k
                # gate pre-activations: bias and tap 0, then the other taps (tap q reads q * d later)
                for q in range(k):
                    pos = _accumulate(
                        scratch,
                        0,
                        0,
                        weights,
                        pos,
                        conv_b if q == 0 else -1,
                        2 * channels,
                        channels,
                        state,
                        base,
                        p - ctx + q * d,
                        m,
                    )
                pos = conv_b + 2 * channels
                for c in range(channels):
                    za, zb, sc = scratch[c, 0:m], scratch[channels + c, 0:m], scratch[skip0 + c, 0:m]
                    if mode == MOVING:
                        gt = film[(i + 1) * channels + c, start : start + m]
                        st = film[shifts + (i + 1) * channels + c, start : start + m]
                        if i == 0:
                            for t in range(m):
                                g = tanh_times_sigmoid32(za[t], zb[t]) * gt[t] + st[t]
                                za[t] = g
                                sc[t] = g
                        else:
                            for t in range(m):
                                g = tanh_times_sigmoid32(za[t], zb[t]) * gt[t] + st[t]
                                za[t] = g
                                sc[t] += g
                    elif mode == FILMED:
                        gain = weights[film_w + i * channels + c]
                        shift = weights[film_w + (blocks + i) * channels + c]
                        if i == 0:
                            for t in range(m):
                                g = tanh_times_sigmoid32(za[t], zb[t]) * gain + shift
                                za[t] = g
                                sc[t] = g
                        else:
                            for t in range(m):
                                g = tanh_times_sigmoid32(za[t], zb[t]) * gain + shift
                                za[t] = g
                                sc[t] += g
                    elif i == 0:
                        for t in range(m):
                            g = tanh_times_sigmoid32(za[t], zb[t])
                            za[t] = g
                            sc[t] = g
                    else:
                        for t in range(m):
                            g = tanh_times_sigmoid32(za[t], zb[t])
                            za[t] = g
                            sc[t] += g
                mix_b = pos + channels * channels
                if i + 1 < blocks:
                    # the next block's input: (this block's input + mix bias) + mix weights @ gated
                    nbase = base + channels
                    np_ = layout[pos0 + i + 1]
                    for c in range(channels):
                        dst = state[nbase + c, np_ : np_ + m]
                        src = state[base + c, p : p + m]
                        bc = weights[mix_b + c]
                        for t in range(m):
                            dst[t] = src[t] + bc
                    _accumulate(state, nbase, np_, weights, pos, -1, channels, channels, scratch, 0, 0, m)
                pos = mix_b + channels
            for i in range(blocks):
                layout[pos0 + i] += m
            # output 1x1 conv of the skip sum
            for t in range(m):
                ys[t] = out_b
            for c in range(channels):
                wc = out_w[c]
                sc = scratch[skip0 + c, 0:m]
                for t in range(m):
                    ys[t] += wc * sc[t]
            if skip:  # after the output conv, as the graph adds it (y may not alias x)
                for t in range(m):
                    ys[t] += xs[t]

    return tcn_kernel


#: the fixed-setting TCN (:class:`~distortion_bench.nn.models.StreamingTCN`)
tcn_kernel = _build_kernel(PLAIN)
#: the knob-conditioned FiLM TCN: every block's gated output ``g * scale + shift`` per channel
tcn_film_kernel = _build_kernel(FILMED)
#: the FiLM TCN while its knobs glide: scale and shift per channel and sample
tcn_moving_kernel = _build_kernel(MOVING)
#: what :data:`tcn_kernel` and :data:`tcn_film_kernel` take as ``film``
NO_FILM = np.zeros((0, 0), np.float32)
