"""Builds effects from config: ``{kind: tube_saturator, gain_db: ...}`` -> :class:`Effect`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distortion_bench.dsp.base import Effect
from distortion_bench.dsp.bitcrush import BitcrusherNumba, BitcrusherNumpy
from distortion_bench.dsp.knobs import knob_space_from_config
from distortion_bench.dsp.params import (
    bitcrusher_params_from_config,
    diode_clipper_params_from_config,
    tube_params_from_config,
)
from distortion_bench.dsp.tube import DEFAULT_SMOOTHING_S, TUBE_KNOBS, TubeSaturatorNumba, TubeSaturatorNumpy
from distortion_bench.errors import ConfigError

IMPLEMENTATIONS = ("numpy", "numba")
KINDS = ("tube_saturator", "bitcrusher", "diode_clipper")
#: config keys of an effect that describe its knobs: the space a conditioned model learns and
#: the smoothing time of knob changes (:mod:`.knobs`)
KNOB_KEYS = ("knobs", "smoothing_ms")


def build_effect(
    cfg: Mapping[str, Any], sample_rate: int, implementation: str = "numba", key: str = "effect"
) -> Effect[Any]:
    """Build an effect from its config mapping.

    Args:
        cfg: mapping with ``kind`` and the kind's parameters.
        sample_rate: in Hz.
        implementation: ``"numpy"`` or ``"numba"``.
        key: the mapping's path in the config, named in error messages.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ConfigError(f"implementation: expected one of {IMPLEMENTATIONS}, got {implementation!r}")
    kind = cfg.get("kind")
    # the knob keys are the effect's, not the fixed setting's parameters
    fixed = {k: v for k, v in cfg.items() if k not in KNOB_KEYS}
    if kind == "tube_saturator":
        params = tube_params_from_config(fixed, sample_rate, key)
        cls = TubeSaturatorNumba if implementation == "numba" else TubeSaturatorNumpy
        knobs = knob_space_from_config(cfg.get("knobs"), TUBE_KNOBS, f"{key}.knobs") if "knobs" in cfg else None
        return cls(params, sample_rate, knobs, _smoothing_s(cfg, key))
    if kind == "bitcrusher":
        bparams = bitcrusher_params_from_config(fixed, key)
        bcls = BitcrusherNumba if implementation == "numba" else BitcrusherNumpy
        bknobs = knob_space_from_config(cfg.get("knobs"), {"bits": "bits"}, f"{key}.knobs") if "knobs" in cfg else None
        return bcls(bparams, sample_rate, bknobs)
    if kind == "diode_clipper":
        # imported here: the clipper's solver compiles on first use, which the others need not wait for
        from distortion_bench.dsp.diode_clipper import DiodeClipperNumba, DiodeClipperNumpy

        if "knobs" in cfg:
            raise ConfigError(
                f"{key}.knobs: a diode_clipper takes no knobs yet (its drive_v and output_gain are fixed parameters)"
            )
        cparams = diode_clipper_params_from_config(fixed, key)
        ccls = DiodeClipperNumba if implementation == "numba" else DiodeClipperNumpy
        return ccls(cparams, sample_rate)
    raise ConfigError(f"{key}.kind: expected one of {KINDS}, got {kind!r}")


def _smoothing_s(cfg: Mapping[str, Any], key: str) -> float:
    value = cfg.get("smoothing_ms", 1000.0 * DEFAULT_SMOOTHING_S)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10_000:
        raise ConfigError(f"{key}.smoothing_ms: expected a time constant in 0..10000 ms, got {value!r}")
    return float(value) / 1000.0
