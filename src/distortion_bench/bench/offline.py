"""Stage ``offline_bench``: quality and speed of every processor of every effect.

Per effect of ``train_matrix``: the processors of :func:`..selection.bench_entries`
stream the effect's held-out test takes (quality against the Numba DSP output, harmonic
fingerprints on test sines, aliasing on a high sine), then are timed interleaved at every
``bench.buffer_sizes`` (:class:`~distortion_bench.bench.timing.AudioBenchmark`), and,
with ``bench.memory_probe``, each runs once more in its own process for its peak RSS.

Outputs (``paths.reports`` = R):

- ``R/offline_bench.csv``: one row per (effect, processor, backend, buffer_size);
- ``R/quality.json``: per effect and processor the quality metrics and fingerprints;
- ``R/offline_bench.json``: a small summary for ``dvc metrics show``, with the speed targets;
- ``R/offline/details.json`` (facts, memory, first calls) and ``R/offline/latency.csv``
  (long format for ``dvc plots``);
- ``R/plots/offline/*.png``: latency, RTF, quality vs speed, waveforms, spectrograms, harmonics;
- ``R/comparison.md``: the comparison table (expected vs measured) with the measured numbers;
- ``paths.processed/<effect>/*.wav``: processed test audio of every processor, for listening;
- MLflow: each model's training run and each effect's ``dsp-baseline`` run get the metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from distortion_bench.analysis.harmonics import Fingerprint
from distortion_bench.analysis.machine_load import LoadMonitor, MachineLoad
from distortion_bench.atomic import atomic_directory, write_json, write_text
from distortion_bench.audio_io import write_audio
from distortion_bench.bench.common import csv_text, test_takes
from distortion_bench.bench.comparison import (
    capture_summary,
    comparison_markdown,
    effect_table,
    kernel_table,
    material_table,
    seed_statements,
)
from distortion_bench.bench.crossover_report import (
    check_targets,
    crossover_markdown,
    crossover_report,
    write_crossover_plots,
)
from distortion_bench.bench.measure import compare_harmonics, measure_processor, quality_plan
from distortion_bench.bench.memory_probe import probe
from distortion_bench.bench.offline_mlflow import log_to_mlflow
from distortion_bench.bench.offline_outputs import (
    CSV_COLUMNS,
    details,
    latency_long,
    machine_description,
    quality_report,
    summary,
    table_rows,
    write_plots,
)
from distortion_bench.bench.quality import as_jsonable
from distortion_bench.bench.seeds import seed_spread
from distortion_bench.bench.selection import BenchEntry, bench_effects, bench_entries, dsp_variants
from distortion_bench.bench.targets import thresholds
from distortion_bench.bench.timing import AudioBenchmark, TimingConfig, TimingStats
from distortion_bench.config import plain
from distortion_bench.engine.dsp_processors import DspProcessor
from distortion_bench.engine.processor import Processor, ProcessorFacts
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import ConfigError
from distortion_bench.kernels.vector_peak import vector_peak

log = logging.getLogger(__name__)

__all__ = ["CSV_COLUMNS", "EffectResult", "bench_effect", "run"]

MEMORY_PROBE = {"buffer_size": 512, "seconds": 2.0}


@dataclass
class EffectResult:
    effect: str
    entries: list[BenchEntry]
    facts: dict[str, ProcessorFacts]
    build_ms: dict[str, float]
    quality: dict[str, dict[str, Any]]
    fingerprints: dict[str, list[Fingerprint]]
    timing: dict[int, dict[str, TimingStats]] = field(default_factory=dict)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)
    listen: dict[str, np.ndarray] = field(default_factory=dict)
    solver: dict[str, dict[str, float]] = field(default_factory=dict)
    machine_load: MachineLoad | None = None


def _build(entries: Sequence[BenchEntry], cfg: DictConfig) -> tuple[dict[str, Processor], dict[str, float]]:
    procs, build_ms = {}, {}
    for e in entries:
        t0 = time.perf_counter()
        p = build_processor(e.name, cfg, int(cfg.bench.threads))
        p.process_buffer(np.zeros(64, np.float32))  # compilation / session warm-up counted here
        build_ms[e.name] = 1000.0 * (time.perf_counter() - t0)
        procs[e.name] = p
    return procs, build_ms


def bench_effect(cfg: DictConfig, effect: str) -> EffectResult:
    """Quality, timing and memory of every processor of ``effect``, and how busy the machine was."""
    with LoadMonitor() as monitor:
        result = _bench_effect(cfg, effect)
    result.machine_load = monitor.result
    if result.machine_load is not None and result.machine_load.busy:
        log.warning("offline_bench %s: %s", effect, result.machine_load.describe())
    return result


def _bench_effect(cfg: DictConfig, effect: str) -> EffectResult:
    sr = int(cfg.audio.sample_rate)
    entries = bench_entries(cfg, effect)
    procs, build_ms = _build(entries, cfg)
    facts = {n: p.facts() for n, p in procs.items()}
    takes = test_takes(cfg, effect)
    dry = np.concatenate(takes.dry)
    plan = quality_plan(cfg)
    listen_n = int(float(cfg.bench.listen_seconds) * sr)
    result = EffectResult(effect, entries, facts, build_ms, {}, {})
    result.listen["dry"] = dry[:listen_n]
    measured = {}
    for e in entries:
        m = measured[e.name] = measure_processor(procs[e.name], takes, plan)
        result.listen[e.name] = np.concatenate(m.outputs)[:listen_n]
        result.fingerprints[e.name] = m.fingerprints
        q = result.quality[e.name] = m.quality
        if e.model is not None:
            q["seeds"] = seed_spread(cfg, effect, e.model)
        log.info(
            "%s quality: ESR %s, residual %s; guitar ESR %s, measurement ESR %s",
            e.name,
            q["esr"],
            q["residual_esr"],
            q["by_group"].get("guitar", {}).get("esr"),
            q["by_group"].get("measurement", {}).get("esr"),
        )
    reference = measured[f"numba:{effect}"]
    for e in entries:
        result.quality[e.name].update(compare_harmonics(measured[e.name], reference, plan))
    result.solver = solver_counts(procs, entries, takes.dry, int(cfg.bench.quality.buffer_size))
    bench = AudioBenchmark(procs, sr, TimingConfig(**plain(cfg.bench.timing)))
    for bs in sorted(int(b) for b in cfg.bench.buffer_sizes):
        result.timing[bs] = bench.run(dry, bs)
        log.info("%s bs %d: %s", effect, bs, {n: round(s.p50_us, 2) for n, s in result.timing[bs].items()})
    if cfg.bench.memory_probe:
        config = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(config, dict)
        config.pop("hydra", None)
        for e in entries:
            result.memory[e.name] = probe(config, e.name, **MEMORY_PROBE)
    return result


def solver_counts(
    procs: dict[str, Processor], entries: Sequence[BenchEntry], takes: Sequence[np.ndarray], buffer_size: int
) -> dict[str, dict[str, float]]:
    """Per iterative DSP processor (the clipper's Newton solver) its counters over the test takes
    (each take streamed from reset, the counts summed): iterations per high-rate sample, mean and
    max, and samples not converged. Processors without a solver are left out."""
    out: dict[str, dict[str, float]] = {}
    for e in entries:
        proc = procs[e.name]
        if not isinstance(proc, DspProcessor) or proc.solver_stats() is None:
            continue
        samples = iterations = most = failed = 0
        for take in takes:
            proc.reset()
            for start in range(0, take.shape[0], buffer_size):
                proc.process_buffer(take[start : start + buffer_size])
            s = proc.solver_stats()
            assert s is not None
            samples += int(s["samples"])
            iterations += round(s["iterations_mean"] * s["samples"])
            most = max(most, int(s["iterations_max"]))
            failed += int(s["not_converged"])
        proc.reset()
        out[e.name] = {
            "samples": samples,
            "iterations_mean": iterations / samples if samples else 0.0,
            "iterations_max": most,
            "not_converged": failed,
        }
        log.info("%s solver over the test takes: %s", e.name, out[e.name])
    return out


def crossovers(
    cfg: DictConfig, results: Sequence[EffectResult], rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The crossover report (:mod:`.crossover_report`) of every effect with DSP variants."""
    cross = cfg.bench.crossover
    targets = check_targets(list(cross.esr_targets))
    sizes = [int(b) for b in cross.buffer_sizes]
    missing = [b for b in sizes if b not in {int(x) for x in cfg.bench.buffer_sizes}]
    if missing:
        raise ConfigError(f"bench.crossover.buffer_sizes: {missing} are not timed; expected some of bench.buffer_sizes")
    return [
        crossover_report(res.effect, res.entries, res.quality, rows, sizes, targets, res.solver)
        for res in results
        if dsp_variants(cfg, res.effect)
    ]


def run(cfg: DictConfig) -> None:
    """Stage ``offline_bench`` (see the module docstring)."""
    effects = bench_effects(cfg)
    sr = int(cfg.audio.sample_rate)
    thresholds(plain(cfg.bench.targets))  # a bad target is refused before anything is measured
    check_targets(list(cfg.bench.crossover.esr_targets))
    results = [bench_effect(cfg, effect) for effect in effects]
    rows = [r for res in results for r in table_rows(res)]
    cross = crossovers(cfg, results, rows)
    reports = Path(cfg.paths.reports)
    write_text(reports / "offline_bench.csv", csv_text(rows, CSV_COLUMNS))
    write_json(reports / "quality.json", as_jsonable({res.effect: quality_report(res) for res in results}))
    write_json(reports / "offline_bench.json", summary(cfg, results, rows))
    with atomic_directory(reports / "offline") as tmp:
        write_json(tmp / "details.json", details(results, rows))
        write_json(tmp / "crossover.json", as_jsonable({c["effect"]: c for c in cross}))
        write_text(tmp / "latency.csv", latency_long(rows, sr))
    plots: dict[str, list[Path]] = {}
    with atomic_directory(reports / "plots" / "offline") as tmp:
        for res in results:
            written = write_plots(res, rows, cfg, tmp)
            for c in cross:
                if c["effect"] == res.effect:
                    written = [*written, *write_crossover_plots(c, tmp)]
            plots[res.effect] = [reports / "plots" / "offline" / p.name for p in written]
    with atomic_directory(Path(cfg.paths.processed)) as tmp:
        for res in results:
            (tmp / res.effect).mkdir(parents=True)
            for name, audio in res.listen.items():
                stem = name.replace(":", "_")
                write_audio(tmp / res.effect / f"{stem}.wav", audio, sr)
    tables = []
    peak = vector_peak()
    for res in results:
        entries = [
            {
                "name": e.name,
                "backend": e.backend,
                "model": e.model,
                "extra": res.facts[e.name].extra,
                "params": res.facts[e.name].parameters,
                "weight_bytes": res.facts[e.name].weight_bytes,
                "state_bytes": res.facts[e.name].state_bytes,
                "peak_rss_bytes": (res.memory.get(e.name) or {}).get("peak_rss_bytes"),
                "quality": res.quality[e.name],
            }
            for e in res.entries
        ]
        tables.append(effect_table(res.effect, entries, [r for r in rows if r["effect"] == res.effect], sr))
        tables.append(seed_statements(res.effect, entries))
        tables.append(capture_summary(res.effect, entries))
        tables.append(material_table(res.effect, entries))
        tables.extend(crossover_markdown(c) for c in cross if c["effect"] == res.effect)
        tables.append(
            kernel_table(
                res.effect,
                entries,
                [r for r in rows if r["effect"] == res.effect],
                peak.macs_per_ns if peak else None,
                peak.describe() if peak else "unknown",
            )
        )
    load_lines = [f"{res.effect}: {res.machine_load.describe()}" for res in results if res.machine_load]
    write_text(
        reports / "comparison.md",
        comparison_markdown(tables, machine_description(), "make repro  (dvc repro offline_bench)", sr, load_lines),
    )
    for res in results:
        log_to_mlflow(cfg, res, rows, plots[res.effect])
    log.info("offline_bench: %d rows for %s", len(rows), effects)
