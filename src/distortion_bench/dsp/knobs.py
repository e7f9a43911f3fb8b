"""Knobs: the parameters of an effect a user turns while playing, their ranges, and how a
change reaches the audio.

A knob space (``effects.<name>.knobs`` in config) names each knob with its range, scale
(``linear``, ``log`` or ``integer``) and unit. Values are checked against it: an unknown name, a
value outside the range or a NaN is refused with an error that names the knob and its range.

Continuous knobs move through a one-pole smoother, ``v[n] = t + (v[n-1] - t) * a`` (set onto
``t`` once within 1e-12 of it) with ``a = exp(-1 / (tau * sample_rate))``: a step of the target
reaches 63 % of the way in ``tau`` seconds, so a jump of the gain does not click (zipper noise
is a DSP defect as much as a network's). ``tau = 0`` makes every change land at once, at the
next sample processed (the old behaviour of building the effect anew between buffers). Integer
knobs (a word length) are never smoothed: there is no level between 7 and 8 bits.

The smoother's state (current values) lives in the effect's streaming state, so a trajectory
streamed in buffers of any size equals the same trajectory processed whole.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from distortion_bench import portable_math as pm
from distortion_bench.errors import ConfigError, DistortionBenchError

SCALES = ("linear", "log", "integer")


class KnobError(DistortionBenchError, ValueError):
    """A knob value or name that an effect or model does not accept."""


@dataclass(frozen=True)
class KnobSpec:
    """One knob: ``name``, ``minimum`` .. ``maximum`` (inclusive, in ``unit``), ``scale``."""

    name: str
    minimum: float
    maximum: float
    scale: str = "linear"
    unit: str = ""

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        kind = "an integer" if self.scale == "integer" else "a number"
        return f"{kind} in {self.minimum:g}..{self.maximum:g}{unit}"

    def check(self, value: Any, where: str = "knob") -> float:
        """``value`` as a float, or :class:`KnobError` naming the knob and its range."""
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise KnobError(f"{where} {self.name!r}: expected {self.describe()}, got {value!r}")
        v = float(value)
        if math.isnan(v) or not self.minimum <= v <= self.maximum:
            raise KnobError(f"{where} {self.name!r}: expected {self.describe()}, got {value!r}")
        if self.scale == "integer" and not v.is_integer():
            raise KnobError(f"{where} {self.name!r}: expected {self.describe()}, got {value!r}")
        return v

    def as_dict(self) -> dict[str, Any]:
        return {"min": self.minimum, "max": self.maximum, "scale": self.scale, "unit": self.unit}


@dataclass(frozen=True)
class KnobSpace:
    """The knobs of one effect, in their config order."""

    specs: tuple[KnobSpec, ...]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def spec(self, name: str, where: str = "knob") -> KnobSpec:
        for s in self.specs:
            if s.name == name:
                return s
        raise KnobError(f"{where} {name!r}: unknown knob; expected one of {self.names}")

    def check(self, values: Mapping[str, Any], where: str = "knob") -> dict[str, float]:
        """Every value checked against its knob (names must be knobs of this space)."""
        return {name: self.spec(name, where).check(value, where) for name, value in values.items()}

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {s.name: s.as_dict() for s in self.specs}

    @classmethod
    def from_dict(cls, knobs: Any, where: str) -> KnobSpace:
        """The inverse of :meth:`as_dict`: ``{name: {min, max, scale, unit}}`` in knob order (a
        model's ``knobs`` config, an exported file's metadata); ``where`` names the source in errors."""
        if not isinstance(knobs, Mapping) or not knobs:
            raise ConfigError(f"{where}: expected a mapping of knob name -> {{min, max, scale, unit}}, got {knobs!r}")
        specs = []
        for name, k in knobs.items():
            try:
                lo, hi = float(k["min"]), float(k["max"])
                spec = KnobSpec(str(name), lo, hi, str(k.get("scale", "linear")), str(k.get("unit", "")))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ConfigError(f"{where}.{name}: expected {{min, max, scale, unit}}, got {k!r}") from exc
            if spec.scale not in SCALES or not lo < hi or (spec.scale == "log" and lo <= 0):
                raise ConfigError(
                    f"{where}.{name}: expected min < max (> 0 for a log scale) and a scale in {SCALES}, got {k!r}"
                )
            specs.append(spec)
        return cls(tuple(specs))

    def unit_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(is_log, lo, span)`` ``(K,)`` each: the map of every knob onto [-1, 1] a conditioned
        model learns, ``2 (v - lo) / span - 1`` of the value (log knobs: of its logarithm)."""
        is_log = np.array([s.scale == "log" for s in self.specs])
        lo = np.array([math.log(s.minimum) if s.scale == "log" else s.minimum for s in self.specs])
        hi = np.array([math.log(s.maximum) if s.scale == "log" else s.maximum for s in self.specs])
        return is_log, lo, hi - lo


