"""The synthesized dry corpus: guitar-like takes and measurement signals, from one seed.

Each take is a separate "recording" with its own seed (derived from the master seed, the kind
of material and the take's index), so adding takes of one kind never changes the others.
Guitar-like takes get peak levels spread evenly over ``level_range_dbfs`` (stratified: one level
per equal slice of the range, in a shuffled order), because distortion depends on level.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distortion_bench.errors import ConfigError
from distortion_bench.synth.guitar import RENDERERS
from distortion_bench.synth.measurement import db_to_amplitude, log_sweep, noise_bursts, tone

#: Stable index of each kind of material in seed derivation (append new kinds at the end).
MATERIAL_KINDS = ("pluck", "chord", "palm_mute", "slide", "bass", "sweep", "tone", "noise")


@dataclass(frozen=True)
class SynthTake:
    """One synthesized take.

    Attributes:
        category: kind of material, one of :data:`MATERIAL_KINDS`.
        name: file stem, unique in the corpus, e.g. ``"pluck_003"``.
        samples: shape ``(time,)`` float32.
        details: what was synthesized (JSON-serializable), for the manifest.
    """

    category: str
    name: str
    samples: np.ndarray
    details: dict[str, Any] = field(default_factory=dict)


def _rng(seed: int, kind: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), MATERIAL_KINDS.index(kind), int(index)])


def _normalize_peak(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    peak = np.abs(x).max()
    if peak == 0.0:
        return x.astype(np.float32)
    return (x * (db_to_amplitude(level_dbfs) / peak)).astype(np.float32)


def _pair(value: Any, key: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: expected [low, high], got {value!r}") from exc
    if not lo <= hi:
        raise ConfigError(f"{key}: expected low <= high, got {value!r}")
    return lo, hi


def guitar_takes(
    cfg: Mapping[str, Any], level_range: tuple[float, float], sample_rate: int, seed: int
) -> Iterator[SynthTake]:
    """Guitar-like takes per ``data.synth.guitar`` (``takes`` per kind, ``take_seconds``)."""
    lo_s, hi_s = _pair(cfg["take_seconds"], "data.synth.guitar.take_seconds")
    if lo_s < 0.5:
        raise ConfigError(f"data.synth.guitar.take_seconds: takes must last >= 0.5 s, got {lo_s}")
    for kind, count in cfg["takes"].items():
        if kind not in RENDERERS:
            raise ConfigError(f"data.synth.guitar.takes.{kind}: unknown material; expected some of {sorted(RENDERERS)}")
        if not isinstance(count, int) or count < 0:
            raise ConfigError(f"data.synth.guitar.takes.{kind}: expected a count >= 0, got {count!r}")
        # Stratified levels: take i gets a level in its own slice of the range.
        order = _rng(seed, kind, 1 << 20).permutation(count)
        for i in range(count):
            rng = _rng(seed, kind, i)
            seconds = float(rng.uniform(lo_s, hi_s))
            level = level_range[0] + (level_range[1] - level_range[0]) * (order[i] + rng.random()) / count
            x = RENDERERS[kind](rng, seconds, sample_rate)
            yield SynthTake(
                kind,
                f"{kind}_{i:03d}",
                _normalize_peak(x, level),
                {"seconds": round(seconds, 6), "peak_dbfs": round(level, 3)},
            )


def measurement_takes(cfg: Mapping[str, Any], sample_rate: int, seed: int) -> Iterator[SynthTake]:
    """Sweeps, tones and noise bursts per ``data.synth.measurement``."""
    sweep = cfg["sweep"]
    for i, level in enumerate(sweep["levels_dbfs"]):
        x = log_sweep(
            float(sweep["seconds"]), float(sweep["f_start_hz"]), float(sweep["f_end_hz"]), float(level), sample_rate
        )
        yield SynthTake(
            "sweep",
            f"sweep_{i:03d}",
            x.astype(np.float32),
            {"peak_dbfs": float(level), "f_start_hz": float(sweep["f_start_hz"]), "f_end_hz": float(sweep["f_end_hz"])},
        )
    tones = cfg["tone"]
    i = 0
    for freq in tones["freqs_hz"]:
        for level in tones["levels_dbfs"]:
            x = tone(float(freq), float(level), float(tones["seconds"]), sample_rate)
            yield SynthTake(
                "tone", f"tone_{i:03d}", x.astype(np.float32), {"freq_hz": float(freq), "peak_dbfs": float(level)}
            )
            i += 1
    noise = cfg["noise"]
    for i, level in enumerate(noise["levels_dbfs"]):
        x = noise_bursts(_rng(seed, "noise", i), float(level), float(noise["seconds"]), sample_rate)
        yield SynthTake("noise", f"noise_{i:03d}", x.astype(np.float32), {"peak_dbfs": float(level)})


def synthesize_corpus(synth_cfg: Mapping[str, Any], sample_rate: int, seed: int) -> Iterator[SynthTake]:
    """All takes of the dry corpus per ``data.synth``, in a fixed order."""
    level_range = _pair(synth_cfg["level_range_dbfs"], "data.synth.level_range_dbfs")
    yield from guitar_takes(synth_cfg["guitar"], level_range, sample_rate, seed)
    yield from measurement_takes(synth_cfg["measurement"], sample_rate, seed)
