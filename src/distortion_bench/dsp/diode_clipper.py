"""An asymmetric diode clipper, circuit-modelled: the first effect that is expensive in DSP.

The circuit (Holmes & van Walstijn, DAFx 2015, "Improving the robustness of the iterative solver
in state-space modelling of guitar distortion circuitry"): the input voltage ``u = drive_v x``
through a resistor ``R`` into a node with a capacitor ``C`` to ground; from the node to ground
two diodes in series in one direction and one in the other, so the node clips at about two
forward voltages going up and one going down (asymmetric: even harmonics). The output is the
node voltage ``v`` times ``output_gain`` (full scale per volt). Each diode obeys the Shockley
equation ``i = I_s (exp(v_d / (n V_T)) - 1)``; the series pair shares the node voltage, so

    C dv/dt = (u - v) / R - i_d(v),
    i_d(v) = I_s (exp(v / (m_f n V_T)) - 1) - I_s (exp(-v / (m_r n V_T)) - 1)

with ``m_f = 2``, ``m_r = 1`` diodes per direction. Diodes: the 1N4148 model of LTspice's
``standard.dio`` (``Is=2.52n N=1.752``; its series resistance and capacitance are left out, as
in the paper); thermal voltage ``k T / q`` at 27 degrees C (25.865 mV).

**Discretisation.** The trapezoidal rule (bilinear: the same map as the bilinear transform, so
the RC low-pass keeps its shape up to the warped band edge) at the oversampled rate
``fs_hi = factor fs``, with ``a = 1 / (2 C fs_hi)``:

    v_n = v_{n-1} + a (f(v_n, u_n) + f(v_{n-1}, u_{n-1})),   f(v, u) = (u - v) / R - i_d(v),

an implicit equation in ``v_n`` solved per sample by Newton-Raphson. The step is made robust as
the paper recommends (a bounded step): ``g(v) = v (1 + a / R) + a i_d(v) - rhs`` rises strictly
(``g' >= 1``), so its root lies between 0 and the root without the diodes, ``rhs / (1 + a / R)``;
the solver keeps that bracket, takes Newton's step when it stays inside and bisects when it
would leave (an exponential's Newton step from below the knee overshoots far above it), and
stops when a step moves ``v`` by at most ``tolerance_v``. If ``max_iterations`` pass first the
sample keeps the bracket's midpoint and is counted as not converged (never a NaN). The counters
(iterations per sample, mean and max; samples not converged) are in the state and in
:meth:`DiodeClipper.solver_stats`.

**Oversampling** (:mod:`.oversampling`): the clipper's harmonics reach far above Nyquist; at
``factor`` times the rate they are filtered out before decimation instead of folding back.
The output lags the input by :func:`~.oversampling.latency_samples` (the filters' delay).

**Portable arithmetic.** ``exp`` is :func:`_exp`, basic IEEE operations only (the algorithm of
:func:`distortion_bench.portable_math.exp`), so the rendered targets are the same bits on every
CPU. The NumPy implementation runs the same scalar solver in Python (slow; a reference for the
compiled one) and filters with ``scipy.signal.lfilter``.

Shapes: buffers ``(time,)`` float32 in [-1, 1] nominally; state arrays float64.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba
import numpy as np
from scipy.signal import lfilter

from distortion_bench.dsp.base import Effect, check_buffers
from distortion_bench.dsp.oversampling import Oversampler, downsample, latency_samples, upsample
from distortion_bench.dsp.params import DiodeClipperParams

#: Boltzmann constant (J/K) and elementary charge (C), exact in the 2019 SI
BOLTZMANN = 1.380649e-23
CHARGE = 1.602176634e-19
#: degrees C -> K
KELVIN = 273.15

_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634
_EXP_LIMIT = 708.0
_EXP_COEFFS = tuple(1.0 / math.factorial(k) for k in range(14))


def _exp_py(x: float) -> float:
    """``e^x`` from +, -, *, ``floor`` and ``ldexp`` (each exact or correctly rounded), so it is
    the same bits on every CPU; :func:`distortion_bench.portable_math.exp`'s algorithm for one
    float. Clamped to +-708 (the circuit never comes near: |v| / (n V_T) stays below ~40)."""
    c = min(max(x, -_EXP_LIMIT), _EXP_LIMIT)
    n = math.floor(c * _LOG2E + 0.5)
    r = (c - n * _LN2_HI) - n * _LN2_LO
    acc = _EXP_COEFFS[13]
    for k in range(12, -1, -1):
        acc = acc * r + _EXP_COEFFS[k]
    return math.ldexp(acc, int(n))


_SQRT_HALF = 0.7071067811865476
_ATANH_COEFFS = tuple(1.0 / (2 * k + 1) for k in range(12))


def _log_py(x: float) -> float:
    """``log(x)`` for finite ``x >= 1`` (what the bracket needs) from ``frexp`` and basic operations:
    :func:`distortion_bench.portable_math.log`'s algorithm for one float."""
    m, e = math.frexp(x)
    if m < _SQRT_HALF:
        m *= 2.0
        e -= 1
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    acc = _ATANH_COEFFS[11]
    for k in range(10, -1, -1):
        acc = acc * z + _ATANH_COEFFS[k]
    return e * _LN2_HI + (2.0 * s * acc + e * _LN2_LO)