def knob_space_from_config(cfg: Mapping[str, Any] | None, allowed: Mapping[str, str], key: str) -> KnobSpace:
    """``effects.<name>.knobs`` as a :class:`KnobSpace`; ``allowed``: the effect's knob names
    and their units. Each entry: ``{min, max, scale}`` (scale optional: linear)."""
    if cfg is None:
        return KnobSpace(())
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{key}: expected a mapping of knob name -> {{min, max, scale}}, got {cfg!r}")
    specs = []
    for name, entry in cfg.items():
        where = f"{key}.{name}"
        if name not in allowed:
            raise ConfigError(f"{where}: not a knob of this effect; expected some of {sorted(allowed)}")
        if not isinstance(entry, Mapping) or set(entry) - {"min", "max", "scale"}:
            raise ConfigError(f"{where}: expected {{min, max, scale}}, got {entry!r}")
        lo, hi, scale = entry.get("min"), entry.get("max"), entry.get("scale", "linear")
        for bound, v in (("min", lo), ("max", hi)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{where}.{bound}: expected a finite number, got {v!r}")
        if scale not in SCALES:
            raise ConfigError(f"{where}.scale: expected one of {list(SCALES)}, got {scale!r}")
        if not lo < hi:
            raise ConfigError(f"{where}: expected min < max, got {lo} and {hi}")
        if scale == "log" and lo <= 0:
            raise ConfigError(f"{where}: a log scale needs min > 0, got {lo}")
        if scale == "integer" and not (float(lo).is_integer() and float(hi).is_integer()):
            raise ConfigError(f"{where}: an integer knob needs integer bounds, got {lo} and {hi}")
        specs.append(KnobSpec(str(name), float(lo), float(hi), str(scale), allowed[name]))
    return KnobSpace(tuple(specs))


def smoothing_coefficient(smoothing_s: float, sample_rate: int) -> float:
    """The one-pole smoother's ``a = exp(-1 / (tau * sample_rate))`` (0 for ``tau = 0``), from
    :mod:`~distortion_bench.portable_math` so that rendered automation takes are the same on
    every CPU."""
    if smoothing_s < 0 or not math.isfinite(smoothing_s):
        raise ValueError(f"smoothing time: expected seconds >= 0, got {smoothing_s}")
    if smoothing_s == 0:
        return 0.0
    return float(pm.exp(-1.0 / (smoothing_s * sample_rate)))


#: a smoothed value this close to its target (relative, -240 dB) is set onto it: the recursion
#: alone can stop one float64 step away forever (one ulp times ``a`` still rounds to one ulp)
SNAP = 1e-12


@numba.njit(inline="always", error_model="numpy")
def settle(target: float, value: float, a: float) -> float:  # pragma: no cover - compiled
    """One smoother step: ``target + (value - target) * a``, onto the target once within :data:`SNAP`."""
    v = target + (value - target) * a
    if abs(v - target) <= SNAP * max(1.0, abs(target)):
        return target
    return v


def smooth(targets: np.ndarray, current: float, a: float) -> tuple[np.ndarray, float]:
    """The smoother over per-sample ``targets`` ``(time,)`` from ``current``: ``(values, last)``.

    Sample by sample in float64, the same recursion the Numba kernels run, so the NumPy
    effects follow the same trajectory."""
    out = np.empty(targets.shape[0], np.float64)
    v = float(current)
    for i, t in enumerate(np.asarray(targets, np.float64)):
        v = settle.py_func(float(t), v, a)
        out[i] = v
    return out, v
