"""Stage ``realtime_bench``: every processor in a PortAudio callback stream on a real audio clock.

For each buffer size of ``bench.realtime.buffer_sizes`` the backend is opened once (with
``jack_dummy``, a JACK server whose period is that buffer size) and every processor of every
effect in ``bench.realtime.effects`` streams the effect's test audio (looped) for
``bench.realtime.seconds`` of wall-clock time, optionally under ``bench.realtime.cpu_load``.

Outputs (``paths.reports`` = R): ``R/realtime_bench.csv`` (one row per effect, processor,
backend, buffer size), ``R/realtime_bench.json`` (summary for ``dvc metrics``),
``R/plots/realtime/`` (underruns and worst-case RTF vs buffer size; the spectrum analyzer's
animation of a sine sweep through the tube saturator), and MLflow metrics on each model's run
and on the effect's ``dsp-baseline`` run (``rt/underruns/bs0064``, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench.analysis.plotting import save_png
from distortion_bench.analysis.quality import as_jsonable
from distortion_bench.analysis.spectrum_analyzer import SpectrumAnalyzer
from distortion_bench.atomic import atomic_directory, write_json, write_text
from distortion_bench.bench import mlflow_log
from distortion_bench.bench.common import csv_text, test_takes
from distortion_bench.bench.selection import BenchEntry, bench_entries
from distortion_bench.engine.audio_backends import audio_host, run_stream
from distortion_bench.engine.audio_engine import CallbackEngine, record_capacity
from distortion_bench.engine.cpu_load import CpuLoad
from distortion_bench.engine.processor import Processor
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import ConfigError
from distortion_bench.synth.measurement import log_sweep
from distortion_bench.tracking import tracking_uri

log = logging.getLogger(__name__)

CSV_COLUMNS = ("effect", "processor", "backend", "buffer_size", "seconds", "callbacks", "expected_callbacks",
               "underruns", "overruns", "xruns", "faults", "mean_us", "p99_us", "max_us", "rtf", "rtf_worst")
RT_METRICS = ("underruns", "xruns", "faults", "mean_us", "p99_us", "max_us", "rtf", "rtf_worst")


def realtime_entries(cfg: DictConfig, effect: str) -> list[BenchEntry]:
    """The offline selection minus the naive TCN (a measuring baseline, not something to play)."""
    return [e for e in bench_entries(cfg, effect) if not e.processor.endswith("-naive")]


def stream_one(host: Any, processor: Processor, source: np.ndarray, buffer_size: int, sample_rate: int,
               seconds: float, tap: Any = None) -> tuple[dict[str, Any], CallbackEngine]:
    """One stream of ``processor``; returns its summary and the engine (recording, records)."""
    engine = CallbackEngine(processor, buffer_size, source, record_capacity(seconds, sample_rate, buffer_size), tap=tap)
    stats = run_stream(host, engine, sample_rate, seconds)
    summary = stats.summary()
    if stats.first_fault:
        log.warning("%s: %d faults, first: %s", processor.facts().name, stats.faults, stats.first_fault)
    return summary, engine


def plot_glitches(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Underruns (left) and worst-case RTF (right) vs buffer size, one line per processor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8))
    names = sorted({(r["effect"], r["name"]) for r in rows})
    for i, (effect, name) in enumerate(names):
        rs = sorted([r for r in rows if r["name"] == name and r["effect"] == effect], key=lambda r: r["buffer_size"])
        bs = [r["buffer_size"] for r in rs]
        a.plot(bs, [r["underruns"] + (r["xruns"] or 0) for r in rs], "-o", ms=3, color=f"C{i % 10}", label=name)
        b.plot(bs, [r["rtf_worst"] for r in rs], "-o", ms=3, color=f"C{i % 10}", label=name)
    b.axhline(1.0, color="black", lw=2, label="deadline")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("buffer size (samples)")
        ax.grid(True, which="both", alpha=0.3)
    a.set_ylabel("underruns + JACK xruns during the stream")
    a.set_yscale("symlog", linthresh=1)
    b.set_yscale("log")
    b.set_ylabel("worst-case RTF (max callback time / buffer duration)")
    a.legend(fontsize=7)
    fig.suptitle(f"real-time streams ({rows[0]['backend']}, {rows[0]['seconds']:.0f} s each)" if rows else "")
    save_png(fig, path)


def analyzer_animation(cfg: DictConfig, path: Path) -> int:
    """The spectrum analyzer on a sine sweep through the tube saturator, rendered to ``path``."""
    a = cfg.bench.realtime.analyzer
    sr = int(cfg.audio.sample_rate)
    effect, model = str(a.effect), str(a.model)
    sweep = log_sweep(float(a.seconds), 50.0, 10000.0, float(a.level_dbfs), sr).astype(np.float32)
    live = build_processor(f"onnx:{effect}-{model}", cfg, int(cfg.bench.threads))
    analyzer = SpectrumAnalyzer(sr, build_processor(f"numba:{effect}", cfg), f"onnx:{effect}-{model}",
                                fft_size=int(a.fft_size))
    bs = int(a.buffer_size)
    with audio_host(str(cfg.audio.backend), sr, bs) as host:
        stream_one(host, live, sweep, bs, sr, sweep.size / sr, tap=analyzer.feed)
    return analyzer.render(path, fps=int(a.fps))


def log_to_mlflow(cfg: DictConfig, rows: Sequence[Mapping[str, Any]]) -> None:
    uri = tracking_uri(cfg.tracking.uri)
    runs: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        runs.setdefault(mlflow_log.bench_run_id(cfg, r["effect"], r["model"], uri), []).append(r)
    for run_id, rs in runs.items():
        metrics = mlflow_log.per_buffer_metrics(
            rs, RT_METRICS, lambda r: "rt/" + mlflow_log.metric_prefix(r["processor"], r["processor_backend"]))
        mlflow_log.log_metrics(run_id, metrics, uri)


def run(cfg: DictConfig) -> None:
    """Stage ``realtime_bench`` (see the module docstring)."""
    rt = cfg.bench.realtime
    sr = int(cfg.audio.sample_rate)
    backend = str(cfg.audio.backend)
    effects = list(rt.effects) if rt.effects else list(cfg.train_matrix.effects)
    for e in effects:
        if e not in cfg.effects:
            raise ConfigError(f"bench.realtime.effects: {e!r} is not a key of effects")
    seconds = float(rt.seconds)
    sources = {e: np.concatenate(test_takes(cfg, e)[0]) for e in effects}
    procs = {e: {x.name: (x, build_processor(x.name, cfg, int(cfg.bench.threads))) for x in realtime_entries(cfg, e)}
             for e in effects}
    rows: list[dict[str, Any]] = []
    load = CpuLoad(int(rt.cpu_load.processes), float(rt.cpu_load.duty))
    with load:
        for bs in sorted(int(b) for b in rt.buffer_sizes):
            with audio_host(backend, sr, bs) as host:
                for effect in effects:
                    for name, (entry, proc) in procs[effect].items():
                        summary, _ = stream_one(host, proc, sources[effect], bs, sr, seconds)
                        rows.append({"effect": effect, "processor": entry.processor, "backend": backend,
                                     "name": name, "model": entry.model, **summary,
                                     "processor_backend": entry.backend})
                        log.info("%s bs %d: %d/%d callbacks, %d underruns, %s xruns, rtf_worst %.3f", name, bs,
                                 summary["callbacks"], summary["expected_callbacks"], summary["underruns"],
                                 summary["xruns"], summary["rtf_worst"])
    reports = Path(cfg.paths.reports)
    # backend = the audio backend here; the processor column is the registry name (runtime included)
    csv_rows = [{**r, "processor": r["name"]} for r in rows]
    write_text(reports / "realtime_bench.csv", csv_text(csv_rows, CSV_COLUMNS))
    glitching = sorted({r["name"] for r in rows if r["underruns"] or r["xruns"] or r["faults"]})
    summary = {"backend": backend, "seconds": seconds, "cpu_load": load.describe(),
               "processors_that_glitched": glitching,
               "streams": {f"{r['name']}@bs{r['buffer_size']:04d}": {
                   k: r[k] for k in ("callbacks", "expected_callbacks", "underruns", "xruns", "faults", "rtf_worst")}
                   for r in rows}}
    with atomic_directory(reports / "plots" / "realtime") as tmp:
        plot_glitches([{**r, "name": f"{r['effect']} {r['name'].split(':')[0]} {r['processor']}"} for r in rows],
                      tmp / "underruns_rtf.png")
        if rt.analyzer.enabled:
            frames = analyzer_animation(cfg, tmp / f"spectrum_{rt.analyzer.effect}.gif")
            summary["analyzer"] = {"animation": f"plots/realtime/spectrum_{rt.analyzer.effect}.gif", "frames": frames}
            log.info("spectrum analyzer: %d frames", frames)
    write_json(reports / "realtime_bench.json", as_jsonable(summary))
    log_to_mlflow(cfg, rows)
    log.info("realtime_bench: %d streams; glitched: %s", len(rows), glitching or "none")
