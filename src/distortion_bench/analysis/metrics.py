"""Quality metrics with the project's definitions, over whole signals.

- ESR = sum((y - y_hat)^2) / sum(y^2), with no epsilon in the denominator (CoreAudioML, Neural
  Amp Modeler and auraloss each define it slightly differently; auraloss adds 1e-8 and averages
  per batch item). Computed over the whole signal, never averaged per batch.
- Pre-emphasised ESR: the same after the first-order pre-emphasis ``e[n] = s[n] - 0.85 s[n-1]``
  on both signals (Wright & Valimaki 2019).
- Residual ESR = sum((y - y_hat)^2) / sum((y - x)^2): the share of what the effect *adds* to the
  dry signal ``x`` that the model misses (identity scores 1.0).

- MR-STFT: auraloss's multi-resolution STFT distance with its default resolutions.

A metric whose denominator is zero (a silent target, or an effect that changed nothing) is
undefined and returned as ``None``, never as 0 or a huge number.

Signals are arrays of any shape, compared element by element, accumulated in float64. The
signals of one metric must have the same shape: NumPy would broadcast a ``(n, 1)`` estimate
against a ``(n,)`` target into an ``(n, n)`` difference and return a plausible-looking but
meaningless number, so mismatched shapes are refused with a ``ValueError``.

One pooled number hides where the error is (a model can be exact on chords and poor on the
noise burst, or the reverse): :func:`quality_by_category`
gives the same metrics per kind of material (the first folder of a take's corpus path:
``pluck``, ``chord``, ``bass``, ``sweep``, ``tone``, ``noise``, ``user`` ...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Pre-emphasis coefficient of the first-order high-pass used for "ESR (pre-emphasised)".
PRE_EMPHASIS = 0.85


def _sum_sq(x: np.ndarray) -> float:
    x64 = np.asarray(x, dtype=np.float64)
    return float(np.dot(x64.ravel(), x64.ravel()))


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0.0 else num / den


def _same_shape(**signals: np.ndarray) -> list[np.ndarray]:
    """The signals as float64 arrays; ``ValueError`` naming them when their shapes differ."""
    arrays = {name: np.asarray(a, np.float64) for name, a in signals.items()}
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(
            f"quality metric: expected signals of one shape, got {listed} "
            "(reshape them alike; broadcasting would give a meaningless ratio)"
        )
    return list(arrays.values())


def esr(target: np.ndarray, estimate: np.ndarray) -> float | None:
    """Error-to-signal ratio (dimensionless; 0.01 = 1 %); None for a silent target."""
    t, e = _same_shape(target=target, estimate=estimate)
    return _ratio(_sum_sq(t - e), _sum_sq(t))


def pre_emphasis(x: np.ndarray, coef: float = PRE_EMPHASIS) -> np.ndarray:
    """``x[n] - coef * x[n-1]`` along the last axis (``x[-1]`` taken as 0), float64."""
    x64 = np.asarray(x, dtype=np.float64)
    out = x64.copy()
    out[..., 1:] -= coef * x64[..., :-1]
    return out


def esr_pre_emphasis(target: np.ndarray, estimate: np.ndarray, coef: float = PRE_EMPHASIS) -> float | None:
    """ESR after first-order pre-emphasis of both signals; None for a silent target."""
    _same_shape(target=target, estimate=estimate)
    return esr(pre_emphasis(target, coef), pre_emphasis(estimate, coef))


def residual_esr(dry: np.ndarray, target: np.ndarray, estimate: np.ndarray) -> float | None:
    """Residual ESR: missed share of the effect's contribution; None if the effect added nothing."""
    d, t, e = _same_shape(dry=dry, target=target, estimate=estimate)
    return _ratio(_sum_sq(t - e), _sum_sq(t - d))


#: auraloss's default resolutions reach an FFT of 2048 samples: shorter signals have no MR-STFT
MRSTFT_MIN_SAMPLES = 2048


