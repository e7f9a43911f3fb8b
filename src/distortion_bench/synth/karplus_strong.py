"""Extended Karplus-Strong plucked string (Karplus & Strong 1983; Jaffe & Smith 1983).

A noise burst circulates in a delay line of one period; a loop filter (a two-tap average with
adjustable weight, times a loss factor) takes the highs out a little more on each trip, so
bright attacks decay to mellow tails, as on a guitar string. The delay is read with linear
interpolation, so the period may be fractional and may change per sample (slides, vibrato).
"""

from __future__ import annotations

import numba
import numpy as np

#: Longest period the delay line holds, in samples (about 11.7 Hz at 48 kHz).
MAX_PERIOD = 4096


@numba.njit(cache=True)
def _ks_loop(period, excitation, loss, damping, out):  # pragma: no cover - compiled
    size = MAX_PERIOD * 2
    line = np.zeros(size)
    prev = 0.0
    for i in range(out.shape[0]):
        p = period[i]
        pos = i - p
        j = int(np.floor(pos))
        frac = pos - j
        a = line[j % size] if j >= 0 else 0.0
        b = line[(j + 1) % size] if j + 1 >= 0 else 0.0
        delayed = a + frac * (b - a)
        y = excitation[i] + loss[i] * ((1.0 - damping) * delayed + damping * prev)
        prev = delayed
        line[i % size] = y
        out[i] = y


def pluck(
    period_samples: np.ndarray,
    excitation: np.ndarray,
    loss: np.ndarray | float,
    damping: float,
) -> np.ndarray:
    """Render one plucked string.

    Args:
        period_samples: delay per output sample, shape ``(time,)``, in samples, in
            [2, MAX_PERIOD) (``sample_rate / f0``; varies for slides and vibrato).
        excitation: signal injected into the loop, shape ``(time,)`` (usually a short burst).
        loss: loop gain per trip (scalar or shape ``(time,)``), < 1; lower decays faster.
        damping: loop low-pass weight in [0, 0.5]; 0.5 is the original two-point average
            (most damping of high partials), 0 none.

    Returns:
        float64 array of shape ``(time,)``.
    """
    period = np.ascontiguousarray(period_samples, dtype=np.float64)
    exc = np.ascontiguousarray(excitation, dtype=np.float64)
    if period.shape != exc.shape or period.ndim != 1:
        raise ValueError(f"period {period.shape} and excitation {exc.shape} must be equal 1-D shapes")
    if period.size and (period.min() < 2.0 or period.max() >= MAX_PERIOD):
        raise ValueError(f"period must lie in [2, {MAX_PERIOD}) samples")
    if not 0.0 <= damping <= 0.5:
        raise ValueError(f"damping must lie in [0, 0.5], got {damping}")
    loss_arr = np.broadcast_to(np.asarray(loss, dtype=np.float64), period.shape)
    out = np.zeros_like(period)
    _ks_loop(period, exc, np.ascontiguousarray(loss_arr), float(damping), out)
    return out
