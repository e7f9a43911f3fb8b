"""Stage ``offline_bench``: quality and speed of every processor of every effect.

Per effect (``train_matrix.effects``): the processors of :func:`..selection.bench_entries`
stream the effect's held-out test takes (quality against the Numba DSP output, harmonic
fingerprints on test sines, aliasing on a high sine), then are timed interleaved at every
``bench.buffer_sizes`` (:class:`~distortion_bench.analysis.timing.AudioBenchmark`), and,
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
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from distortion_bench.analysis import bench_plots
from distortion_bench.analysis.harmonics import (Fingerprint, SineSpec, check_alias_free, difference_db,
                                                 difference_measured)
from distortion_bench.analysis.machine_load import LoadMonitor, MachineLoad
from distortion_bench.analysis.memory_probe import probe
from distortion_bench.analysis.quality import as_jsonable, quality_by_material, sine_fingerprints, stream_each_take
from distortion_bench.analysis.timing import AudioBenchmark, TimingConfig, TimingStats
from distortion_bench.atomic import atomic_directory, write_json, write_text
from distortion_bench.audio_io import write_audio
from distortion_bench.bench import mlflow_log
from distortion_bench.bench.common import csv_text, test_takes
from distortion_bench.bench.comparison import (capture_summary, comparison_markdown, effect_table, kernel_table,
                                               material_table, seed_statements)
from distortion_bench.bench.seeds import seed_spread
from distortion_bench.bench.selection import BenchEntry, bench_effects, bench_entries
from distortion_bench.config import plain
from distortion_bench.engine.processor import Processor, ProcessorFacts
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import ConfigError
from distortion_bench.kernels.vector_peak import vector_peak
from distortion_bench.tracking import tracking_uri

log = logging.getLogger(__name__)

CSV_COLUMNS = ("effect", "processor", "backend", "buffer_size", "mean_us", "p50_us", "p99_us", "p999_us",
               "max_us", "jitter_us", "rtf", "rtf_worst", "throughput_sps", "deadline_misses", "params",
               "weight_bytes")
#: harmonics quieter than this (dB re fundamental) in the DSP output are left out of the
#: "max harmonic difference": a model's -130 dB vs the DSP's -160 dB is not a difference anyone hears
AUDIBLE_HARMONIC_DB = -100.0
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
    machine_load: MachineLoad | None = None


def sine_specs(cfg: DictConfig) -> tuple[list[SineSpec], SineSpec]:
    """The fingerprint sines (every frequency at every level) and the aliasing sine."""
    q = cfg.bench.quality
    s = q.sines
    specs = [SineSpec(float(f), float(level), float(s.window_seconds), float(s.settle_seconds))
             for f in s.freqs_hz for level in s.levels_dbfs]
    alias = SineSpec(float(q.aliasing.freq_hz), float(q.aliasing.level_dbfs), float(s.window_seconds),
                     float(s.settle_seconds))
    sr = int(cfg.audio.sample_rate)
    order = int(s.alias_free_order)
    for spec in [*specs, alias]:
        try:
            spec.check(sr)
            check_alias_free(spec, sr, order)
        except ValueError as exc:
            raise ConfigError(f"bench.quality (alias_free_order {order}): {exc}") from exc
    return specs, alias


@dataclass(frozen=True)
class HarmonicDifference:
    """The largest audible |model - reference| harmonic difference, in dB.

    ``measured``: over harmonics both fingerprints measured (above their floors); ``bounded``:
    over those where one side is at its measurement floor, a bound rather than a measurement
    (the level at the floor may truly be lower). None: no such harmonic.
    """

    measured: float | None
    bounded: float | None


def harmonic_report(fps: Sequence[Fingerprint], ref: Sequence[Fingerprint]
                    ) -> tuple[list[dict[str, Any]], HarmonicDifference]:
    """Per sine: levels, floors, THD and difference to the reference; and the largest audible
    |difference| (harmonics the reference has above :data:`AUDIBLE_HARMONIC_DB`)."""
    out: list[dict[str, Any]] = []
    worst: dict[bool, float | None] = {True: None, False: None}
    for fp, r in zip(fps, ref):
        diff = difference_db(fp, r)
        exact = difference_measured(fp, r)
        out.append({"freq_hz": fp.freq_hz, "level_dbfs": fp.level_dbfs, "harmonics_db": fp.harmonics_db,
                    "floor_db": fp.floor_db, "measured": list(fp.measured), "thd": fp.thd,
                    "thd_db": fp.thd_db, "aliasing_db": fp.aliasing_db, "diff_db": diff,
                    "diff_measured": exact})
        for d, level, m in zip(diff, r.harmonics_db, exact):
            if d is not None and level is not None and level > AUDIBLE_HARMONIC_DB:
                key = bool(m)
                worst[key] = abs(d) if worst[key] is None else max(worst[key], abs(d))
    return out, HarmonicDifference(worst[True], worst[False])


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
    dry_takes, target_takes, paths = test_takes(cfg, effect)
    dry = np.concatenate(dry_takes)
    qcfg = cfg.bench.quality
    qbs = int(qcfg.buffer_size)
    specs, alias_spec = sine_specs(cfg)
    k = int(qcfg.max_harmonic)
    listen_n = int(float(cfg.bench.listen_seconds) * sr)
    result = EffectResult(effect, entries, facts, build_ms, {}, {})
    result.listen["dry"] = dry[:listen_n]
    for e in entries:
        p = procs[e.name]
        est_takes = stream_each_take(p, dry_takes, qbs)
        result.listen[e.name] = np.concatenate(est_takes)[:listen_n]
        result.fingerprints[e.name] = sine_fingerprints(p, [*specs, alias_spec], sr, qbs, k)
        result.quality[e.name] = quality_by_material(paths, dry_takes, target_takes, est_takes, sr)
        q = result.quality[e.name]
        if e.model is not None:
            q["seeds"] = seed_spread(cfg, effect, e.model)
        log.info("%s quality: ESR %s, residual %s; guitar ESR %s, measurement ESR %s", e.name, q["esr"],
                 q["residual_esr"], q["by_group"].get("guitar", {}).get("esr"),
                 q["by_group"].get("measurement", {}).get("esr"))
    ref = result.fingerprints[f"numba:{effect}"]
    for e in entries:
        fps = result.fingerprints[e.name]
        sines, worst = harmonic_report(fps[:-1], ref[:-1])
        result.quality[e.name].update({
            "harmonic_diff_db": worst.measured, "harmonic_diff_bounded_db": worst.bounded, "sines": sines,
            "aliasing": {"freq_hz": alias_spec.freq_hz, "level_dbfs": alias_spec.level_dbfs,
                         "aliasing_db": fps[-1].aliasing_db, "reference_aliasing_db": ref[-1].aliasing_db},
        })
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


def table_rows(result: EffectResult) -> list[dict[str, Any]]:
    """Rows of ``offline_bench.csv`` (plus ``name`` and a few extra fields for other reports)."""
    rows = []
    for bs, stats in result.timing.items():
        for e in result.entries:
            s, f = stats[e.name], result.facts[e.name]
            rows.append({"effect": e.effect, "processor": e.processor, "backend": e.backend, "buffer_size": bs,
                         "mean_us": s.mean_us, "p50_us": s.p50_us, "p99_us": s.p99_us, "p999_us": s.p999_us,
                         "max_us": s.max_us, "jitter_us": s.jitter_us, "rtf": s.rtf, "rtf_worst": s.rtf_worst,
                         "throughput_sps": s.throughput_sps, "deadline_misses": s.deadline_misses,
                         "params": f.parameters, "weight_bytes": f.weight_bytes,
                         "name": e.name, "std_us": s.std_us, "first_call_us": s.first_call_us,
                         "buffers": s.buffers})
    return rows


def _find(rows: Sequence[Mapping[str, Any]], name: str, bs: int) -> Mapping[str, Any] | None:
    return next((r for r in rows if r["name"] == name and r["buffer_size"] == bs), None)


def speed_targets(rows: Sequence[Mapping[str, Any]], effect: str, entries: Sequence[BenchEntry],
                  dsp_targets: bool = True) -> dict[str, Any]:
    """The project's speed targets (docs/processors.md), measured (only where rows exist).

    ``dsp_targets``: include the Numba ones (set for the tube saturator, which they are about).
    """
    out: dict[str, Any] = {}
    sizes = sorted({int(r["buffer_size"]) for r in rows if r["effect"] == effect})
    numba, pb = f"numba:{effect}", f"pedalboard:{effect}"
    big = [b for b in sizes if b >= 1024] if dsp_targets else []
    if big and _find(rows, pb, big[0]) and _find(rows, numba, big[0]):
        ratios = {b: _find(rows, numba, b)["throughput_sps"] / _find(rows, pb, b)["throughput_sps"] for b in big}
        out["numba_vs_pedalboard_throughput_min"] = {"value": min(ratios.values()), "target": ">= 2",
                                                     "met": min(ratios.values()) >= 2.0}
    if dsp_targets and 4096 in sizes and _find(rows, numba, 4096):
        ns = 1000.0 * _find(rows, numba, 4096)["p50_us"] / 4096
        out["numba_ns_per_sample_bs4096"] = {"value": ns, "target": "<= about 10", "met": ns <= 10.5}
    if dsp_targets and 32 in sizes and _find(rows, numba, 32):
        us = _find(rows, numba, 32)["p50_us"]
        out["numba_us_bs0032"] = {"value": us, "target": "< 5", "met": us < 5.0}
    for e in entries:
        if e.processor.endswith("-naive") and 32 in sizes:
            stream = _find(rows, f"onnx:{effect}-{e.model}", 32)
            naive = _find(rows, e.name, 32)
            if stream and naive:
                ratio = stream["p50_us"] / naive["p50_us"]
                out[f"{e.model}_streaming_over_naive_bs0032"] = {"value": ratio, "target": "<= 0.25",
                                                                 "met": ratio <= 0.25}
        if e.backend == "numba" and e.model is not None:
            onnx = {b: _find(rows, f"onnx:{effect}-{e.model}", b) for b in sizes}
            speedups = {b: onnx[b]["p50_us"] / _find(rows, e.name, b)["p50_us"]
                        for b in sizes if onnx[b] and _find(rows, e.name, b)}
            if speedups:
                worst = min(speedups.values())
                out[f"{e.model}_numba_speedup_over_onnx_min"] = {"value": worst, "target": "> 1 at every buffer size",
                                                                  "met": worst > 1.0}
            if 32 in speedups:
                out[f"{e.model}_numba_speedup_over_onnx_bs0032"] = {"value": speedups[32], "target": ">= 3",
                                                                     "met": speedups[32] >= 3.0}
        if e.backend == "torch":
            small = [b for b in sizes if b <= 512]
            wins = {b: _find(rows, f"onnx:{effect}-{e.model}", b)["p50_us"] / _find(rows, e.name, b)["p50_us"]
                    for b in small if _find(rows, f"onnx:{effect}-{e.model}", b)}
            if wins:
                worst = max(wins.values())
                out[f"{e.model}_onnx_over_torch_worst_le512"] = {"value": worst, "target": "< 1", "met": worst < 1.0}
    return out


def machine_description() -> str:
    """CPU model and core count, for reports."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def _excerpt(dry: np.ndarray, n: int) -> slice:
    """Where the dry signal is loudest over ``n`` samples (the waveform overlay's window)."""
    if dry.size <= n:
        return slice(0, dry.size)
    energy = np.convolve(dry.astype(np.float64) ** 2, np.ones(n), mode="valid")
    start = int(np.argmax(energy))
    return slice(start, start + n)


