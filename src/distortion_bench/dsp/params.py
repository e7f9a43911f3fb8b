"""Typed, validated effect parameters built from config mappings.

Errors name the config key (e.g. ``effects.bitcrush.bits``) and the expected value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from distortion_bench.errors import ConfigError


@dataclass(frozen=True)
class TubeSaturatorParams:
    """Tube saturator: ``y = LPF(tanh(k*x + bias) - tanh(bias))``, ``k = 10^(gain_db/20)``.

    Attributes:
        gain_db: input gain in dB.
        bias: DC bias added before ``tanh`` (asymmetry; even harmonics).
        lowpass_hz: Butterworth low-pass cutoff (-3 dB) in Hz.
        lowpass_order: Butterworth order (1..16).
    """

    gain_db: float = 12.0
    bias: float = 0.2
    lowpass_hz: float = 4000.0
    lowpass_order: int = 2


@dataclass(frozen=True)
class BitcrusherParams:
    """Bitcrusher: clip to [-1, 1], N-bit mid-tread quantization, optional sample-and-hold.

    Attributes:
        bits: word length N, 1..24; levels are ``k / 2^(N-1)`` for integer
            ``k`` in ``[-2^(N-1), 2^(N-1) - 1]`` (two's-complement PCM: 2^N levels, 0 included).
        downsample: sample-and-hold factor >= 1 (1 = no sample-rate reduction).
    """

    bits: int = 8
    downsample: int = 1


def _number(cfg: Mapping[str, Any], name: str, key: str, default: float) -> float:
    value = cfg.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key}.{name}: expected a finite number, got {value!r}")
    return float(value)


def _integer(cfg: Mapping[str, Any], name: str, key: str, default: int, lo: int, hi: int) -> int:
    value = cfg.get(name, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{key}.{name}: expected an integer in {lo}..{hi}, got {value!r}")
    return value


def _check_keys(cfg: Mapping[str, Any], allowed: set[str], key: str) -> None:
    unknown = sorted(set(cfg) - allowed - {"kind"})
    if unknown:
        raise ConfigError(f"{key}: unknown parameter(s) {unknown}; expected some of {sorted(allowed)}")


def tube_params_from_config(cfg: Mapping[str, Any], sample_rate: int, key: str = "effect") -> TubeSaturatorParams:
    """Validate a tube-saturator config mapping; ``key`` is its path, used in error messages."""
    defaults = TubeSaturatorParams()
    _check_keys(cfg, {f.name for f in fields(TubeSaturatorParams)}, key)
    gain_db = _number(cfg, "gain_db", key, defaults.gain_db)
    if not -60.0 <= gain_db <= 60.0:
        raise ConfigError(f"{key}.gain_db: expected -60..60 dB, got {gain_db}")
    bias = _number(cfg, "bias", key, defaults.bias)
    if abs(bias) >= 3.0:
        # tanh is flat beyond |3|: the signal would be crushed to a constant.
        raise ConfigError(f"{key}.bias: expected |bias| < 3, got {bias}")
    lowpass_hz = _number(cfg, "lowpass_hz", key, defaults.lowpass_hz)
    if not 0.0 < lowpass_hz < sample_rate / 2:
        raise ConfigError(
            f"{key}.lowpass_hz: expected a cutoff in (0, {sample_rate / 2:g}) Hz for a "
            f"{sample_rate} Hz sample rate, got {lowpass_hz}"
        )
    order = _integer(cfg, "lowpass_order", key, defaults.lowpass_order, 1, 16)
    return TubeSaturatorParams(gain_db=gain_db, bias=bias, lowpass_hz=lowpass_hz, lowpass_order=order)


def bitcrusher_params_from_config(cfg: Mapping[str, Any], key: str = "effect") -> BitcrusherParams:
    """Validate a bitcrusher config mapping; ``key`` is its path, used in error messages."""
    defaults = BitcrusherParams()
    _check_keys(cfg, {f.name for f in fields(BitcrusherParams)}, key)
    bits = _integer(cfg, "bits", key, defaults.bits, 1, 24)
    downsample = _integer(cfg, "downsample", key, defaults.downsample, 1, 1 << 16)
    return BitcrusherParams(bits=bits, downsample=downsample)
