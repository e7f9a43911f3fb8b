"""Tube saturator: gain -> DC bias -> tanh -> minus tanh(bias) -> Butterworth low-pass.

    y = LPF( tanh(k * x + bias) - tanh(bias) ),   k = 10^(gain_db / 20)

Subtracting ``tanh(bias)`` keeps silence silent (no DC step when a stream starts). The bias makes
the curve asymmetric, so even harmonics appear beside the odd ones of ``tanh``. The shaper is
evaluated through the identity

    tanh(a + b) - tanh(b) = tanh(a) (1 - tanh(b)^2) / (1 + tanh(a) tanh(b)),   a = k x

which is the same function but gives exactly 0 for x = 0 in any floating-point implementation
(the direct difference leaves a one-ulp residue whenever the two ``tanh`` calls round apart,
e.g. NumPy's vectorized ``tanh`` against ``math.tanh``). The low-pass
(Butterworth, ``scipy.signal.butter``) runs as second-order sections in transposed direct form II,
the structure of ``scipy.signal.sosfilt``; its per-section state ``(sections, 2)`` carries from
buffer to buffer, in float64 so that a long quiet tail does not accumulate float32 rounding.

Two implementations with the same arithmetic: :class:`TubeSaturatorNumpy` (array operations,
``np.tanh`` + ``scipy.signal.sosfilt``) and :class:`TubeSaturatorNumba` (one fused per-sample loop,
compiled once and cached on disk, no allocation when ``out`` is given).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba
import numpy as np
from scipy.signal import sosfilt

from distortion_bench.dsp.base import Effect, check_buffers
from distortion_bench.dsp.filters import butter_lowpass_sos
from distortion_bench.dsp.params import TubeSaturatorParams


@dataclass
class TubeState:
    """Low-pass filter state: float64 array of shape ``(sections, 2)`` (scipy's ``zi`` layout)."""

    zi: np.ndarray

    def copy(self) -> TubeState:
        return TubeState(self.zi.copy())


class _TubeSaturatorBase(Effect[TubeState]):
    kind = "tube_saturator"

    def __init__(self, params: TubeSaturatorParams, sample_rate: int) -> None:
        self.params = params
        self.sample_rate = int(sample_rate)
        self.gain = 10.0 ** (params.gain_db / 20.0)
        self.bias = float(params.bias)
        self.tanh_bias = math.tanh(self.bias)
        self.slope = 1.0 - self.tanh_bias * self.tanh_bias  # 1 - tanh(b)^2
        self.sos = butter_lowpass_sos(params.lowpass_hz, params.lowpass_order, self.sample_rate)

    def initial_state(self) -> TubeState:
        return TubeState(np.zeros((self.sos.shape[0], 2), dtype=np.float64))

    def describe(self) -> dict[str, object]:
        return {**super().describe(), **asdict(self.params)}


class TubeSaturatorNumpy(_TubeSaturatorBase):
    """NumPy/SciPy implementation (vectorized over the buffer)."""

    implementation = "numpy"

    def process(
        self, buffer: np.ndarray, state: TubeState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, TubeState]:
        out = check_buffers(buffer, out)
        t = np.tanh(self.gain * buffer.astype(np.float64))
        shaped = t * self.slope / (1.0 + t * self.tanh_bias)
        filtered, state.zi[...] = sosfilt(self.sos, shaped, zi=state.zi)
        out[...] = filtered
        return out, state


@numba.njit(
    "void(float32[::1], float32[::1], float64, float64, float64, float64[:, ::1], float64[:, ::1])",
    cache=True, nogil=True,
)
def _tube_kernel(x, out, gain, tanh_bias, slope, sos, zi):  # pragma: no cover - compiled
    # No fastmath: reassociation would make the result depend on where buffers are cut.
    sections = sos.shape[0]
    for i in range(x.shape[0]):
        t = math.tanh(gain * x[i])
        v = t * slope / (1.0 + t * tanh_bias)
        for s in range(sections):
            y = sos[s, 0] * v + zi[s, 0]
            zi[s, 0] = sos[s, 1] * v - sos[s, 4] * y + zi[s, 1]
            zi[s, 1] = sos[s, 2] * v - sos[s, 5] * y
            v = y
        out[i] = v


class TubeSaturatorNumba(_TubeSaturatorBase):
    """Numba implementation: one compiled per-sample loop (the fast path)."""

    implementation = "numba"

    def process(
        self, buffer: np.ndarray, state: TubeState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, TubeState]:
        out = check_buffers(buffer, out)
        _tube_kernel(buffer, out, self.gain, self.tanh_bias, self.slope, self.sos, state.zi)
        return out, state