def write_plots(result: EffectResult, rows: Sequence[Mapping[str, Any]], cfg: DictConfig, folder: Path) -> list[Path]:
    """All figures of one effect into ``folder``; returns their paths."""
    sr, effect = int(cfg.audio.sample_rate), result.effect
    mine = [r for r in rows if r["effect"] == effect]
    paths = []
    p = folder / f"{effect}_latency.png"
    bench_plots.plot_latency(mine, sr, f"{effect}: time per buffer vs buffer size ({sr} Hz)", p)
    paths.append(p)
    p = folder / f"{effect}_rtf.png"
    bench_plots.plot_rtf(mine, f"{effect}: real-time factor vs buffer size", p)
    paths.append(p)
    sbs = int(cfg.bench.quality.scatter_buffer_size)
    if sbs not in result.timing:
        sbs = min(result.timing, key=lambda b: abs(b - sbs))
    points = [(e.name, result.timing[sbs][e.name].rtf, result.quality[e.name]["esr"]) for e in result.entries]
    p = folder / f"{effect}_quality_vs_speed.png"
    bench_plots.plot_quality_vs_speed(points, sbs, f"{effect}: quality vs speed", p)
    paths.append(p)
    shown = ["dry"] + [e.name for e in result.entries if e.backend != "torch" and e.backend != "numpy"
                       and not e.processor.endswith("-naive")]
    window = _excerpt(result.listen["dry"], max(int(float(cfg.bench.excerpt_seconds) * sr), 8))
    p = folder / f"{effect}_waveforms.png"
    bench_plots.plot_waveforms({n: result.listen[n][window] for n in shown}, sr,
                               f"{effect}: waveforms (loudest {window.stop - window.start} samples of the test audio)", p)
    paths.append(p)
    span = slice(0, min(result.listen["dry"].size, 3 * sr))
    p = folder / f"{effect}_spectrograms.png"
    bench_plots.plot_spectrograms({n: result.listen[n][span] for n in shown}, sr,
                                  f"{effect}: spectrograms, first {span.stop / sr:.1f} s of the test audio", p)
    paths.append(p)
    qcfg = cfg.bench.quality
    freq = float(qcfg.plot_freq_hz)
    levels: dict[float, dict[str, Sequence[float | None]]] = {}
    for level in qcfg.plot_levels_dbfs:
        series = {}
        for n in shown[1:]:
            for s in result.quality[n]["sines"]:
                if s["freq_hz"] == freq and s["level_dbfs"] == float(level):
                    series[n] = s["harmonics_db"]
        if series:
            levels[float(level)] = series
    if levels:
        p = folder / f"{effect}_harmonics.png"
        bench_plots.plot_harmonic_bars(levels, freq, f"{effect}: harmonics of a {freq:g} Hz sine", p)
        paths.append(p)
    return paths


