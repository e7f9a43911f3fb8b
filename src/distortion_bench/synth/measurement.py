"""Measurement signals: exponential sine sweeps, steady sines, noise bursts.

Each signal has raised-cosine fades (no click at the ends, which would itself be broadband
material) and ends in a short silence, so the effects' tails are captured. Sines, exponentials
and levels come from :mod:`distortion_bench.portable_math`: the same samples on every CPU.
"""

from __future__ import annotations

import numpy as np

from distortion_bench import portable_math as pm

#: Fade length at both ends of a measurement signal, in seconds.
FADE_SECONDS = 0.01
#: Silence appended after each measurement signal, in seconds.
TAIL_SECONDS = 0.05


def db_to_amplitude(level_dbfs: float) -> float:
    """Peak amplitude of a level in dBFS (0 dBFS = 1.0)."""
    return float(pm.db_to_amplitude(float(level_dbfs)))


def _fade_and_tail(x: np.ndarray, sample_rate: int) -> np.ndarray:
    fade = min(x.shape[0] // 2, int(FADE_SECONDS * sample_rate))
    if fade > 0:
        ramp = 0.5 - 0.5 * pm.cos(np.linspace(0.0, np.pi, fade))
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return np.concatenate([x, np.zeros(int(TAIL_SECONDS * sample_rate))])


def log_sweep(seconds: float, f_start_hz: float, f_end_hz: float, level_dbfs: float, sample_rate: int) -> np.ndarray:
    """Exponential sine sweep (Farina 2000) from ``f_start_hz`` to ``f_end_hz``, shape ``(time,)``.

    ``x(t) = A sin(2 pi f1 T / ln(f2/f1) (exp(t ln(f2/f1) / T) - 1))``, peak ``A`` = level.
    """
    if not 0.0 < f_start_hz < f_end_hz <= sample_rate / 2:
        raise ValueError(f"sweep range {f_start_hz}..{f_end_hz} Hz must be increasing and below Nyquist")
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rate = float(pm.log(f_end_hz / f_start_hz))
    phase = 2.0 * np.pi * f_start_hz * seconds / rate * (pm.exp(t * rate / seconds) - 1.0)
    return _fade_and_tail(db_to_amplitude(level_dbfs) * pm.sin(phase), sample_rate)


def tone(freq_hz: float, level_dbfs: float, seconds: float, sample_rate: int) -> np.ndarray:
    """A steady sine of peak ``level_dbfs``, shape ``(time,)``."""
    if not 0.0 < freq_hz < sample_rate / 2:
        raise ValueError(f"tone frequency {freq_hz} Hz must lie below Nyquist ({sample_rate / 2} Hz)")
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return _fade_and_tail(db_to_amplitude(level_dbfs) * pm.sin(2.0 * np.pi * freq_hz * t), sample_rate)


def noise_bursts(rng: np.random.Generator, level_dbfs: float, seconds: float, sample_rate: int) -> np.ndarray:
    """White-noise bursts of 30..200 ms with 20..150 ms gaps, peak-normalized to ``level_dbfs``."""
    n = int(seconds * sample_rate)
    x = np.zeros(n)
    t = int(0.01 * sample_rate)
    while t < n:
        length = int(rng.uniform(0.03, 0.2) * sample_rate)
        burst = rng.standard_normal(min(length, n - t))
        fade = min(burst.shape[0] // 2, int(0.003 * sample_rate))
        if fade > 0:
            ramp = np.linspace(0.0, 1.0, fade)
            burst[:fade] *= ramp
            burst[-fade:] *= ramp[::-1]
        x[t : t + burst.shape[0]] = burst
        t += length + int(rng.uniform(0.02, 0.15) * sample_rate)
    peak = np.abs(x).max()
    if peak > 0:
        x *= db_to_amplitude(level_dbfs) / peak
    return _fade_and_tail(x, sample_rate)
