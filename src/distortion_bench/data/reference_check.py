"""The stage-level check of a circuit-modelled target against a reference nobody here tuned.

Before ``render_targets`` renders the corpus through the diode clipper, the configured solver
(its oversampling factor, tolerance, drive and components as in ``effects.<name>``) runs on
short check signals and is compared with ``scipy.integrate.solve_ivp`` on the same ODE
(:mod:`distortion_bench.dsp.clipper_reference`): a low and a high sine where the diodes
conduct hard, and a plucked note (5 ms each; the reference takes seconds per signal). A target further than :data:`ESR_BOUND` from the reference
on any of them is refused, naming the key to change: the networks would otherwise learn a
solver's error as if it were the circuit.

Effects without a reference (the tube saturator and the bitcrusher, exact by construction)
are not checked. The manifest records the bound and that the check passed (portable: the
figures themselves come from an adaptive solver whose last bits depend on the CPU, so they are
logged, not stored).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from distortion_bench.dsp.clipper_reference import band_limited_reference
from distortion_bench.dsp.diode_clipper import DiodeClipperNumba
from distortion_bench.dsp.params import diode_clipper_params_from_config
from distortion_bench.errors import ConfigError

log = logging.getLogger(__name__)

#: the largest ESR against the reference a rendered target may have on any check signal (the
#: default clipper, 4 V drive, measures at most 1.8e-8 at 16x and 2.8e-7 at 8x, both on the 5 kHz
#: sine; at 4x that sine is 4e-6 off, and refused)
ESR_BOUND = 1e-6
#: samples per check signal and the start-up left out (filters and the reference's sudden input)
CHECK_SAMPLES, SKIP_SAMPLES = 240, 120


def guitar_like(t: np.ndarray) -> np.ndarray:
    """A plucked 110 Hz note: ten harmonics falling 6 dB per octave, each decaying faster than
    the one below, under a 2 ms attack (a function of seconds, full scale)."""
    attack = np.minimum(t / 0.002, 1.0)
    return 0.8 * attack * sum(np.exp(-t * 8.0 * k) * np.sin(2 * np.pi * 110 * k * t) / k for k in range(1, 11))


#: a function of seconds, full scale
CHECK_SIGNALS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "100 Hz sine at 0.9": lambda t: 0.9 * np.sin(2 * np.pi * 100 * t),
    "5 kHz sine at 0.9": lambda t: 0.9 * np.sin(2 * np.pi * 5000 * t),
    "plucked 110 Hz note": guitar_like,
}


def reference_esr(effect_cfg: Mapping[str, Any], sample_rate: int, where: str) -> dict[str, float]:
    """The configured clipper's ESR against the solve_ivp reference per check signal (ratios)."""
    params = diode_clipper_params_from_config(dict(effect_cfg), where)
    out = {}
    for name, signal in CHECK_SIGNALS.items():
        x = signal(np.arange(CHECK_SAMPLES) / sample_rate).astype(np.float32)
        y = DiodeClipperNumba(params, sample_rate).process_signal(x).astype(np.float64)
        ref = band_limited_reference(signal, CHECK_SAMPLES, sample_rate, params, rtol=1e-8, atol=1e-10)
        err = y[SKIP_SAMPLES:] - ref[SKIP_SAMPLES:]
        out[name] = float(np.sum(err**2) / np.sum(ref[SKIP_SAMPLES:] ** 2))
    return out


def check_target(effect_cfg: Mapping[str, Any], sample_rate: int, where: str) -> dict[str, Any] | None:
    """For an effect with a reference (``kind: diode_clipper``): its ESR per check signal,
    refused above :data:`ESR_BOUND`; the manifest's record (``{"reference": ..., "esr_bound":
    ..., "passed": true}``). None for an effect without one."""
    if effect_cfg.get("kind") != "diode_clipper":
        return None
    esr = reference_esr(effect_cfg, sample_rate, where)
    log.info("%s against the solve_ivp reference (ESR per check signal): %s", where, esr)
    worst = max(esr, key=lambda k: esr[k])
    if esr[worst] > ESR_BOUND:
        raise ConfigError(
            f"{where}: the target's solver is {esr[worst]:.2g} (ESR) from the solve_ivp reference on the "
            f"{worst}, above the bound {ESR_BOUND:g}; raise {where}.oversampling (16 for a target) or "
            f"lower {where}.tolerance_v"
        )
    return {"reference": "scipy.integrate.solve_ivp (Radau)", "signals": list(esr), "esr_bound": ESR_BOUND, "passed": True}
