"""Streaming polyphase oversampling: up by an integer factor, a nonlinearity at the high rate,
down again, with anti-imaging and anti-alias FIR filters whose histories carry across buffers.

A nonlinearity makes harmonics above Nyquist that fold back as inharmonic aliases; running it at
``factor`` times the sample rate puts the harmonics it makes below the new Nyquist, where the
decimation filter removes them before they fold. Both filters are one linear-phase Kaiser
low-pass (:func:`~distortion_bench.portable_math.kaiser_lowpass_fir`, the design of
``scipy.signal.firwin`` computed with basic IEEE operations so the taps are the same bits on
every CPU), cut off at ``cutoff`` of the original Nyquist:

- up: zero-stuffing then the filter, computed polyphase (phase ``p`` of each input sample reads
  taps ``p, p + factor, ...``; ``factor`` times the gain so a DC input stays at its level);
- down: the filter, evaluated only at the kept samples (every ``factor``-th).

Each input sample makes exactly ``factor`` high-rate samples and each ``factor`` of them one
output sample, so buffers of any size line up with the high rate's blocks and streaming equals
processing whole, bit for bit (histories of ``taps_per_phase - 1`` input samples and
``numtaps - 1`` high-rate samples). Each output sample is the filter at the *last* high-rate
sample of its block, ``factor - 1`` high-rate samples later than the block's first: with the
filters' ``numtaps - 1`` samples of delay that makes the pair's delay a whole number of samples
at the original rate, ``TAPS_PER_PHASE - 1`` (:func:`latency_samples`), easy to align.

Shapes: ``x`` ``(time,)`` float64 at the original rate; ``hi`` ``(time * factor,)`` float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from distortion_bench import portable_math as pm

#: the oversampling factors the effects accept
FACTORS = (1, 2, 4, 8, 16)
#: taps per polyphase branch (the filter has ``factor * TAPS_PER_PHASE`` taps)
TAPS_PER_PHASE = 24
#: Kaiser window beta (about 80 dB stop-band attenuation at 24 taps per phase)
KAISER_BETA = 8.0
#: pass-band edge as a fraction of the original Nyquist (20 kHz of 24 kHz at 48 kHz)
CUTOFF = 0.9


@dataclass(frozen=True)
class Oversampler:
    """The filters of one factor. ``taps`` ``(factor * TAPS_PER_PHASE,)`` float64 (empty for
    factor 1); ``up_phases`` ``(factor, TAPS_PER_PHASE)``: ``factor * taps[p::factor]``."""

    factor: int
    taps: np.ndarray
    up_phases: np.ndarray

    @classmethod
    def design(cls, factor: int, key: str = "oversampling") -> Oversampler:
        if factor not in FACTORS:
            raise ValueError(f"{key}: expected one of {FACTORS}, got {factor!r}")
        if factor == 1:
            return cls(1, np.zeros(0), np.zeros((1, 0)))
        numtaps = factor * TAPS_PER_PHASE
        taps = pm.kaiser_lowpass_fir(numtaps, CUTOFF / factor, KAISER_BETA)
        phases = np.ascontiguousarray(np.stack([factor * taps[p::factor] for p in range(factor)]))
        return cls(factor, np.ascontiguousarray(taps), phases)

    def initial_state(self) -> tuple[np.ndarray, np.ndarray]:
        """``(up_history (TAPS_PER_PHASE - 1,), down_history (numtaps - 1,))``, float64 zeros."""
        if self.factor == 1:
            return np.zeros(0), np.zeros(0)
        return np.zeros(TAPS_PER_PHASE - 1), np.zeros(self.taps.shape[0] - 1)


def latency_samples(factor: int) -> int:
    """The up/down pair's delay in samples at the original rate (0 for factor 1): the filters'
    ``factor TAPS_PER_PHASE - 1`` high-rate samples less the ``factor - 1`` by which the kept
    sample ends its block."""
    return 0 if factor == 1 else TAPS_PER_PHASE - 1


@numba.njit(cache=True, nogil=True)
def upsample(x, phases, history, hi):  # pragma: no cover - compiled
    """``x`` ``(n,)`` -> ``hi`` ``(n * factor,)``; ``history`` ``(taps_per_phase - 1,)`` holds
    the last input samples (most recent last) and is updated."""
    factor, taps = phases.shape[0], phases.shape[1]
    keep = taps - 1
    for i in range(x.shape[0]):
        for p in range(factor):
            acc = phases[p, 0] * x[i]
            for k in range(1, taps):
                acc += phases[p, k] * history[keep - k]
            hi[i * factor + p] = acc
        for j in range(keep - 1):
            history[j] = history[j + 1]
        if keep > 0:
            history[keep - 1] = x[i]


@numba.njit(cache=True, nogil=True)
def downsample(hi, taps, factor, history, y):  # pragma: no cover - compiled
    """``hi`` ``(n * factor,)`` -> ``y`` ``(n,)``: the filter at every ``factor``-th sample (the
    last of each block); ``history`` ``(numtaps - 1,)`` the previous high-rate samples (most
    recent last), updated."""
    numtaps = taps.shape[0]
    keep = numtaps - 1
    n = y.shape[0]
    for i in range(n):
        end = (i + 1) * factor - 1  # index in hi of the kept sample
        acc = 0.0
        for k in range(numtaps):
            j = end - k
            acc += taps[k] * (hi[j] if j >= 0 else history[keep + j])
        y[i] = acc
    m = hi.shape[0]
    if m >= keep:
        for j in range(keep):
            history[j] = hi[m - keep + j]
    else:
        for j in range(keep - m):
            history[j] = history[j + m]
        for j in range(m):
            history[keep - m + j] = hi[j]
