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
``np.tanh`` + ``scipy.signal.sosfilt``) and :class:`TubeSaturatorNumba` (compiled once and cached
on disk, no allocation when ``out`` is given: per chunk of 256 samples a vectorized shaper pass
with :func:`~distortion_bench.dsp.vector_tanh.vector_tanh`, then the filter sections, each
section's state in registers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np
from scipy.signal import sosfilt

from distortion_bench import portable_math as pm
from distortion_bench.dsp.base import Effect, check_buffers
from distortion_bench.dsp.filters import butter_lowpass_sos
from distortion_bench.dsp.params import TubeSaturatorParams
from distortion_bench.dsp.vector_tanh import vector_tanh


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
        # Constants from portable_math, not the C library (whose exp/pow/tanh have FMA variants):
        # the rendered targets must be the same on every CPU.
        self.gain = float(pm.db_to_amplitude(float(params.gain_db)))
        self.bias = float(params.bias)
        self.tanh_bias = float(pm.tanh(self.bias))
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


#: Samples per pass of the Numba kernel: the shaper fills a float64 work array of this size
#: (vectorized), then the filter runs over it (sequential); 256 doubles stay in L1.
KERNEL_CHUNK = 256


@numba.njit(
    "void(float32[::1], float32[::1], float64, float64, float64, float64[:, ::1], float64[:, ::1], float64[::1])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def _tube_kernel(x, out, gain, tanh_bias, slope, sos, zi, work):  # pragma: no cover - compiled
    # No fastmath: reassociation would make the result depend on where buffers are cut. The
    # shaper is element-wise in plain arithmetic (vector_tanh), so LLVM vectorizes its pass
    # with results identical lane by lane; the filter's recursion cannot be vectorized.
    sections = sos.shape[0]
    chunk = work.shape[0]
    for start in range(0, x.shape[0], chunk):
        m = min(chunk, x.shape[0] - start)
        for i in range(m):
            t = vector_tanh(gain * x[start + i])
            work[i] = t * slope / (1.0 + t * tanh_bias)
        for s in range(sections):
            b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
            z0, z1 = zi[s, 0], zi[s, 1]
            last = s == sections - 1
            for i in range(m):
                v = work[i]
                y = b0 * v + z0
                z0 = b1 * v - a1 * y + z1
                z1 = b2 * v - a2 * y
                if last:
                    out[start + i] = y
                else:
                    work[i] = y
            zi[s, 0], zi[s, 1] = z0, z1


class TubeSaturatorNumba(_TubeSaturatorBase):
    """Numba implementation: one compiled per-sample loop (the fast path)."""

    implementation = "numba"

    def __init__(self, params: TubeSaturatorParams, sample_rate: int) -> None:
        super().__init__(params, sample_rate)
        self._work = np.zeros(KERNEL_CHUNK, dtype=np.float64)  # scratch, not state

    def process(
        self, buffer: np.ndarray, state: TubeState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, TubeState]:
        out = check_buffers(buffer, out)
        _tube_kernel(buffer, out, self.gain, self.tanh_bias, self.slope, self.sos, state.zi, self._work)
        return out, state
