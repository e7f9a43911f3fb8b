"""Quality of one processor, as every benchmark measures it: its held-out test audio against the
DSP's, its harmonic fingerprints on test sines, aliasing on a high sine.

:func:`measure_processor` is what the offline stage runs per processor and what the ablation
runs per trained variant, so the two report the same figures for the same processor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench.analysis.harmonics import (
    Fingerprint,
    SineSpec,
    check_alias_free,
    difference_db,
    difference_measured,
)
from distortion_bench.bench.common import TestTakes
from distortion_bench.bench.quality import quality_by_material, sine_fingerprints, stream_each_take
from distortion_bench.engine.processor import Processor
from distortion_bench.errors import ConfigError

#: harmonics quieter than this (dB re fundamental) in the DSP output are left out of the
#: "max harmonic difference": a model's -130 dB vs the DSP's -160 dB is not a difference anyone hears
AUDIBLE_HARMONIC_DB = -100.0


@dataclass(frozen=True)
class QualityPlan:
    """How quality is measured (``bench.quality``): sines, the aliasing sine, the buffer size
    the takes stream in (samples) and the highest harmonic counted."""

    specs: list[SineSpec]
    alias: SineSpec
    sample_rate: int
    buffer_size: int
    max_harmonic: int


@dataclass
class Measured:
    """One processor's quality (:func:`quality_by_material`'s figures), its fingerprints (the
    plan's sines, then the aliasing sine) and its output takes (``(time,)`` each)."""

    quality: dict[str, Any]
    fingerprints: list[Fingerprint]
    outputs: list[np.ndarray]


def sine_specs(cfg: DictConfig) -> tuple[list[SineSpec], SineSpec]:
    """The fingerprint sines (every frequency at every level) and the aliasing sine."""
    q = cfg.bench.quality
    s = q.sines
    specs = [
        SineSpec(float(f), float(level), float(s.window_seconds), float(s.settle_seconds))
        for f in s.freqs_hz
        for level in s.levels_dbfs
    ]
    alias = SineSpec(
        float(q.aliasing.freq_hz), float(q.aliasing.level_dbfs), float(s.window_seconds), float(s.settle_seconds)
    )
    freqs = [float(f) for f in s.freqs_hz]
    if float(q.plot_freq_hz) not in freqs:
        raise ConfigError(
            f"bench.quality.plot_freq_hz: {float(q.plot_freq_hz):g} Hz is not one of the fingerprint sines "
            f"bench.quality.sines.freqs_hz {freqs}; the harmonics plot shows one of them"
        )
    sr = int(cfg.audio.sample_rate)
    order = int(s.alias_free_order)
    for spec in [*specs, alias]:
        try:
            spec.check(sr)
            check_alias_free(spec, sr, order)
        except ValueError as exc:
            raise ConfigError(f"bench.quality (alias_free_order {order}): {exc}") from exc
    return specs, alias


def quality_plan(cfg: DictConfig) -> QualityPlan:
    """``bench.quality`` and ``audio.sample_rate`` as a :class:`QualityPlan` (sines checked)."""
    specs, alias = sine_specs(cfg)
    q = cfg.bench.quality
    return QualityPlan(specs, alias, int(cfg.audio.sample_rate), int(q.buffer_size), int(q.max_harmonic))


@dataclass(frozen=True)
class HarmonicDifference:
    """The largest audible |model - reference| harmonic difference, in dB.

    ``measured``: over harmonics both fingerprints measured (above their floors); ``bounded``:
    over those where one side is at its measurement floor, a bound rather than a measurement
    (the level at the floor may truly be lower). None: no such harmonic.
    """

    measured: float | None
    bounded: float | None


def harmonic_report(
    fps: Sequence[Fingerprint], ref: Sequence[Fingerprint]
) -> tuple[list[dict[str, Any]], HarmonicDifference]:
    """Per sine: levels, floors, THD and difference to the reference; and the largest audible
    |difference| (harmonics the reference has above :data:`AUDIBLE_HARMONIC_DB`)."""
    out: list[dict[str, Any]] = []
    worst: dict[bool, float | None] = {True: None, False: None}
    for fp, r in zip(fps, ref):
        diff = difference_db(fp, r)
        exact = difference_measured(fp, r)
        out.append(
            {
                "freq_hz": fp.freq_hz,
                "level_dbfs": fp.level_dbfs,
                "harmonics_db": fp.harmonics_db,
                "floor_db": fp.floor_db,
                "measured": list(fp.measured),
                "thd": fp.thd,
                "thd_db": fp.thd_db,
                "aliasing_db": fp.aliasing_db,
                "diff_db": diff,
                "diff_measured": exact,
            }
        )
        for d, level, m in zip(diff, r.harmonics_db, exact):
            if d is not None and level is not None and level > AUDIBLE_HARMONIC_DB:
                key = bool(m)
                worst[key] = abs(d) if worst[key] is None else max(worst[key], abs(d))
    return out, HarmonicDifference(worst[True], worst[False])


def measure_processor(processor: Processor, takes: TestTakes, plan: QualityPlan) -> Measured:
    """Stream every test take from ``reset()`` and every sine through ``processor`` in buffers of
    ``plan.buffer_size``; score the takes against the targets."""
    outputs = stream_each_take(processor, takes.dry, plan.buffer_size)
    fps = sine_fingerprints(processor, [*plan.specs, plan.alias], plan.sample_rate, plan.buffer_size, plan.max_harmonic)
    quality = quality_by_material(takes.paths, takes.dry, takes.target, outputs, plan.sample_rate)
    return Measured(quality, fps, outputs)


def compare_harmonics(measured: Measured, reference: Measured, plan: QualityPlan) -> dict[str, Any]:
    """Harmonic and aliasing figures of ``measured`` against ``reference`` (the DSP):
    ``harmonic_diff_db`` (measured harmonics), ``harmonic_diff_bounded_db`` (one side at its
    floor), per-sine ``sines``, and ``aliasing``."""
    fps, ref = measured.fingerprints, reference.fingerprints
    sines, worst = harmonic_report(fps[:-1], ref[:-1])
    return {
        "harmonic_diff_db": worst.measured,
        "harmonic_diff_bounded_db": worst.bounded,
        "sines": sines,
        "aliasing": {
            "freq_hz": plan.alias.freq_hz,
            "level_dbfs": plan.alias.level_dbfs,
            "aliasing_db": fps[-1].aliasing_db,
            "reference_aliasing_db": ref[-1].aliasing_db,
        },
    }
