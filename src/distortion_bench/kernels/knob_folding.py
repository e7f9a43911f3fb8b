"""Knobs folded into a conditioned network's weights, once per setting, for the Numba kernels.

A plugin reads its knobs once per buffer, so within a call the knobs are constants and all the
work that depends only on them can be done before the audio loop, and only when a knob moved:

- ``lstm_knobs`` / ``gru_knobs``: layer 0's input projection of the knobs, ``W_k u`` (``u`` the
  knobs mapped onto [-1, 1]), is a constant per call: added to layer 0's input bias; the input
  FiLM's scale ``1 + gamma`` and shift ``beta`` of the audio fold into the audio's input weights
  and that bias (``W_a (x (1 + gamma) + beta) = (W_a (1 + gamma)) x + W_a beta``);
- ``tcn_knobs``: the FiLM MLP ``w2 tanh(w1 u + b1) + b2`` gives the input projection's and each
  block's per-channel scale ``1 + gamma`` and shift ``beta``. The input projection's fold into its
  weights (``(w x + b)(1 + gamma) + beta = w (1 + gamma) x + (b (1 + gamma) + beta)``), the
  blocks' are written into the kernel's FiLM rows (a fixed-setting TCN has scale 1 and shift 0
  there, which change no bit of its output). :func:`film_rows` computes them into the columns of
  a ``(rows, time)`` array, one setting per column: for a new setting one column, folded into
  the weights (:func:`fold_film`); while a knob glides one column per sample, which a kernel
  variant reads per sample.

So the conditioned kernels cost what their fixed-setting family costs per sample. Every
function writes into arrays made when the processor was built: a knob change allocates nothing.
Shapes: ``u`` ``(K,)`` float32, the knobs in the coordinates the model learned them in (each
mapped onto [-1, 1], a log knob by its logarithm: :class:`~distortion_bench.engine.knob_glide.KnobGlide`).
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True, nogil=True)
def fold_recurrent(weights, offset, base_bias, knob_w, u, base_audio, w1, b1, w2, b2, hidden):  # pragma: no cover
    """Layer 0's knob-dependent weights of a recurrent layout: the audio's input weights
    ``weights[0:G]`` and the input bias ``weights[offset:offset + G]``.

    ``base_audio``, ``base_bias`` ``(G,)``: the file's; ``knob_w`` ``(K, G)``: the knobs' input
    projection; the input FiLM MLP ``w1`` ``(F, K)``, ``b1`` ``(F,)``, ``w2`` ``(2, F)``, ``b2``
    ``(2,)``, ``hidden`` ``(F,)`` scratch. Then
    ``weights[g] = base_audio[g] (1 + gamma)`` and
    ``weights[offset + g] = base_bias[g] + base_audio[g] beta + sum_k u[k] knob_w[k, g]``.
    """
    for j in range(b1.shape[0]):
        s = b1[j]
        for k in range(u.shape[0]):
            s += w1[j, k] * u[k]
        hidden[j] = math.tanh(s)
    gamma = b2[0]
    beta = b2[1]
    for j in range(hidden.shape[0]):
        gamma += w2[0, j] * hidden[j]
        beta += w2[1, j] * hidden[j]
    for g in range(base_bias.shape[0]):
        s = base_bias[g] + base_audio[g] * beta
        for k in range(u.shape[0]):
            s += u[k] * knob_w[k, g]
        weights[offset + g] = s
        weights[g] = base_audio[g] * (1.0 + gamma)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def film_rows(rows, upath, n, hidden, w1, b1, w2, b2, in_w, in_b, channels):  # pragma: no cover
    """A FiLM TCN's knob-dependent values for the settings ``upath[:, :n]`` ``(K, >= n)`` (one per
    sample), written to the first ``n`` columns of ``rows`` ``(2 (B + 1) C4, >= n)``: rows
    ``i C4 + c`` the scales and rows ``(B + 1) C4 + i C4 + c`` the shifts of layer ``i`` (0: the
    input projection, folded into its weight ``in_w (1 + gamma)`` and bias
    ``in_b (1 + gamma) + beta``; then block ``i - 1``'s ``1 + gamma`` and ``beta``). Padded
    channels (``channels .. C4 - 1``) get weight 0 / scale 1 and shift 0, which leave them at 0.

    ``w1`` ``(F, K)``, ``b1`` ``(F,)``, ``w2`` ``(2 C (B + 1), F)`` (gammas of the input projection
    and of block 0..B-1, then their betas), ``b2`` ``(2 C (B + 1),)``; ``in_w``, ``in_b`` ``(C,)``
    the file's input projection; ``hidden`` ``(F, >= n)`` scratch. Every loop with arithmetic
    runs over the samples (so it vectorizes while a knob glides), and each value gets its terms
    in the same order whatever ``n``.
    """
    for j in range(b1.shape[0]):
        hj = hidden[j, :n]
        for t in range(n):
            hj[t] = b1[j]
        for k in range(upath.shape[0]):
            w = w1[j, k]
            uk = upath[k, :n]
            for t in range(n):
                hj[t] += w * uk[t]
        for t in range(n):
            hj[t] = math.tanh(hj[t])
    half = b2.shape[0] // 2
    layers = half // channels
    c4 = rows.shape[0] // (2 * layers)
    for i in range(layers):
        for c in range(c4):
            sr = rows[i * c4 + c, :n]
            hr = rows[(layers + i) * c4 + c, :n]
            if c >= channels:
                for t in range(n):
                    sr[t] = 0.0 if i == 0 else 1.0
                    hr[t] = 0.0
                continue
            row = i * channels + c
            for t in range(n):
                sr[t] = b2[row]
                hr[t] = b2[half + row]
            for j in range(hidden.shape[0]):
                a, b = w2[row, j], w2[half + row, j]
                hj = hidden[j, :n]
                for t in range(n):
                    sr[t] += a * hj[t]
                    hr[t] += b * hj[t]
            if i == 0:
                for t in range(n):
                    g = sr[t]
                    sr[t] = in_w[c] * (1.0 + g)
                    hr[t] = in_b[c] * (1.0 + g) + hr[t]
            else:
                for t in range(n):
                    sr[t] = 1.0 + sr[t]


@numba.njit(cache=True, nogil=True)
def fold_film(weights, offset, c4, rows, col):  # pragma: no cover
    """Column ``col`` of :func:`film_rows`' ``rows`` into a packed TCN's
    (:func:`~distortion_bench.kernels.tcn.pack`) weights, what the kernel reads with the knobs
    constant: the input projection's weight and bias (``weights[0:C4]``, ``weights[C4:2 C4]``)
    and the FiLM rows at ``offset`` (``B`` rows of ``C4`` scales, then ``B`` rows of shifts)."""
    shifts = rows.shape[0] // 2  # (B + 1) C4
    blocks = shifts // c4 - 1
    for c in range(c4):
        weights[c] = rows[c, col]
        weights[c4 + c] = rows[shifts + c, col]
    for r in range(c4, shifts):  # block i - 1's channel c at r = i C4 + c
        weights[offset + r - c4] = rows[r, col]
        weights[offset + blocks * c4 + r - c4] = rows[shifts + r, col]
