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

Knobs (:mod:`.knobs`): ``gain_db`` and ``bias`` can change while the effect streams, between
buffers (:meth:`~.base.Effect.set_knobs`) or sample by sample (:meth:`~.base.Effect.process_trajectory`),
through a one-pole smoother (``smoothing_s``). While a knob moves, ``tanh(bias)`` and the slope are
computed per sample; once both knobs have settled on their targets the effect runs exactly the
fixed-setting code with constants, so an effect whose knobs never moved gives the same bytes as
before knobs existed.

Two implementations with the same arithmetic: :class:`TubeSaturatorNumpy` (array operations,
``np.tanh`` + ``scipy.signal.sosfilt``) and :class:`TubeSaturatorNumba` (compiled once and cached
on disk, no allocation when ``out`` is given: per chunk of 256 samples a vectorized shaper pass
with :func:`~distortion_bench.dsp.vector_tanh.vector_tanh`, then the filter sections, each
section's state in registers).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba
import numpy as np
from scipy.signal import sosfilt

from distortion_bench import portable_math as pm
from distortion_bench.dsp.base import Effect, check_buffers
from distortion_bench.dsp.filters import butter_lowpass_sos
from distortion_bench.dsp.knobs import KnobSpace, KnobSpec, settle, smooth, smoothing_coefficient
from distortion_bench.dsp.params import TubeSaturatorParams
from distortion_bench.dsp.vector_tanh import vector_tanh

#: the tube's knobs and their units
TUBE_KNOBS = {"gain_db": "dB", "bias": ""}
#: indices into :attr:`TubeState.knob`
GAIN_TARGET, BIAS_TARGET, GAIN_NOW, BIAS_NOW, TANH_BIAS_TARGET, SLOPE_TARGET = range(6)


#: the knob space a tube saturator accepts unless its config gives one (``effects.<name>.knobs``)
DEFAULT_TUBE_KNOBS = KnobSpace((KnobSpec("gain_db", 0.0, 24.0, "linear", "dB"), KnobSpec("bias", 0.0, 0.5)))
#: one-pole time constant of knob changes, seconds (``effects.<name>.smoothing_ms``)
DEFAULT_SMOOTHING_S = 0.01


@dataclass
class TubeState:
    """Streaming state.

    Attributes:
        zi: low-pass filter state, float64 ``(sections, 2)`` (scipy's ``zi`` layout).
        knob: float64 ``(6,)``: the linear gain and bias targets, their smoothed values now, and
            the target's ``tanh(bias)`` and slope ``1 - tanh(bias)^2`` (computed once per change).
        fixed: ``(gain, tanh(bias), slope)`` while the knobs rest on their targets (the
            fixed-setting kernel's constants, read without touching the array), None while they move.
    """

    zi: np.ndarray
    knob: np.ndarray
    fixed: tuple[float, float, float] | None = None

    def copy(self) -> TubeState:
        return TubeState(self.zi.copy(), self.knob.copy(), self.fixed)


class _TubeSaturatorBase(Effect[TubeState]):
    kind = "tube_saturator"
    knob_units = TUBE_KNOBS

    def __init__(
        self,
        params: TubeSaturatorParams,
        sample_rate: int,
        knobs: KnobSpace | None = None,
        smoothing_s: float = DEFAULT_SMOOTHING_S,
    ) -> None:
        self.params = params
        self.sample_rate = int(sample_rate)
        self.knobs = knobs if knobs is not None else DEFAULT_TUBE_KNOBS
        self.smoothing = smoothing_coefficient(smoothing_s, self.sample_rate)
        # Constants from portable_math, not the C library (whose exp/pow/tanh have FMA variants):
        # the rendered targets must be the same on every CPU.
        self.gain = float(pm.db_to_amplitude(float(params.gain_db)))
        self.bias = float(params.bias)
        self.tanh_bias = float(pm.tanh(self.bias))
        self.slope = 1.0 - self.tanh_bias * self.tanh_bias  # 1 - tanh(b)^2
        self.sos = butter_lowpass_sos(params.lowpass_hz, params.lowpass_order, self.sample_rate)

    def initial_state(self) -> TubeState:
        knob = np.array([self.gain, self.bias, self.gain, self.bias, self.tanh_bias, self.slope], np.float64)
        return TubeState(
            np.zeros((self.sos.shape[0], 2), dtype=np.float64), knob, (self.gain, self.tanh_bias, self.slope)
        )

    def _set_targets(self, state: TubeState, values: dict[str, float], at_once: bool = False) -> None:
        k = state.knob
        if "gain_db" in values:
            k[GAIN_TARGET] = float(pm.db_to_amplitude(values["gain_db"]))
        if "bias" in values:
            k[BIAS_TARGET] = values["bias"]
            tb = float(pm.tanh(values["bias"]))
            k[TANH_BIAS_TARGET], k[SLOPE_TARGET] = tb, 1.0 - tb * tb
        if at_once or self.smoothing == 0.0:  # no glide: the change lands at the next sample
            k[GAIN_NOW], k[BIAS_NOW] = k[GAIN_TARGET], k[BIAS_TARGET]
        self._update_fixed(state)

    @staticmethod
    def _update_fixed(state: TubeState) -> None:
        k = state.knob
        settled = k[GAIN_NOW] == k[GAIN_TARGET] and k[BIAS_NOW] == k[BIAS_TARGET]
        state.fixed = (float(k[GAIN_NOW]), float(k[TANH_BIAS_TARGET]), float(k[SLOPE_TARGET])) if settled else None

    def _end_trajectory(self, state: TubeState, gain: float, bias: float) -> None:
        """After per-sample targets: the last sample's are the targets from now on."""
        k = state.knob
        k[GAIN_TARGET], k[BIAS_TARGET] = gain, bias
        tb = float(pm.tanh(bias))
        k[TANH_BIAS_TARGET], k[SLOPE_TARGET] = tb, 1.0 - tb * tb
        self._update_fixed(state)

    def knob_values(self, state: TubeState) -> dict[str, float]:
        k = state.knob
        # for display only (the stored data path never converts back)
        return {"gain_db": 20.0 * math.log10(k[GAIN_NOW]), "bias": float(k[BIAS_NOW])}

    @staticmethod
    def _settled(state: TubeState) -> bool:
        return state.fixed is not None

    def _trajectory_arrays(self, targets: dict[str, np.ndarray], n: int, state: TubeState) -> tuple[np.ndarray, ...]:
        """Per-sample linear gain and bias targets ``(time,)`` float64 (a knob not given keeps its target)."""
        k = state.knob
        gain = (
            np.asarray(pm.db_to_amplitude(np.asarray(targets["gain_db"], np.float64)), np.float64)
            if "gain_db" in targets
            else np.full(n, k[GAIN_TARGET])
        )
        bias = np.asarray(targets["bias"], np.float64) if "bias" in targets else np.full(n, k[BIAS_TARGET])
        return np.ascontiguousarray(gain), np.ascontiguousarray(bias)

    def describe(self) -> dict[str, object]:
        return {**super().describe(), **asdict(self.params)}


class TubeSaturatorNumpy(_TubeSaturatorBase):
    """NumPy/SciPy implementation (vectorized over the buffer)."""

    implementation = "numpy"

    def process(
        self, buffer: np.ndarray, state: TubeState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, TubeState]:
        out = check_buffers(buffer, out)
        fixed = state.fixed
        if fixed is None:
            n, k = buffer.shape[0], state.knob
            self._moving(buffer, np.full(n, k[GAIN_TARGET]), np.full(n, k[BIAS_TARGET]), state, out)
            self._update_fixed(state)
            return out, state
        gain, tanh_bias, slope = fixed
        t = np.tanh(gain * buffer.astype(np.float64))
        shaped = t * slope / (1.0 + t * tanh_bias)
        filtered, state.zi[...] = sosfilt(self.sos, shaped, zi=state.zi)
        out[...] = filtered
        return out, state

    def _moving(
        self, buffer: np.ndarray, gain_t: np.ndarray, bias_t: np.ndarray, state: TubeState, out: np.ndarray
    ) -> tuple[np.ndarray, TubeState]:
        k = state.knob
        gain, k[GAIN_NOW] = smooth(gain_t, k[GAIN_NOW], self.smoothing)
        bias, k[BIAS_NOW] = smooth(bias_t, k[BIAS_NOW], self.smoothing)
        t, tb = np.tanh(gain * buffer.astype(np.float64)), np.tanh(bias)
        shaped = t * (1.0 - tb * tb) / (1.0 + t * tb)
        filtered, state.zi[...] = sosfilt(self.sos, shaped, zi=state.zi)
        out[...] = filtered
        return out, state

    def _process_targets(
        self, buffer: np.ndarray, targets: dict[str, np.ndarray], state: TubeState, out: np.ndarray
    ) -> tuple[np.ndarray, TubeState]:
        gain_t, bias_t = self._trajectory_arrays(targets, buffer.shape[0], state)
        self._moving(buffer, gain_t, bias_t, state, out)
        self._end_trajectory(state, gain_t[-1], bias_t[-1])
        return out, state


#: Samples per pass of the Numba kernel: the shaper fills a float64 work array of this size
#: (vectorized), then the filter runs over it (sequential); 256 doubles stay in L1.
KERNEL_CHUNK = 256


@numba.njit(inline="always", error_model="numpy")
def _filter_chunk(work, m, out, start, sos, zi):  # pragma: no cover - compiled
    """The low-pass over ``work[:m]`` (the shaped chunk), section by section in transposed direct
    form II with each section's state in registers; the last section writes ``out[start:]``."""
    sections = sos.shape[0]
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


@numba.njit(inline="always", error_model="numpy")
def shape_moving_chunk(x, start, m, gain_t, bias_t, g, b, a, work):  # pragma: no cover - compiled
    """The shaper over ``x[start:start + m]`` into ``work[:m]`` with the knobs moving: per sample
    the smoothed gain ``g`` and bias ``b`` step toward their targets (``gain_t``/``bias_t``: one
    per sample of the buffer, or one for the whole buffer); returns the smoothed values after."""
    per_sample = gain_t.shape[0] > 1
    for i in range(m):
        j = start + i if per_sample else 0
        g = settle(gain_t[j], g, a)
        b = settle(bias_t[j], b, a)
        tb = vector_tanh(b)
        t = vector_tanh(g * x[start + i])
        work[i] = t * (1.0 - tb * tb) / (1.0 + t * tb)
    return g, b


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
    chunk = work.shape[0]
    for start in range(0, x.shape[0], chunk):
        m = min(chunk, x.shape[0] - start)
        for i in range(m):
            t = vector_tanh(gain * x[start + i])
            work[i] = t * slope / (1.0 + t * tanh_bias)
        _filter_chunk(work, m, out, start, sos, zi)


@numba.njit(
    "void(float32[::1], float32[::1], float64[::1], float64[::1], float64[::1], float64, float64[:, ::1], "
    "float64[:, ::1], float64[::1])",
    cache=True,
    nogil=True,
    error_model="numpy",
)
def _tube_kernel_moving(x, out, gain_t, bias_t, knob, a, sos, zi, work):  # pragma: no cover - compiled
    """The tube with its knobs moving: per sample the smoothed gain and bias step toward their
    targets (``gain_t``/``bias_t``: one per sample, or one for the whole buffer) and the shaper
    uses them. Same filter as :func:`_tube_kernel`."""
    chunk = work.shape[0]
    g, b = knob[2], knob[3]
    for start in range(0, x.shape[0], chunk):
        m = min(chunk, x.shape[0] - start)
        g, b = shape_moving_chunk(x, start, m, gain_t, bias_t, g, b, a, work)
        _filter_chunk(work, m, out, start, sos, zi)
    knob[2], knob[3] = g, b


class TubeSaturatorNumba(_TubeSaturatorBase):
    """Numba implementation: one compiled per-sample loop (the fast path)."""

    implementation = "numba"

    def __init__(
        self,
        params: TubeSaturatorParams,
        sample_rate: int,
        knobs: KnobSpace | None = None,
        smoothing_s: float = DEFAULT_SMOOTHING_S,
    ) -> None:
        super().__init__(params, sample_rate, knobs, smoothing_s)
        self._work = np.zeros(KERNEL_CHUNK, dtype=np.float64)  # scratch, not state
        self._targets = np.zeros((2, 1), dtype=np.float64)  # the buffer's gain and bias targets

    def process(
        self, buffer: np.ndarray, state: TubeState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, TubeState]:
        out = check_buffers(buffer, out)
        fixed = state.fixed
        if fixed is not None:
            self._run_fixed(buffer, out, fixed, state)
        else:
            k = state.knob
            self._targets[0, 0], self._targets[1, 0] = k[GAIN_TARGET], k[BIAS_TARGET]
            self._run_moving(buffer, out, self._targets[0], self._targets[1], state)
            self._update_fixed(state)
        return out, state

    def _process_targets(
        self, buffer: np.ndarray, targets: dict[str, np.ndarray], state: TubeState, out: np.ndarray
    ) -> tuple[np.ndarray, TubeState]:
        gain_t, bias_t = self._trajectory_arrays(targets, buffer.shape[0], state)
        self._run_moving(buffer, out, gain_t, bias_t, state)
        self._end_trajectory(state, gain_t[-1], bias_t[-1])
        return out, state

    def _run_fixed(
        self, buffer: np.ndarray, out: np.ndarray, fixed: tuple[float, float, float], state: TubeState
    ) -> None:
        """The kernel with the knobs at rest: ``fixed`` = (gain, tanh(bias), slope)."""
        _tube_kernel(buffer, out, fixed[0], fixed[1], fixed[2], self.sos, state.zi, self._work)

    def _run_moving(
        self, buffer: np.ndarray, out: np.ndarray, gain_t: np.ndarray, bias_t: np.ndarray, state: TubeState
    ) -> None:
        """The kernel with the knobs gliding toward ``gain_t``/``bias_t`` (per sample, or one each)."""
        _tube_kernel_moving(buffer, out, gain_t, bias_t, state.knob, self.smoothing, self.sos, state.zi, self._work)
