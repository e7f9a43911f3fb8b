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
  there, which change no bit of its output).

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


@numba.njit(cache=True, nogil=True)
def fold_film(weights, offset, channels, c4, blocks, u, w1, b1, w2, b2, hidden, in_w, in_b):  # pragma: no cover
    """A packed TCN's (:func:`~distortion_bench.kernels.tcn.pack`) knob-dependent weights: the
    input projection's weights and bias (``weights[0:C]``, ``weights[c4:c4 + C]``, from the
    file's ``in_w``, ``in_b`` ``(C,)``) and the FiLM rows at ``offset``: ``blocks`` rows of ``c4``
    scales ``1 + gamma``, then ``blocks`` rows of shifts ``beta``.

    ``w1`` ``(F, K)``, ``b1`` ``(F,)``, ``w2`` ``(2 C (B + 1), F)`` (gammas of the input projection
    and of block 0..B-1, then their betas), ``b2`` ``(2 C (B + 1),)``; ``hidden`` ``(F,)`` scratch.
    """
    for j in range(b1.shape[0]):
        s = b1[j]
        for k in range(u.shape[0]):
            s += w1[j, k] * u[k]
        hidden[j] = math.tanh(s)
    half = channels * (blocks + 1)
    for i in range(blocks + 1):  # layer 0: the input projection, then the blocks
        for c in range(channels):
            row = i * channels + c
            gamma = b2[row]
            beta = b2[half + row]
            for j in range(hidden.shape[0]):
                gamma += w2[row, j] * hidden[j]
                beta += w2[half + row, j] * hidden[j]
            if i == 0:
                weights[c] = in_w[c] * (1.0 + gamma)
                weights[c4 + c] = in_b[c] * (1.0 + gamma) + beta
            else:
                weights[offset + (i - 1) * c4 + c] = 1.0 + gamma
                weights[offset + (blocks + i - 1) * c4 + c] = beta