def _step_py(vp, fp, u, a, g_r, i_s, vf, vr, tol, max_iter):  # type: ignore[no-untyped-def]
    """One trapezoidal step of the node voltage (module docstring): returns
    ``(v, f(v, u), iterations, converged)``. ``vp``, ``fp``: the previous sample's voltage and
    ``f``; ``u``: the input voltage now; ``g_r = 1 / R``; ``vf``, ``vr``: ``m n V_T`` per direction."""
    rhs = vp + a * (u * g_r + fp)
    lin = 1.0 + a * g_r
    c = rhs / lin  # the root without the diodes: the root lies between 0 and c
    # ... and where the diodes alone would carry |rhs| / a, beyond which g(v) has the root's
    # other sign: v <= m_f n V_T log(1 + |rhs| / (a I_s)) (and the same below 0). Without this
    # bound a hard drive puts c tens of volts up, and Newton crawls down the exponential.
    knee = _log(1.0 + abs(rhs) / (a * i_s))
    lo, hi = (0.0, min(c, vf * knee)) if c >= 0.0 else (max(c, -vr * knee), 0.0)
    v = min(max(vp, lo), hi)
    iterations = 0
    converged = False
    while iterations < max_iter:
        iterations += 1
        ef = _exp(v / vf)
        er = _exp(-v / vr)
        g = v * lin + a * (i_s * (ef - 1.0) - i_s * (er - 1.0)) - rhs
        if g == 0.0:
            converged = True
            break
        if g > 0.0:
            hi = v
        else:
            lo = v
        step = g / (lin + a * (i_s * ef / vf + i_s * er / vr))
        if abs(step) <= tol:
            v -= step
            converged = True
            break
        new = v - step
        if not lo < new < hi:  # Newton would leave the bracket: bisect
            new = 0.5 * (lo + hi)
            if hi - lo <= tol:
                v = new
                converged = True
                break
        v = new
    if not converged:
        v = 0.5 * (lo + hi)
    f = (u - v) * g_r - (i_s * (_exp(v / vf) - 1.0) - i_s * (_exp(-v / vr) - 1.0))
    return v, f, iterations, converged


_exp = numba.njit(inline="always")(_exp_py)
_log = numba.njit(inline="always")(_log_py)
_step = numba.njit(inline="always")(_step_py)


@numba.njit(cache=True, nogil=True)
def _solve_block(hi, node, counts, drive, a, g_r, i_s, vf, vr, tol, max_iter):  # pragma: no cover - compiled
    """``hi`` ``(m,)`` float64: the input at the high rate (full scale), replaced by the node
    voltage; ``node`` ``(2,)``: ``v`` and ``f`` carried; ``counts`` int64 ``(4,)``: samples,
    iterations, the most iterations of one sample, samples not converged."""
    v, f = node[0], node[1]
    for j in range(hi.shape[0]):
        v, f, it, ok = _step(v, f, drive * hi[j], a, g_r, i_s, vf, vr, tol, max_iter)
        hi[j] = v
        counts[1] += it
        if it > counts[2]:
            counts[2] = it
        if not ok:
            counts[3] += 1
    counts[0] += hi.shape[0]
    node[0], node[1] = v, f


@dataclass
class DiodeClipperState:
    """Streaming state: ``node`` ``(2,)`` (voltage, ``f``), the filters' histories, the solver's
    counters ``(4,)`` int64 (samples, iterations, max per sample, not converged) and a high-rate
    scratch buffer (grown when a longer buffer comes)."""

    node: np.ndarray
    up_history: np.ndarray
    down_history: np.ndarray
    counts: np.ndarray
    scratch: np.ndarray

    def copy(self) -> DiodeClipperState:
        return DiodeClipperState(
            self.node.copy(), self.up_history.copy(), self.down_history.copy(), self.counts.copy(), self.scratch.copy()
        )


