"""Knobs folded into a conditioned network's weights, once per setting, for the Numba kernels.

A plugin reads its knobs once per buffer, so within a call the knobs are constants and all the
work that depends only on them can be done before the audio loop, and only when a knob moved:

- ``lstm_knobs`` / ``gru_knobs``: layer 0's input projection of the knobs, ``W_k u`` (``u`` the
  knobs mapped onto [-1, 1]), is a constant per call: added to layer 0's input bias;
- ``tcn_knobs``: the FiLM MLP ``w2 tanh(w1 u + b1) + b2`` gives each block's per-channel scale
  ``1 + gamma`` and shift ``beta``, written into the kernel's FiLM rows (a fixed-setting TCN
  has scale 1 and shift 0 there, which change no bit of its output).

So the conditioned kernels cost what their fixed-setting family costs per sample. Every
function writes into arrays made when the processor was built: a knob change allocates nothing.
Shapes: ``values``, ``lo``, ``span`` ``(K,)`` float64 (knob values in their units; the map's
bounds, log knobs by their logarithm), ``is_log`` ``(K,)`` bool, ``u`` ``(K,)`` float32.
"""

from __future__ import annotations

import math

import numba


@numba.njit(cache=True, nogil=True)
def unit_knobs(values, is_log, lo, span, u):  # pragma: no cover - compiled
    """``u[k] = 2 (v_k - lo_k) / span_k - 1`` (``v_k`` = log of the value for a log knob): the map a
    conditioned model learned its knobs on (:class:`~distortion_bench.nn.conditioned.KnobScaler`)."""
    for k in range(values.shape[0]):
        v = math.log(values[k]) if is_log[k] else values[k]
        u[k] = 2.0 * (v - lo[k]) / span[k] - 1.0


@numba.njit(cache=True, nogil=True)
def fold_recurrent(weights, offset, base_bias, knob_w, u):  # pragma: no cover - compiled
    """``weights[offset + g] = base_bias[g] + sum_k u[k] knob_w[k, g]``: layer 0's input bias
    ``(G,)`` with the knobs' input projection (``knob_w`` ``(K, G)``) added."""
    for g in range(base_bias.shape[0]):
        s = base_bias[g]
        for k in range(u.shape[0]):
            s += u[k] * knob_w[k, g]
        weights[offset + g] = s


@numba.njit(cache=True, nogil=True)
def fold_film(weights, offset, channels, c4, blocks, u, w1, b1, w2, b2, hidden):  # pragma: no cover - compiled
    """The FiLM rows of a packed TCN (:func:`~distortion_bench.kernels.tcn.pack`) at ``offset``:
    ``blocks`` rows of ``c4`` scales ``1 + gamma``, then ``blocks`` rows of shifts ``beta``.

    ``w1`` ``(F, K)``, ``b1`` ``(F,)``, ``w2`` ``(2 C B, F)`` (gammas of block 0..B-1, then betas),
    ``b2`` ``(2 C B,)``; ``hidden`` ``(F,)`` scratch.
    """
    for j in range(b1.shape[0]):
        s = b1[j]
        for k in range(u.shape[0]):
            s += w1[j, k] * u[k]
        hidden[j] = math.tanh(s)
    half = channels * blocks
    for i in range(blocks):
        for c in range(channels):
            row = i * channels + c
            gamma = b2[row]
            beta = b2[half + row]
            for j in range(hidden.shape[0]):
                gamma += w2[row, j] * hidden[j]
                beta += w2[half + row, j] * hidden[j]
            weights[offset + i * c4 + c] = 1.0 + gamma
            weights[offset + (blocks + i) * c4 + c] = beta
