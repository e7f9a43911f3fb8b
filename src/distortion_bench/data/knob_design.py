"""Which knob settings a conditioned model trains on, and which it is judged on.

- Training settings (:func:`training_settings`): the corners of the knob space, then a scrambled
  Sobol sequence (``scipy.stats.qmc``, seeded) that fills the space evenly; ``log`` knobs are
  spread evenly in their logarithm, ``integer`` knobs drawn with equal weight for every integer.
- The held-out grid (:func:`held_out_grid`): for continuous knobs, ``per_axis`` points per knob at
  the centres of equal cells of its range, so no grid point lies on a corner or an edge and none
  equals a training setting (:func:`training_settings` drops any draw that would); integer knobs
  take every integer of their range. A space of integer knobs only (the bitcrusher's ``bits``)
  cannot hold settings out (every setting is an integer the model must learn): its grid is every
  setting and what is held out is the audio (the test split).

Both are deterministic: the same space, count and seed give the same settings on every machine
(the values are computed in float64 from Sobol's integer-derived points; nothing depends on the
CPU).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import qmc

from distortion_bench.dsp.knobs import KnobSpace, KnobSpec

Setting = dict[str, float]


def _from_unit(spec: KnobSpec, u: float) -> float:
    """``u`` in [0, 1] onto the knob's range, by its scale. An integer knob's range is cut into one
    equal cell per integer (rounding ``lo + u (hi - lo)`` instead gave the two end values half a
    cell each: 4 bits drew 8 of 220 training rows where 10 bits drew 37)."""
    if spec.scale == "log":
        lo, hi = np.log(spec.minimum), np.log(spec.maximum)
        return float(np.exp(lo + u * (hi - lo)))
    if spec.scale == "integer":
        return float(min(spec.maximum, np.floor(spec.minimum + u * (spec.maximum - spec.minimum + 1))))
    return float(spec.minimum + u * (spec.maximum - spec.minimum))


def _key(setting: Setting) -> tuple[float, ...]:
    return tuple(round(v, 12) for v in setting.values())


def corners(space: KnobSpace) -> list[Setting]:
    """Every combination of each knob's minimum and maximum (2^knobs settings)."""
    return [
        {s.name: v for s, v in zip(space.specs, combo)}
        for combo in itertools.product(*[(s.minimum, s.maximum) for s in space.specs])
    ]


def held_out_grid(space: KnobSpace, per_axis: int = 5) -> list[Setting]:
    """The evaluation grid (module docstring): cell centres for continuous knobs, every integer
    for integer ones, in config order (the first knob varies slowest)."""
    if per_axis < 1:
        raise ValueError(f"held_out_grid: per_axis must be >= 1, got {per_axis}")
    axes = []
    for s in space.specs:
        if s.scale == "integer":
            axes.append([float(v) for v in range(int(s.minimum), int(s.maximum) + 1)])
        else:
            axes.append([_from_unit(s, (i + 0.5) / per_axis) for i in range(per_axis)])
    return [{s.name: v for s, v in zip(space.specs, combo)} for combo in itertools.product(*axes)]


def training_settings(space: KnobSpace, count: int, seed: int, per_axis: int = 5) -> list[Setting]:
    """``count`` settings: the corners first, then Sobol points (module docstring), none equal
    to a point of :func:`held_out_grid` (``per_axis``) unless every knob is an integer knob."""
    if count < 1:
        raise ValueError(f"training_settings: count must be >= 1, got {count}")
    if not space.specs:
        raise ValueError("training_settings: the knob space has no knobs")
    continuous = any(s.scale != "integer" for s in space.specs)
    held = {_key(g) for g in held_out_grid(space, per_axis)} if continuous else set()
    out: list[Setting] = []
    seen: set[tuple[float, ...]] = set()
    for setting in corners(space):
        if _key(setting) not in seen and _key(setting) not in held:
            out.append(setting)
            seen.add(_key(setting))
    sobol = qmc.Sobol(len(space.specs), scramble=True, seed=seed)
    # draws in powers of two: Sobol's balance holds for 2^m points at a time
    draw = 2 ** max(3, int(np.ceil(np.log2(count))))
    while len(out) < count:
        points, draw = sobol.random(draw), 2 * draw  # totals 2^m, 2^(m+1), ...: each a power of two
        for point in points:
            setting = {s.name: _from_unit(s, float(u)) for s, u in zip(space.specs, point)}
            k = _key(setting)
            if k in held or (k in seen and continuous):
                continue
            out.append(setting)
            seen.add(k)
            if len(out) == count:
                break
    return out[:count]