def _quality_report(result: EffectResult) -> dict[str, Any]:
    return {e.name: {"processor": e.processor, "backend": e.backend, **result.quality[e.name]}
            for e in result.entries}


def _summary(cfg: DictConfig, results: Sequence[EffectResult], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for res in results:
        eff: dict[str, Any] = {}
        for e in res.entries:
            q = res.quality[e.name]
            item: dict[str, Any] = {"esr": q["esr"], "residual_esr": q["residual_esr"]}
            for group, values in q["by_group"].items():
                item[f"esr_{group}"] = values["esr"]
                item[f"residual_esr_{group}"] = values["residual_esr"]
            for bs in (64, 512):
                r = _find(rows, e.name, bs)
                if r:
                    item[f"p99_us_bs{bs:04d}"] = r["p99_us"]
                    item[f"rtf_bs{bs:04d}"] = r["rtf"]
            eff[e.name] = item
        tube = cfg.effects[res.effect].kind == "tube_saturator"
        out[res.effect] = {"processors": eff, "targets": speed_targets(rows, res.effect, res.entries, tube),
                           "machine_load": res.machine_load.as_dict() if res.machine_load else None}
    return as_jsonable(out)


def _details(results: Sequence[EffectResult], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out = {}
    for res in results:
        out[res.effect] = {e.name: {
            "facts": res.facts[e.name].as_dict(), "build_ms": res.build_ms[e.name],
            "memory": res.memory.get(e.name),
            "first_call_us": {str(r["buffer_size"]): r["first_call_us"] for r in rows if r["name"] == e.name},
            "std_us": {str(r["buffer_size"]): r["std_us"] for r in rows if r["name"] == e.name},
            "buffers": {str(r["buffer_size"]): r["buffers"] for r in rows if r["name"] == e.name},
        } for e in res.entries}
    return as_jsonable(out)


def _latency_long(rows: Sequence[Mapping[str, Any]], sample_rate: int) -> str:
    long = [{"series": f"{r['effect']} {r['name'].split(':')[0]} {r['processor']}", "buffer_size": r["buffer_size"],
             "p50_us": r["p50_us"], "p99_us": r["p99_us"],
             "deadline_us": 1e6 * r["buffer_size"] / sample_rate} for r in rows]
    return csv_text(long, ("series", "buffer_size", "p50_us", "p99_us", "deadline_us"))


def log_to_mlflow(cfg: DictConfig, result: EffectResult, rows: Sequence[Mapping[str, Any]],
                  plots: Sequence[Path]) -> None:
    """Metrics to each model's training run and to the effect's ``dsp-baseline`` run."""
    uri = tracking_uri(cfg.tracking.uri)
    mine = [r for r in rows if r["effect"] == result.effect]
    groups: dict[str | None, list[BenchEntry]] = {}
    for e in result.entries:
        groups.setdefault(e.model, []).append(e)
    for model, entries in groups.items():
        run_id = mlflow_log.bench_run_id(cfg, result.effect, model, uri)
        names = {e.name for e in entries}
        metrics = mlflow_log.latency_metrics([r for r in mine if r["name"] in names])
        for e in entries:
            p = mlflow_log.metric_prefix(e.processor, e.backend)
            q = result.quality[e.name]
            for key in ("esr", "esr_pre", "residual_esr", "mrstft", "harmonic_diff_db", "harmonic_diff_bounded_db"):
                if q.get(key) is not None:
                    metrics.append((f"{p}quality/{key}", q[key], 0))
            for part in (q["by_group"], q["by_category"]):
                for name, values in part.items():
                    for key in ("esr", "residual_esr", "mrstft"):
                        if values.get(key) is not None:
                            metrics.append((f"{p}quality/{name}/{key}", values[key], 0))
            if q["aliasing"]["aliasing_db"] is not None:
                metrics.append((f"{p}quality/aliasing_db", q["aliasing"]["aliasing_db"], 0))
            mem = result.memory.get(e.name)
            if mem:
                metrics.append((f"{p}peak_rss_bytes", mem["peak_rss_bytes"], 0))
        mlflow_log.log_metrics(run_id, metrics, uri)
        mlflow_log.log_artifacts(run_id, plots, "offline_bench", uri)
    if result.machine_load is not None:
        mlflow_log.log_machine_load(cfg, [result.effect], "offline", result.machine_load)


def run(cfg: DictConfig) -> None:
    """Stage ``offline_bench`` (see the module docstring)."""
    effects = bench_effects(cfg)
    sr = int(cfg.audio.sample_rate)
    results = [bench_effect(cfg, effect) for effect in effects]
    rows = [r for res in results for r in table_rows(res)]
    reports = Path(cfg.paths.reports)
    write_text(reports / "offline_bench.csv", csv_text(rows, CSV_COLUMNS))
    write_json(reports / "quality.json", as_jsonable({res.effect: _quality_report(res) for res in results}))
    write_json(reports / "offline_bench.json", _summary(cfg, results, rows))
    with atomic_directory(reports / "offline") as tmp:
        write_json(tmp / "details.json", _details(results, rows))
        write_text(tmp / "latency.csv", _latency_long(rows, sr))
    plots: dict[str, list[Path]] = {}
    with atomic_directory(reports / "plots" / "offline") as tmp:
        for res in results:
            written = write_plots(res, rows, cfg, tmp)
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
        entries = [{"name": e.name, "backend": e.backend, "model": e.model, "extra": res.facts[e.name].extra,
                    "params": res.facts[e.name].parameters,
                    "weight_bytes": res.facts[e.name].weight_bytes, "state_bytes": res.facts[e.name].state_bytes,
                    "peak_rss_bytes": (res.memory.get(e.name) or {}).get("peak_rss_bytes"),
                    "quality": res.quality[e.name]} for e in res.entries]
        tables.append(effect_table(res.effect, entries, [r for r in rows if r["effect"] == res.effect], sr))
        tables.append(seed_statements(res.effect, entries))
        tables.append(capture_summary(res.effect, entries))
        tables.append(material_table(res.effect, entries))
        tables.append(kernel_table(res.effect, entries, [r for r in rows if r["effect"] == res.effect],
                                   peak.macs_per_ns if peak else None, peak.describe() if peak else "unknown"))
    load_lines = [f"{res.effect}: {res.machine_load.describe()}" for res in results if res.machine_load]
    write_text(reports / "comparison.md",
               comparison_markdown(tables, machine_description(), "make repro  (dvc repro offline_bench)", sr,
                                   load_lines))
    for res in results:
        log_to_mlflow(cfg, res, rows, plots[res.effect])
    log.info("offline_bench: %d rows for %s", len(rows), effects)
