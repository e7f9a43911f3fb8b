"""A knob change glided sample by sample through a conditioned network's Numba kernel.

A host sends knob values once per buffer; a jump of the gain from one buffer to the next puts a
corner into the waveform (a click). The DSP glides its knobs through a one-pole smoother per
sample; a conditioned network that took each new value for a whole buffer clicks as if it had no
smoother (measured on a 110 Hz tone after a +12 dB gain step: -44 dB of energy above 2 kHz,
against -85 dB for the smoothed DSP). Gliding in sub-blocks does not help enough: every
sub-block boundary is a smaller corner (-53 dB with 8-sample sub-blocks, -64 with 4), and only a
new value per sample matches the DSP (-88 dB for the LSTM, -86 for the TCN).

So while a knob moves, the recurrent driver runs the network one sample at a time with the
knobs re-folded before each sample (:mod:`.knob_folding`; the fold is a few hundred
multiply-adds, the same order as one sample of a recurrent cell, which runs sample by sample
anyway). The TCN runs its buffer in passes, layer by layer over all samples, and one call per
sample cost it 11-27x its constant-knob time (its per-call bookkeeping, not its arithmetic), far
over a 64-frame callback's budget while a knob moves; so its driver computes the FiLM values of
every sample first and makes one call of a kernel that reads them per sample. Once every knob is
within ``snap`` of its target, the drivers set it there and run the rest of the buffer through
the kernel in one call, at the kernel's usual cost. The glide is the DSP's one-pole,
``now = target + (now - target) * a``, taken in the coordinates the model learns its knobs in
(each knob mapped onto [-1, 1], a log knob by its logarithm): effect-agnostic, and for a gain in
dB an even glide in loudness.

The trajectory depends only on how many samples have passed since the change, so a stream cut
into any buffers gives the same output bit for bit as long as the host's changes land on the
same samples. Shapes: ``now``, ``target`` ``(K,)`` float64 (unit coordinates), ``u`` ``(K,)``
float32 scratch; the other arrays as in :mod:`.knob_folding` and the kernels.
"""

from __future__ import annotations

import math

import numba

from distortion_bench.kernels.knob_folding import film_rows, fold_film, fold_recurrent
from distortion_bench.kernels.recurrent import gru_kernel, lstm_kernel
from distortion_bench.kernels.tcn import tcn_film_kernel, tcn_moving_kernel


@numba.njit(cache=True, nogil=True)
def glide_step(now, target, a, snap, u):  # pragma: no cover - compiled
    """One sample of the glide: ``now`` moved toward ``target`` (onto it once within ``snap``),
    written to ``u``; True while any knob still moves."""
    moving = False
    for k in range(now.shape[0]):
        v = target[k] + (now[k] - target[k]) * a
        if abs(v - target[k]) <= snap:
            v = target[k]
        else:
            moving = True
        now[k] = v
        u[k] = v
    return moving


@numba.njit(cache=True, nogil=True)
def glide_recurrent(
    x,
    y,
    lstm,
    weights,
    state,
    scratch,
    table,
    skip,
    now,
    target,
    a,
    snap,
    u,
    offset,
    base_bias,
    knob_w,
    base_audio,
    w1,
    b1,
    w2,
    b2,
    hidden,
):  # pragma: no cover - compiled
    """``x`` ``(time,)`` through an LSTM (``lstm``) or GRU while its knobs glide; returns True if
    they still move after the buffer. Arguments after ``u``: :func:`.fold_recurrent`'s."""
    n = x.shape[0]
    i = 0
    moving = True
    while i < n:
        moving = glide_step(now, target, a, snap, u)
        fold_recurrent(weights, offset, base_bias, knob_w, u, base_audio, w1, b1, w2, b2, hidden)
        stop = i + 1 if moving else n
        if lstm:
            lstm_kernel(x[i:stop], y[i:stop], weights, state, scratch, table, skip)
        else:
            gru_kernel(x[i:stop], y[i:stop], weights, state, scratch, table, skip)
        i = stop
    return moving


@numba.njit(cache=True, nogil=True)
def glide_tcn(
    x,
    y,
    weights,
    layout,
    state,
    scratch,
    now,
    target,
    a,
    snap,
    u,
    offset,
    rows,
    upath,
    hidden,
    w1,
    b1,
    w2,
    b2,
    in_w,
    in_b,
    channels,
):  # pragma: no cover - compiled
    """``x`` ``(time,)`` through a FiLM TCN while its knobs glide; returns True if they still
    move after the buffer. The glide's setting at every sample up to the knobs' arrival goes into
    a column of ``upath`` ``(K, >= time)``, their FiLM values into ``rows`` (:func:`.film_rows`,
    vectorized over the samples), and one kernel call reads them per sample (the TCN's passes
    cost what they cost with the knobs constant; the FiLM MLP per sample is the extra); the rest
    of the buffer, at the target, runs with the target folded into the weights. ``hidden``
    ``(F, >= time)`` scratch; the other arguments are :func:`.film_rows`' and :func:`.fold_film`'s."""
    n = x.shape[0]
    stop = n
    moving = True
    for i in range(n):
        moving = glide_step(now, target, a, snap, u)
        for k in range(u.shape[0]):
            upath[k, i] = u[k]
        if not moving:
            stop = i + 1
            break
    film_rows(rows, upath, stop, hidden, w1, b1, w2, b2, in_w, in_b, channels)
    tcn_moving_kernel(x[:stop], y[:stop], weights, layout, state, scratch, rows)
    if not moving:
        fold_film(weights, offset, layout[0], rows, stop - 1)
        tcn_film_kernel(x[stop:], y[stop:], weights, layout, state, scratch, rows)  # (rows unread)
    return moving


@numba.njit(cache=True, nogil=True)
def glide_values(now, target, a, snap, u, is_log, lo, span, path):  # pragma: no cover - compiled
    """The glide over ``path.shape[1]`` samples, each sample's knob values written in the knobs'
    own units (for the backends that take knobs per sample: PyTorch and the exported file):
    ``path`` ``(K, time)`` float32; ``is_log`` ``(K,)`` bool, ``lo``, ``span`` ``(K,)`` float64,
    the unit map of :class:`~distortion_bench.engine.knob_glide.KnobGlide`); returns True if the
    knobs still move after it. Allocates nothing (it runs in the audio callback)."""
    moving = True
    for i in range(path.shape[1]):
        moving = glide_step(now, target, a, snap, u)
        for k in range(u.shape[0]):
            v = (now[k] + 1.0) / 2.0 * span[k] + lo[k]
            path[k, i] = math.exp(v) if is_log[k] else v
    return moving
