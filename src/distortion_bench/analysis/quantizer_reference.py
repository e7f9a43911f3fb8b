"""Alias-free harmonics of a quantized sine: the analytic Fourier series of the staircase.

A sine ``A sin(phi)`` through the project's mid-tread quantizer (:mod:`distortion_bench.dsp.bitcrush`:
``code = clip(floor(x 2^(N-1) + 1/2), -2^(N-1), 2^(N-1) - 1)``) is, in continuous time, a
staircase: constant between the phases where the sine crosses a threshold ``(m - 1/2) / 2^(N-1)``
and jumping by one step ``2^(1-N)`` there (up on the rising crossing ``arcsin(t / A)``, down on the
falling one ``pi - arcsin(t / A)``). The derivative of a staircase is a train of impulses, so its
complex Fourier coefficients are exact finite sums (k != 0):

    c_k = sum_m h_m exp(-i k phi_m) / (2 pi i k),     amplitude of harmonic k = 2 |c_k|

with jump heights ``h_m`` at phases ``phi_m``. This is the signal a quantizer would produce with
no sampling at all: every partial where it belongs, none folded back, computed in float64. The
fingerprint of the sampled DSP must agree with it on every harmonic it reports as measured.
"""

from __future__ import annotations

import numpy as np

__all__ = ["staircase_sine_harmonics", "staircase_sine_harmonics_db"]


def staircase_sine_harmonics(amplitude: float, bits: int, max_harmonic: int) -> np.ndarray:
    """Amplitudes of harmonics ``1..max_harmonic`` of ``Q(amplitude sin)``, ``(max_harmonic,)``.

    ``amplitude`` is the sine's peak (full scale 1.0); the clip to the converter's range (the top
    code is ``1 - 2^(1-N)``) is included, so 0 dBFS gives the asymmetric staircase and its even
    harmonics.
    """
    if not 1 <= int(bits) <= 24:
        raise ValueError(f"bits: expected 1..24, got {bits!r}")
    if not amplitude > 0:
        raise ValueError(f"amplitude: expected > 0, got {amplitude!r}")
    scale = 2.0 ** (int(bits) - 1)
    codes = np.arange(-scale + 1.0, scale)  # code m is reached when x * scale + 1/2 >= m
    thresholds = (codes - 0.5) / scale
    thresholds = thresholds[np.abs(thresholds) < amplitude]
    rise = np.arcsin(thresholds / amplitude)
    phases = np.concatenate([rise, np.pi - rise])
    jumps = np.concatenate([np.full(rise.size, 1.0 / scale), np.full(rise.size, -1.0 / scale)])
    k = np.arange(1, int(max_harmonic) + 1, dtype=np.float64)
    coeffs = (jumps[None, :] * np.exp(-1j * k[:, None] * phases[None, :])).sum(axis=1) / (2j * np.pi * k)
    return 2.0 * np.abs(coeffs)


def staircase_sine_harmonics_db(amplitude: float, bits: int, max_harmonic: int) -> list[float]:
    """Harmonics ``2..max_harmonic`` in dB re the fundamental (``-inf`` for a zero partial)."""
    amps = staircase_sine_harmonics(amplitude, bits, max_harmonic)
    with np.errstate(divide="ignore"):
        return [float(v) for v in 20.0 * np.log10(amps[1:] / amps[0])]
