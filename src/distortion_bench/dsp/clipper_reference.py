"""A reference for the diode clipper that nobody here tuned: ``scipy.integrate.solve_ivp``.

The same ODE as :mod:`.diode_clipper`, ``C dv/dt = (u(t) - v) / R - i_d(v)``, integrated by an
implicit Runge-Kutta method (Radau IIA, order 5, with the analytic Jacobian; the problem is
stiff where the diodes conduct) at tight tolerances, on an input given as a function of
continuous time, so neither the DSP's discretisation nor its oversampling filters are in it.

To compare with the DSP, which band-limits its output (its decimation filter) and delays it
(its filters' latency), :func:`band_limited_reference` samples the reference's node voltage at
16 times the sample rate, shifted in time so the delays agree, and decimates it with the DSP's
own factor-16 filter. What is left between the two is the DSP's discretisation and solver error
and the difference of two filters' pass bands (both designed flat to 0.9 of Nyquist).

Slow (seconds for tens of milliseconds): for tests and stage-level checks on short signals.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

from distortion_bench.dsp.diode_clipper import BOLTZMANN, CHARGE, KELVIN
from distortion_bench.dsp.oversampling import TAPS_PER_PHASE, Oversampler, downsample, latency_samples
from distortion_bench.dsp.params import DiodeClipperParams

#: the reference's sampling rate as a multiple of the audio rate, before its decimation
REFERENCE_FACTOR = 16


def node_voltage(
    signal: Callable[[np.ndarray], np.ndarray],
    times: np.ndarray,
    params: DiodeClipperParams,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> np.ndarray:
    """The node voltage (volts) at ``times`` (seconds, increasing, ``(n,)``) for the input
    ``signal(t)`` (full scale; zero before ``t = 0``), from rest at ``t = 0``."""
    p = params
    vt = BOLTZMANN * (p.temperature_c + KELVIN) / CHARGE
    vf, vr = p.forward_diodes * p.diode_n * vt, p.reverse_diodes * p.diode_n * vt
    i_s, r, c = p.diode_is, p.resistance_ohm, p.capacitance_f

    def rhs(t: float, v: np.ndarray) -> np.ndarray:
        u = p.drive_v * float(signal(np.array([t]))[0]) if t >= 0.0 else 0.0
        x = float(v[0])
        i_d = i_s * (math.exp(x / vf) - 1.0) - i_s * (math.exp(-x / vr) - 1.0)
        return np.array([((u - x) / r - i_d) / c])

    def jac(t: float, v: np.ndarray) -> np.ndarray:
        x = float(v[0])
        di = i_s * math.exp(x / vf) / vf + i_s * math.exp(-x / vr) / vr
        return np.array([[-(1.0 / r + di) / c]])

    inside = times[times >= 0.0]
    out = np.zeros(times.shape[0])
    if inside.shape[0] == 0:
        return out
    # the step may not exceed a fraction of the RC time constant, so no input feature is stepped over
    sol = solve_ivp(
        rhs,
        (0.0, float(inside[-1])),
        [0.0],
        method="Radau",
        t_eval=inside,
        rtol=rtol,
        atol=atol,
        jac=jac,
        max_step=0.25 * r * c,
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp: {sol.message}")
    out[times >= 0.0] = sol.y[0]
    return out


def band_limited_reference(
    signal: Callable[[np.ndarray], np.ndarray],
    samples: int,
    sample_rate: int,
    params: DiodeClipperParams,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> np.ndarray:
    """``(samples,)`` float64: what the DSP at ``params.oversampling`` should output for
    ``signal`` (full scale, a function of seconds): the reference node voltage times the
    output gain, band-limited by the factor-16 decimation filter and delayed by the DSP's
    latency (module docstring); ``rtol``, ``atol``: the solver's (:func:`node_voltage`)."""
    r = REFERENCE_FACTOR
    hi_rate = r * sample_rate
    # output i of the decimation reads the block's last sample through the filter's half-length
    # delay: time i / fs + ((r - 1) - (r TAPS_PER_PHASE - 1) / 2) / hi_rate; the DSP's output i
    # is the input's time i / fs - latency
    lead = ((r - 1) - (r * TAPS_PER_PHASE - 1) / 2) / hi_rate
    shift = latency_samples(params.oversampling) / sample_rate + lead
    times = np.arange(samples * r) / hi_rate - shift
    v = node_voltage(signal, times, params, rtol, atol)
    o = Oversampler.design(REFERENCE_FACTOR)
    y = np.zeros(samples)
    downsample(v, o.taps, REFERENCE_FACTOR, np.zeros(o.taps.shape[0] - 1), y)
    return params.output_gain * y