class DiodeClipper(Effect[DiodeClipperState]):
    """The clipper (module docstring); :class:`DiodeClipperNumba` and :class:`DiodeClipperNumpy`
    differ only in how they run it."""

    kind = "diode_clipper"

    def __init__(self, params: DiodeClipperParams, sample_rate: int) -> None:
        self.params = params
        self.sample_rate = int(sample_rate)
        self.oversampler = Oversampler.design(params.oversampling, "diode_clipper.oversampling")
        p = params
        self.thermal_v = BOLTZMANN * (p.temperature_c + KELVIN) / CHARGE
        self.vf = p.forward_diodes * p.diode_n * self.thermal_v
        self.vr = p.reverse_diodes * p.diode_n * self.thermal_v
        self.a = 1.0 / (2.0 * p.capacitance_f * self.sample_rate * p.oversampling)
        self.g_r = 1.0 / p.resistance_ohm

    def initial_state(self) -> DiodeClipperState:
        up, down = self.oversampler.initial_state()
        return DiodeClipperState(
            np.zeros(2), up, down, np.zeros(4, np.int64), np.zeros(4096 * self.params.oversampling)
        )

    def latency_samples(self) -> int:
        """The output's delay behind the input, samples (the oversampling filters')."""
        return latency_samples(self.params.oversampling)

    def solver_stats(self, state: DiodeClipperState) -> dict[str, float]:
        """Newton iterations per high-rate sample (mean, max) and samples not converged, since
        the stream began."""
        samples, iterations, most, failed = (int(c) for c in state.counts)
        return {
            "samples": samples,
            "iterations_mean": iterations / samples if samples else 0.0,
            "iterations_max": most,
            "not_converged": failed,
        }

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            **asdict(self.params),
            "thermal_voltage_v": self.thermal_v,
            "latency_samples": self.latency_samples(),
        }

    def _scratch(self, buffer: np.ndarray, state: DiodeClipperState) -> tuple[np.ndarray, np.ndarray]:
        """Views of the state's scratch: the buffer at the high rate ``(time * factor,)`` and the
        decimated node voltage ``(time,)``, float64 (grown, rarely, for a longer buffer)."""
        n = buffer.shape[0]
        m = n * self.params.oversampling
        if state.scratch.shape[0] < m + n:
            state.scratch = np.zeros(max(m + n, 2 * state.scratch.shape[0]))
        return state.scratch[:m], state.scratch[m : m + n]


class DiodeClipperNumba(DiodeClipper):
    """Compiled: the filters and the per-sample solve in Numba (no allocation per call once the
    scratch has grown to the longest buffer)."""

    implementation = "numba"

    def process(
        self, buffer: np.ndarray, state: DiodeClipperState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, DiodeClipperState]:
        out = check_buffers(buffer, out)
        p, o = self.params, self.oversampler
        hi, low = self._scratch(buffer, state)
        if p.oversampling == 1:
            hi[:] = buffer
        else:
            upsample(buffer, o.up_phases, state.up_history, hi)
        _solve_block(
            hi, state.node, state.counts, p.drive_v, self.a, self.g_r, p.diode_is, self.vf, self.vr,
            p.tolerance_v, p.max_iterations,
        )  # fmt: skip
        if p.oversampling == 1:
            low[:] = hi
        else:
            downsample(hi, o.taps, p.oversampling, state.down_history, low)
        np.multiply(low, p.output_gain, out=out, casting="same_kind")
        return out, state


class DiodeClipperNumpy(DiodeClipper):
    """Reference implementation: ``scipy.signal.lfilter`` for the filters (zero-stuffed up,
    every ``factor``-th output kept down, histories as ``zi``) and the same scalar solver in a
    Python loop (about a second per second of audio at factor 1: for tests and checks)."""

    implementation = "numpy"

    def initial_state(self) -> DiodeClipperState:
        """As the compiled one's, with the filters' histories as ``lfilter``'s ``zi``."""
        state = super().initial_state()
        numtaps = self.oversampler.taps.shape[0]
        state.up_history = np.zeros(max(numtaps - 1, 0))
        state.down_history = np.zeros(max(numtaps - 1, 0))
        return state

    def process(
        self, buffer: np.ndarray, state: DiodeClipperState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, DiodeClipperState]:
        out = check_buffers(buffer, out)
        p, o, L = self.params, self.oversampler, self.params.oversampling
        x = buffer.astype(np.float64)
        if L == 1:
            hi = x
        else:
            stuffed = np.zeros(x.shape[0] * L)
            stuffed[::L] = x
            hi, state.up_history = lfilter(L * o.taps, 1.0, stuffed, zi=state.up_history)
        v, f = float(state.node[0]), float(state.node[1])
        node = np.empty_like(hi)
        for j in range(hi.shape[0]):
            v, f, it, ok = _step_py(
                v, f, p.drive_v * float(hi[j]), self.a, self.g_r, p.diode_is, self.vf, self.vr,
                p.tolerance_v, p.max_iterations,
            )  # fmt: skip
            node[j] = v
            state.counts[1] += it
            state.counts[2] = max(int(state.counts[2]), it)
            state.counts[3] += 0 if ok else 1
        state.counts[0] += node.shape[0]
        state.node[:] = (v, f)
        if L == 1:
            y = node
        else:
            filtered, state.down_history = lfilter(o.taps, 1.0, node, zi=state.down_history)
            y = filtered[L - 1 :: L]
        out[:] = (y * p.output_gain).astype(np.float32)
        return out, state
