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


@dataclass(frozen=True)
class DiodeClipperParams:
    """Asymmetric diode clipper (:mod:`~distortion_bench.dsp.diode_clipper`).

    Attributes:
        drive_v: input volts per full scale (the input drive).
        output_gain: full scale per volt of the node (the output level).
        resistance_ohm: series resistor R, ohms.
        capacitance_f: capacitor C to ground, farads.
        diode_is: diode saturation current, amperes (1N4148: 2.52 nA).
        diode_n: diode emission coefficient (1N4148: 1.752).
        temperature_c: junction temperature, degrees C (sets the thermal voltage).
        forward_diodes: diodes in series conducting for a positive node (2 in the circuit).
        reverse_diodes: diodes in series conducting for a negative node (1).
        oversampling: the solver's rate as a multiple of the sample rate (1, 2, 4, 8, 16).
        tolerance_v: Newton stops when a step moves the node by at most this, volts.
        max_iterations: Newton's iteration cap per sample.
    """

    drive_v: float = 4.0
    output_gain: float = 0.8
    resistance_ohm: float = 2200.0
    capacitance_f: float = 10e-9
    diode_is: float = 2.52e-9
    diode_n: float = 1.752
    temperature_c: float = 27.0
    forward_diodes: int = 2
    reverse_diodes: int = 1
    oversampling: int = 8
    tolerance_v: float = 1e-9
    max_iterations: int = 50


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


def diode_clipper_params_from_config(cfg: Mapping[str, Any], key: str = "effect") -> DiodeClipperParams:
    """Validate a diode-clipper config mapping; ``key`` is its path, used in error messages."""
    from distortion_bench.dsp.oversampling import FACTORS

    d = DiodeClipperParams()
    _check_keys(cfg, {f.name for f in fields(DiodeClipperParams)}, key)
    positive = {}
    for name, hi in (
        ("drive_v", 1e3),
        ("output_gain", 1e3),
        ("resistance_ohm", 1e9),
        ("capacitance_f", 1.0),
        ("diode_is", 1e-3),
        ("diode_n", 10.0),
        ("tolerance_v", 1e-2),
    ):
        value = _number(cfg, name, key, getattr(d, name))
        if not 0.0 < value <= hi:
            raise ConfigError(f"{key}.{name}: expected a positive value up to {hi:g}, got {value!r}")
        positive[name] = value
    temperature = _number(cfg, "temperature_c", key, d.temperature_c)
    if not -50.0 <= temperature <= 150.0:
        raise ConfigError(f"{key}.temperature_c: expected -50..150 degrees C, got {temperature!r}")
    oversampling = cfg.get("oversampling", d.oversampling)
    if isinstance(oversampling, bool) or oversampling not in FACTORS:
        raise ConfigError(f"{key}.oversampling: expected one of {list(FACTORS)}, got {oversampling!r}")
    return DiodeClipperParams(
        **positive,
        temperature_c=temperature,
        forward_diodes=_integer(cfg, "forward_diodes", key, d.forward_diodes, 1, 8),
        reverse_diodes=_integer(cfg, "reverse_diodes", key, d.reverse_diodes, 1, 8),
        oversampling=int(oversampling),
        max_iterations=_integer(cfg, "max_iterations", key, d.max_iterations, 1, 1000),
    )
