"""The tube saturator in its fast form: what ``numba:<effect>`` streams in the benches.

Two changes from the sample-by-sample kernel (:class:`~distortion_bench.dsp.tube.TubeSaturatorNumba`,
what the targets are rendered with and every quality figure is measured against):

- the shaper in float32, ``tanh`` by the networks' bounded-error rational
  (:func:`~distortion_bench.kernels.activations.tanh32`, absolute error <= 4.5e-7): 16 lanes
  per AVX-512 instruction and one division, where the exact form's float64 ``vector_tanh``
  (an ``exp`` polynomial) took ~2.8 of its ~5.4 ns per sample;
- the low-pass in blocks of 8 samples (:mod:`.block_biquad`): the recursion no longer waits
  for each output.

The output stays within :data:`MAX_ABS_DIFFERENCE` of the exact form's (full scale 1.0; tested
on sines, noise and a full-scale square at several buffer sizes), and chunked processing equals
whole-signal processing bit for bit. While a knob moves, the shaper is the exact form's (float64,
per-sample smoothing) and only the filter is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.dsp.params import TubeSaturatorParams
from distortion_bench.dsp.tube import (
    DEFAULT_SMOOTHING_S,
    KERNEL_CHUNK,
    TubeSaturatorNumba,
    TubeState,
    shape_moving_chunk,
)
from distortion_bench.kernels.activations import tanh32
from distortion_bench.kernels.block_biquad import block_arena, block_filter_chunk, initial_block_state

_ONE = np.float32(1.0)

#: bound on |fast form - exact form| of the float32 output (full scale 1.0): the float32 shaper's
#: error (tanh32 <= 4.5e-7, float32 rounding) through the low-pass (sum of |impulse response|
#: ~1.2); measured 2.4e-7
MAX_ABS_DIFFERENCE = 2e-6


@dataclass
class TubeBlockState(TubeState):
    """:class:`~.tube.TubeState` plus the block filter's ``block`` ``(sections, BLOCK + 3)``
    (:func:`~.block_biquad.initial_block_state`; ``zi`` is unused by this form)."""

    block: np.ndarray | None = None

    def copy(self) -> TubeBlockState:
        assert self.block is not None
        return TubeBlockState(self.zi.copy(), self.knob.copy(), self.fixed, self.block.copy())


@numba.njit(
    "void(float32[::1], float32[::1], float64, float64, float64, float64[:, ::1], float64[:, ::1], float64[::1])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def _tube_block_kernel(x, out, gain, tanh_bias, slope, mats, bstate, work):  # pragma: no cover - compiled
    chunk = work.shape[0]
    g32, tb32, s32 = np.float32(gain), np.float32(tanh_bias), np.float32(slope)
    for start in range(0, x.shape[0], chunk):
        m = min(chunk, x.shape[0] - start)
        for i in range(m):  # the shaper in float32, tanh by the bounded-error rational
            t = tanh32(g32 * x[start + i])
            work[i] = t * s32 / (_ONE + t * tb32)
        block_filter_chunk(work, m, out, start, mats, bstate)


@numba.njit(
    "void(float32[::1], float32[::1], float64[::1], float64[::1], float64[::1], float64, float64[:, ::1], "
    "float64[:, ::1], float64[::1])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def _tube_block_kernel_moving(x, out, gain_t, bias_t, knob, a, mats, bstate, work):  # pragma: no cover - compiled
    """Knobs moving: the sample-by-sample kernel's smoother and shaper, the block filter."""
    chunk = work.shape[0]
    g, b = knob[2], knob[3]
    for start in range(0, x.shape[0], chunk):
        m = min(chunk, x.shape[0] - start)
        g, b = shape_moving_chunk(x, start, m, gain_t, bias_t, g, b, a, work)
        block_filter_chunk(work, m, out, start, mats, bstate)
    knob[2], knob[3] = g, b


class TubeSaturatorBlock(TubeSaturatorNumba):
    """Numba tube, fast form: float32 shaper, block low-pass (see the module docstring)."""

    implementation = "numba"
    max_abs_difference = MAX_ABS_DIFFERENCE

    def __init__(
        self,
        params: TubeSaturatorParams,
        sample_rate: int,
        knobs: KnobSpace | None = None,
        smoothing_s: float = DEFAULT_SMOOTHING_S,
    ) -> None:
        super().__init__(params, sample_rate, knobs, smoothing_s)
        self.mats = block_arena(self.sos)

    @classmethod
    def from_exact(cls, exact: TubeSaturatorNumba) -> TubeSaturatorBlock:
        """The fast form of an exact Numba tube (same parameters, knobs and smoothing; scratch
        of its own)."""
        fast = cls.__new__(cls)
        fast.__dict__.update(exact.__dict__)
        fast.mats = block_arena(fast.sos)
        fast._work = np.zeros(KERNEL_CHUNK, dtype=np.float64)
        fast._targets = np.zeros((2, 1), dtype=np.float64)
        return fast

    def initial_state(self) -> TubeBlockState:
        base = super().initial_state()
        return TubeBlockState(base.zi, base.knob, base.fixed, initial_block_state(self.sos.shape[0]))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "form": "fast: float32 shaper (tanh32), block low-pass"}

    def _run_fixed(
        self, buffer: np.ndarray, out: np.ndarray, fixed: tuple[float, float, float], state: TubeState
    ) -> None:
        assert isinstance(state, TubeBlockState) and state.block is not None
        _tube_block_kernel(buffer, out, fixed[0], fixed[1], fixed[2], self.mats, state.block, self._work)

    def _run_moving(
        self, buffer: np.ndarray, out: np.ndarray, gain_t: np.ndarray, bias_t: np.ndarray, state: TubeState
    ) -> None:
        assert isinstance(state, TubeBlockState) and state.block is not None
        _tube_block_kernel_moving(
            buffer, out, gain_t, bias_t, state.knob, self.smoothing, self.mats, state.block, self._work
        )
