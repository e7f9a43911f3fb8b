"""A conditioned network's knobs as a host turns them: the targets, the glide toward them.

Every network backend (``numba:``, ``onnx:``, ``torch:``) of a knob-conditioned model keeps one
:class:`KnobGlide`: ``set_knobs`` checks the values against the model's trained ranges and makes
them the targets; until every knob has reached its target, the processor runs the glide (the
DSP's one-pole time constant, sample by sample: why, and in which coordinates, see
:mod:`distortion_bench.kernels.knob_glide`). Integer knobs (a word length) step at once, as the
DSP's do; ``at_once`` (a host restoring a session) or a time constant of 0 skips the glide.
"""

from __future__ import annotations

import numpy as np

from distortion_bench.dsp.knobs import KnobSpace, smoothing_coefficient
from distortion_bench.kernels.knob_glide import glide_values

#: a gliding knob this close to its target (unit coordinates, where the range spans 2; for a
#: 24 dB gain range 0.0012 dB)
#: is set onto it, and the network runs whole buffers again: a one-pole gets there in ~10 time
#: constants (100 ms at 10 ms), where the DSP's float64 snap takes ~28
GLIDE_SNAP = 1e-4
#: the DSP's default time constant (``effects.<name>.smoothing_ms``), seconds
DEFAULT_GLIDE_S = 0.01


def default_knobs(space: KnobSpace) -> np.ndarray:
    """``(K,)`` float32: each knob at the middle of its range until it is set."""
    return np.array([(s.minimum + s.maximum) / 2 for s in space.specs], np.float32)


class KnobGlide:
    """Knob targets and the values a network runs at now.

    Attributes:
        values: ``(K,)`` float64, the targets in the knobs' units (mid-range until set).
        target: ``(K,)`` float64, the targets in unit coordinates (``2 (v - lo) / span - 1``).
        now: ``(K,)`` float64, the values the network runs at now, in unit coordinates.
        u: ``(K,)`` float32 scratch (``now`` as the kernels take it).
        a: the one-pole coefficient per sample (0: no glide).
    """

    def __init__(self, space: KnobSpace, smoothing_s: float, sample_rate: int) -> None:
        self.space = space
        self.is_log, self.lo, self.span = space.unit_bounds()
        self.integer = np.array([s.scale == "integer" for s in space.specs])
        self.a = smoothing_coefficient(smoothing_s, sample_rate)
        self.snap = GLIDE_SNAP
        self.values = default_knobs(space).astype(np.float64)
        self.target = self.to_unit(self.values)
        self.now = self.target.copy()
        self.u = self.now.astype(np.float32)
        self.moving = False

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """``(K,)`` knob values in their units -> unit coordinates (float64)."""
        v = np.where(self.is_log, np.log(np.maximum(values, 1e-300)), values)
        return 2.0 * (v - self.lo) / self.span - 1.0

    def set(self, values: dict[str, float], at_once: bool = False) -> None:
        """New targets (checked, all or nothing: :class:`~distortion_bench.dsp.knobs.KnobError`
        names the knob and its range); ``at_once``: no glide."""
        checked = self.space.check(values)
        for i, name in enumerate(self.space.names):
            if name in checked:
                self.values[i] = checked[name]
        self.target[:] = self.to_unit(self.values)
        jump = self.integer | at_once | (self.a == 0.0)
        self.now[jump] = self.target[jump]
        self.u[:] = self.now
        self.moving = bool(np.any(self.now != self.target))

    def warm(self) -> None:
        """Load the compiled glide now (an empty glide on copies: no state changes), not in the
        first audio callback that turns a knob (measured: 7-20 ms, a dozen missed periods)."""
        empty = np.zeros((len(self.values), 0), np.float32)
        glide_values(
            self.now.copy(),
            self.target.copy(),
            self.a,
            self.snap,
            self.u.copy(),
            self.is_log,
            self.lo,
            self.span,
            empty,
        )

    def settle(self) -> None:
        """Jump to the targets (a reset: the state after silence at the current setting)."""
        self.now[:] = self.target
        self.u[:] = self.now
        self.moving = False
