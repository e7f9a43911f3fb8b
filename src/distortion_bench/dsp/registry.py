"""Builds effects from config: ``{kind: tube_saturator, gain_db: ...}`` -> :class:`Effect`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distortion_bench.dsp.base import Effect
from distortion_bench.dsp.bitcrush import BitcrusherNumba, BitcrusherNumpy
from distortion_bench.dsp.params import bitcrusher_params_from_config, tube_params_from_config
from distortion_bench.dsp.tube import TubeSaturatorNumba, TubeSaturatorNumpy
from distortion_bench.errors import ConfigError

IMPLEMENTATIONS = ("numpy", "numba")
KINDS = ("tube_saturator", "bitcrusher")


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
    if kind == "tube_saturator":
        params = tube_params_from_config(cfg, sample_rate, key)
        cls = TubeSaturatorNumba if implementation == "numba" else TubeSaturatorNumpy
        return cls(params, sample_rate)
    if kind == "bitcrusher":
        bparams = bitcrusher_params_from_config(cfg, key)
        bcls = BitcrusherNumba if implementation == "numba" else BitcrusherNumpy
        return bcls(bparams, sample_rate)
    raise ConfigError(f"{key}.kind: expected one of {KINDS}, got {kind!r}")
