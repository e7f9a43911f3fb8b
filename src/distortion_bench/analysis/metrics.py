"""Quality metrics with the project's definitions (DESIGN section 5), over whole signals.

- ESR = sum((y - y_hat)^2) / sum(y^2), with no epsilon in the denominator (CoreAudioML, Neural
  Amp Modeler and auraloss each define it slightly differently; auraloss adds 1e-8 and averages
  per batch item). Computed over the whole signal, never averaged per batch.
- Pre-emphasised ESR: the same after the first-order pre-emphasis ``e[n] = s[n] - 0.85 s[n-1]``
  on both signals (Wright & Valimaki 2019).
- Residual ESR = sum((y - y_hat)^2) / sum((y - x)^2): the share of what the effect *adds* to the
  dry signal ``x`` that the model misses (identity scores 1.0).

A metric whose denominator is zero (a silent target, or an effect that changed nothing) is
undefined and returned as ``None``, never as 0 or a huge number.

Signals are arrays of any shape, compared element by element, accumulated in float64.
"""

from __future__ import annotations

import numpy as np

#: Pre-emphasis coefficient of the first-order high-pass used for "ESR (pre-emphasised)".
PRE_EMPHASIS = 0.85


def _sum_sq(x: np.ndarray) -> float:
    x64 = np.asarray(x, dtype=np.float64)
    return float(np.dot(x64.ravel(), x64.ravel()))


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0.0 else num / den


def esr(target: np.ndarray, estimate: np.ndarray) -> float | None:
    """Error-to-signal ratio (dimensionless; 0.01 = 1 %); None for a silent target."""
    t, e = np.asarray(target, np.float64), np.asarray(estimate, np.float64)
    return _ratio(_sum_sq(t - e), _sum_sq(t))


def pre_emphasis(x: np.ndarray, coef: float = PRE_EMPHASIS) -> np.ndarray:
    """``x[n] - coef * x[n-1]`` along the last axis (``x[-1]`` taken as 0), float64."""
    x64 = np.asarray(x, dtype=np.float64)
    out = x64.copy()
    out[..., 1:] -= coef * x64[..., :-1]
    return out


def esr_pre_emphasis(target: np.ndarray, estimate: np.ndarray, coef: float = PRE_EMPHASIS) -> float | None:
    """ESR after first-order pre-emphasis of both signals; None for a silent target."""
    return esr(pre_emphasis(target, coef), pre_emphasis(estimate, coef))


def residual_esr(dry: np.ndarray, target: np.ndarray, estimate: np.ndarray) -> float | None:
    """Residual ESR: missed share of the effect's contribution; None if the effect added nothing."""
    d, t, e = (np.asarray(a, np.float64) for a in (dry, target, estimate))
    return _ratio(_sum_sq(t - e), _sum_sq(t - d))


def to_db(ratio: float | None) -> float | None:
    """A power ratio in dB (``10 log10``), None stays None."""
    return None if ratio is None or ratio <= 0 else 10.0 * float(np.log10(ratio))