def mrstft_distance(target: np.ndarray, estimate: np.ndarray) -> float | None:
    """auraloss's multi-resolution STFT distance (default resolutions) of two ``(time,)`` signals;
    None (undefined) for signals shorter than :data:`MRSTFT_MIN_SAMPLES`."""
    t, e = _same_shape(target=target, estimate=estimate)
    if t.size < MRSTFT_MIN_SAMPLES:
        return None
    import auraloss  # imports torch: only when asked for
    import torch

    with torch.no_grad():
        loss = auraloss.freq.MultiResolutionSTFTLoss()(
            torch.from_numpy(e.astype(np.float32))[None, None], torch.from_numpy(t.astype(np.float32))[None, None]
        )
    return float(loss)


def signal_quality(dry: np.ndarray, target: np.ndarray, estimate: np.ndarray) -> dict[str, float | None]:
    """ESR, pre-emphasised ESR, residual ESR (ratios) and MR-STFT distance, each None where undefined.

    All three are ``(time,)`` signals of one length (whole takes, concatenated).
    """
    return {
        "esr": esr(target, estimate),
        "esr_pre": esr_pre_emphasis(target, estimate),
        "residual_esr": residual_esr(dry, target, estimate),
        "mrstft": mrstft_distance(target, estimate),
    }


def category_of(take_path: str) -> str:
    """The kind of material of a take from its corpus path: ``"pluck/pluck_003.wav"`` -> ``"pluck"``."""
    return take_path.replace("\\", "/").split("/")[0]


#: Kinds of material played on an instrument (synthesized takes, and the user's own files)
GUITAR_MATERIAL = ("pluck", "chord", "palm_mute", "slide", "bass", "user")
#: Measurement signals: what no musician plays, but what shows a model's limits
MEASUREMENT_SIGNALS = ("sweep", "tone", "noise")


def material_group(category: str) -> str:
    """``"guitar"`` for played material, ``"measurement"`` for sweeps/tones/noise, else ``"other"``."""
    return "guitar" if category in GUITAR_MATERIAL else "measurement" if category in MEASUREMENT_SIGNALS else "other"


def group_esr(by_category: dict[str, Any], group: str) -> float | None:
    """Pooled ESR over the categories of ``group`` (e.g. ``"guitar"``), from per-category ESRs and
    shares of the squared error: error_c = share_c, signal_c = share_c / ESR_c (a common scale)."""
    err = sig = 0.0
    for category, values in by_category.items():
        if material_group(category) != group or not values.get("esr") or values.get("share_of_error") is None:
            continue
        err += values["share_of_error"]
        sig += values["share_of_error"] / values["esr"]
    return err / sig if sig > 0 else None


def quality_by_category(
    paths: Sequence[str],
    dry: Sequence[np.ndarray],
    target: Sequence[np.ndarray],
    estimate: Sequence[np.ndarray],
    sample_rate: int,
    score: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, Any]] = signal_quality,
) -> dict[str, dict[str, Any]]:
    """``score`` of the takes of each kind of material, plus ``"pooled"`` over all of them.

    Each take is a ``(time,)`` signal; the takes of a category are concatenated (in the order
    given) and scored as one signal, like the pooled figure. Every entry also has ``takes`` and
    ``seconds`` (of audio), and a category's ``share_of_error``: its part of the pooled squared
    error (the categories' shares add up to 1; None when the pooled error is 0).
    """
    if not (len(paths) == len(dry) == len(target) == len(estimate)):
        raise ValueError(
            f"quality_by_category: expected one path per take, got {len(paths)} paths for "
            f"{len(dry)} dry, {len(target)} target and {len(estimate)} estimated takes"
        )
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        groups.setdefault(category_of(path), []).append(i)
    squared = [
        _sum_sq(np.asarray(target[i], np.float64) - np.asarray(estimate[i], np.float64)) for i in range(len(paths))
    ]
    total = sum(squared)

    def entry(indices: Sequence[int]) -> dict[str, Any]:
        d, t, e = (np.concatenate([np.asarray(s[i]) for i in indices]) for s in (dry, target, estimate))
        return {**score(d, t, e), "takes": len(indices), "seconds": round(d.size / sample_rate, 3)}

    out = {"pooled": entry(range(len(paths)))}
    for category in sorted(groups):
        out[category] = {
            **entry(groups[category]),
            "share_of_error": _ratio(sum(squared[i] for i in groups[category]), total),
        }
    return out


def to_db(ratio: float | None) -> float | None:
    """A power ratio in dB (``10 log10``), None stays None."""
    return None if ratio is None or ratio <= 0 else 10.0 * float(np.log10(ratio))
