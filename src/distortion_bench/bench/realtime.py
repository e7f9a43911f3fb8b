"""Stage ``realtime_bench``: every processor in a PortAudio callback stream on a real audio clock.

For each buffer size of ``bench.realtime.buffer_sizes`` and each scheduling mode of
``bench.realtime.scheduling`` (``realtime``: the audio thread SCHED_FIFO as ``audio.realtime``
allows; ``normal``: ordinary threads) the backend is opened once (with ``jack_dummy``, a JACK
server whose period is that buffer size, ``-R`` or ``--no-realtime``) and every processor of
every effect in ``bench.realtime.effects`` streams the effect's test audio (looped) for
``bench.realtime.seconds`` of wall-clock time (the smallest buffer size on until
``bench.realtime.min_callbacks`` callbacks, so its tail is a real p99.9), optionally under
``bench.realtime.cpu_load``. Tail statistics are named by what the count supports (p99.9 from
10,000 callbacks, p99 from 1,000, else "max of N").

Knobs while it plays: at the buffer sizes of ``bench.realtime.knobs.buffer_sizes``, every
processor of ``bench.realtime.knobs.processors`` (the DSP, knob-conditioned networks) streams
once more while a UI thread posts a new random setting every ``every_ms`` milliseconds; the
callback picks the latest up at the start of a buffer, without a lock
(:mod:`~distortion_bench.engine.knob_mailbox`). Those rows are named ``<processor>+knobs`` and
count the settings applied (``knob_changes``).

Every glitch is attributed (:mod:`..analysis.glitches`): *processor* when the stream, replayed
with every wake-up on time and each callback computing its measured CPU time, misses a deadline
just before it; *scheduler* otherwise (the thread was woken late or preempted).

Outputs (``paths.reports`` = R, or ``paths.realtime_reports`` for an ad-hoc run, which with
``tracking.log_bench=false`` also leaves MLflow alone): ``R/realtime_bench.csv`` (one row per effect, processor,
backend, buffer size and scheduling mode, with the callback thread's policy and priority read
inside the callback), ``R/realtime_bench.json`` (summary for ``dvc metrics``),
``R/plots/realtime/`` (glitches by cause and worst-case RTF vs buffer size per scheduling mode;
the spectrum analyzer's animation of a sine sweep through the tube saturator), and MLflow
metrics on each model's run and on the effect's ``dsp-baseline`` run
(``rt/underruns/bs0064`` for real-time scheduling, ``rt-normal/underruns/bs0064`` for ordinary).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench.analysis.machine_load import LoadMonitor
from distortion_bench.analysis.plotting import save_png
from distortion_bench.analysis.stream_summary import summarize_stream
from distortion_bench.atomic import atomic_directory, write_json, write_text
from distortion_bench.bench import mlflow_log
from distortion_bench.bench.common import csv_text, test_takes
from distortion_bench.bench.quality import as_jsonable
from distortion_bench.bench.selection import BenchEntry, bench_entries
from distortion_bench.bench.spectrum_analyzer import SpectrumAnalyzer
from distortion_bench.config import matrix_effects
from distortion_bench.engine.audio_backends import audio_host, run_stream
from distortion_bench.engine.audio_engine import CallbackEngine, record_capacity
from distortion_bench.engine.cpu_load import CpuLoad
from distortion_bench.engine.knob_mailbox import KnobbedProcessor, KnobMailbox, KnobTurner
from distortion_bench.engine.processor import Processor
from distortion_bench.engine.realtime import RealtimeDecision, decide
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import ConfigError
from distortion_bench.synth.measurement import log_sweep
from distortion_bench.tracking import tracking_uri

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "effect",
    "processor",
    "backend",
    "buffer_size",
    "scheduling",
    "priority",
    "seconds",
    "callbacks",
    "expected_callbacks",
    "underruns",
    "overruns",
    "xruns",
    "processor_glitches",
    "scheduler_glitches",
    "processor_xruns",
    "scheduler_xruns",
    "xruns_outside",
    "processor_misses",
    "over_budget",
    "preempted",
    "faults",
    "mean_us",
    "cpu_mean_us",
    "cpu_max_us",
    "p99_us",
    "p999_us",
    "max_us",
    "tail_stat",
    "tail_us",
    "rtf",
    "rtf_worst",
    "knob_changes",
)
RT_METRICS = (
    "underruns",
    "xruns",
    "processor_glitches",
    "scheduler_glitches",
    "processor_misses",
    "preempted",
    "faults",
    "mean_us",
    "cpu_mean_us",
    "p99_us",
    "p999_us",
    "max_us",
    "tail_us",
    "rtf",
    "rtf_worst",
)
#: the scheduling modes ``bench.realtime.scheduling`` may list
MODES = ("realtime", "normal")
#: buffers of silence a processor runs before its stream (compilation, first-run allocation)
WARMUP_BUFFERS = 8


def realtime_entries(cfg: DictConfig, effect: str) -> list[BenchEntry]:
    """The offline selection minus the measuring baselines (the naive TCN, the generic Numba
    kernels: nothing a plugin would play), narrowed to ``bench.realtime.processors.<effect>``
    where that lists the effect (every stream costs seconds: an effect with many DSP variants
    streams the ones worth hearing)."""
    entries = [
        e for e in bench_entries(cfg, effect) if not e.processor.endswith("-naive") and e.backend != "numba-generic"
    ]
    chosen = (cfg.bench.realtime.get("processors") or {}).get(effect)
    if chosen is None:
        return entries
    names = [e.name for e in entries]
    unknown = [str(n) for n in chosen if n not in names]
    if unknown:
        raise ConfigError(
            f"bench.realtime.processors.{effect}: {unknown} are not benchmarked processors of {effect}; "
            f"expected some of {names}"
        )
    return [e for e in entries if e.name in set(chosen)]


def knob_stream_entries(cfg: DictConfig, effects: Sequence[str]) -> list[BenchEntry]:
    """``bench.realtime.knobs.processors``: streams whose knobs a UI thread turns while they play
    (the DSP ``<backend>:<effect>`` or a conditioned pair ``<backend>:<effect>-<model>-knobs``)."""
    entries = []
    for name in cfg.bench.realtime.knobs.processors:
        backend, _, target = str(name).partition(":")
        effect, _, model = target.partition("-")
        if effect not in effects:
            raise ConfigError(
                f"bench.realtime.knobs.processors: {name!r} is not a processor of an effect of bench.realtime.effects "
                f"{list(effects)}"
            )
        label = model or "dsp"
        runtime = "onnxruntime" if backend == "onnx" else backend
        entries.append(BenchEntry(str(name), effect, label, runtime, model or None))
    return entries


def stream_row(entry: BenchEntry, name: str, backend: str, mode: str, summary: dict[str, Any]) -> dict[str, Any]:
    """One stream's row: the entry's labels (``backend``: the audio backend), the scheduling mode
    and the stream's summary."""
    return {
        "effect": entry.effect,
        "processor": entry.processor,
        "backend": backend,
        "name": name,
        "model": entry.model,
        "mode": mode,
        **summary,
        "processor_backend": entry.backend,
    }


def stream_turning_knobs(
    host: Any, processor: Processor, source: np.ndarray, bs: int, sr: int, seconds: float, every_s: float, **kw: Any
) -> dict[str, Any]:
    """One stream of ``processor`` while a UI thread posts a new random setting every ``every_s``
    (:class:`~distortion_bench.engine.knob_mailbox.KnobTurner`); the callback applies the latest
    one at the start of a buffer. The summary adds ``knob_changes`` (applied) and ``knob_posted``."""
    mailbox = KnobMailbox()
    knobbed = KnobbedProcessor(processor, mailbox)
    with KnobTurner(mailbox, processor.knob_space(), every_s, seed=0) as turner:
        summary, _ = stream_one(host, knobbed, source, bs, sr, seconds, **kw)
    if knobbed.refused:
        log.warning("%s: a knob setting was refused: %s", processor.facts().name, knobbed.refused)
    return {**summary, "knob_changes": knobbed.applied, "knob_posted": turner.posted, "knob_refused": knobbed.refused}


def stream_one(
    host: Any,
    processor: Processor,
    source: np.ndarray,
    buffer_size: int,
    sample_rate: int,
    seconds: float,
    tap: Any = None,
    min_callbacks: int = 0,
    budget_fraction: float = 0.8,
) -> tuple[dict[str, Any], CallbackEngine]:
    """One stream of ``processor``; returns its summary and the engine (recording, records).

    The processor first runs a few buffers of silence (as a plug-in is warmed up before one
    plays): a first call that compiles or allocates is the offline stage's ``first_call_us``,
    not a glitch of the stream. The engine then resets it.
    """
    silence = np.zeros(buffer_size, np.float32)
    for _ in range(WARMUP_BUFFERS):
        processor.process_buffer(silence)
    capacity = record_capacity(max(seconds, 2.0 * min_callbacks * buffer_size / sample_rate), sample_rate, buffer_size)
    engine = CallbackEngine(processor, buffer_size, source, capacity, tap=tap)
    stats = run_stream(host, engine, sample_rate, seconds, min_callbacks=min_callbacks)
    summary = summarize_stream(stats, budget_fraction)
    if stats.first_fault:
        log.warning("%s: %d faults, first: %s", processor.facts().name, stats.faults, stats.first_fault)
    return summary, engine


def plot_glitches(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Per scheduling mode (a row of panels): glitches the processor caused, glitches the
    scheduler caused, and worst-case RTF, vs buffer size, one line per processor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in MODES if any(r["mode"] == m for r in rows)]
    fig, axes = plt.subplots(max(len(modes), 1), 3, figsize=(16, 4.4 * max(len(modes), 1)), squeeze=False)
    names = sorted({(r["effect"], r["name"]) for r in rows})
    top = max([1] + [r["processor_glitches"] + r["scheduler_glitches"] for r in rows])
    for m, mode in enumerate(modes):
        mine = [r for r in rows if r["mode"] == mode]
        sched = sorted({f"{r['scheduling']} {r['priority']}" for r in mine})
        a, b, c = axes[m]
        for i, (effect, name) in enumerate(names):
            rs = sorted(
                [r for r in mine if r["name"] == name and r["effect"] == effect], key=lambda r: r["buffer_size"]
            )
            if not rs:
                continue
            bs = [r["buffer_size"] for r in rs]
            style = {"marker": "o", "ms": 3, "color": f"C{i % 10}", "label": name}
            a.plot(bs, [r["processor_glitches"] for r in rs], "-", **style)
            b.plot(bs, [r["scheduler_glitches"] for r in rs], "--", **style)
            c.plot(bs, [r["rtf_worst"] for r in rs], "-", **style)
        c.axhline(1.0, color="black", lw=2, label="deadline")
        for ax, title in ((a, "caused by the processor"), (b, "caused by the scheduler (late wake-up)")):
            ax.set_yscale("symlog", linthresh=1)
            ax.set_ylim(-0.1, top * 1.5)
            ax.set_ylabel(f"glitches {title}")
        a.set_title(f"{mode} scheduling (callback thread: {', '.join(sched)})", loc="left", fontsize=10)
        c.set_yscale("log")
        c.set_ylabel("worst-case RTF (max processing / buffer duration)")
        for ax in (a, b, c):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("buffer size (samples)")
            ax.grid(True, which="both", alpha=0.3)
        c.legend(fontsize=7)
    if rows:
        fig.suptitle(
            f"real-time streams ({rows[0]['backend']}, {max(r['callbacks'] for r in rows)} callbacks "
            "at most per stream): glitches = callbacks PortAudio flagged as output underflow"
        )
    save_png(fig, path)


def analyzer_animation(cfg: DictConfig, path: Path) -> int:
    """The spectrum analyzer on a sine sweep through the tube saturator, rendered to ``path``."""
    a = cfg.bench.realtime.analyzer
    sr = int(cfg.audio.sample_rate)
    effect, model = str(a.effect), str(a.model)
    sweep = log_sweep(float(a.seconds), 50.0, 10000.0, float(a.level_dbfs), sr).astype(np.float32)
    live = build_processor(f"onnx:{effect}-{model}", cfg, int(cfg.bench.threads))
    analyzer = SpectrumAnalyzer(
        sr, build_processor(f"numba:{effect}", cfg), f"onnx:{effect}-{model}", fft_size=int(a.fft_size)
    )
    bs = int(a.buffer_size)
    decision = decide(str(cfg.audio.realtime), int(cfg.audio.rt_priority))
    with audio_host(str(cfg.audio.backend), sr, bs, decision) as host:
        stream_one(host, live, sweep, bs, sr, sweep.size / sr, tap=analyzer.feed)
    return analyzer.render(path, fps=int(a.fps))


def log_to_mlflow(cfg: DictConfig, rows: Sequence[Mapping[str, Any]]) -> None:
    uri = tracking_uri(cfg.tracking.uri)
    runs: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        runs.setdefault(mlflow_log.bench_run_id(cfg, r["effect"], r["model"], uri), []).append(r)
    for run_id, rs in runs.items():
        metrics = mlflow_log.per_buffer_metrics(
            rs,
            RT_METRICS,
            lambda r: (
                ("rt/" if r["mode"] == "realtime" else f"rt-{r['mode']}/")
                + ("knobs-moving/" if r.get("knob_changes") is not None else "")
                + mlflow_log.metric_prefix(r["processor"], r["processor_backend"])
            ),
        )
        mlflow_log.log_metrics(run_id, metrics, uri)


def scheduling_modes(cfg: DictConfig) -> dict[str, RealtimeDecision]:
    """The modes of ``bench.realtime.scheduling`` that this process can run, with their decision.

    ``realtime`` follows ``audio.realtime`` (``on`` without permission raises; ``auto`` without
    permission or ``off`` drops the mode with a warning instead of measuring ``normal`` twice).
    """
    modes = list(cfg.bench.realtime.scheduling)
    if not modes or any(m not in MODES for m in modes) or len(set(modes)) != len(modes):
        raise ConfigError(
            f"bench.realtime.scheduling: expected a non-empty list of distinct modes out of "
            f"{list(MODES)}, got {modes!r}"
        )
    out: dict[str, RealtimeDecision] = {}
    for mode in modes:
        if mode == "normal":
            out[mode] = RealtimeDecision(False, 0, "bench.realtime.scheduling: normal")
            continue
        decision = decide(str(cfg.audio.realtime), int(cfg.audio.rt_priority))
        if decision.enabled or str(cfg.audio.backend) != "jack_dummy":
            out[mode] = decision
        else:
            log.warning("bench.realtime.scheduling: skipping 'realtime' (%s)", decision.reason)
    if not out:
        raise ConfigError(
            "bench.realtime.scheduling: no mode left to run (real time is not available here); add 'normal'"
        )
    return out


def run(cfg: DictConfig) -> None:
    """Stage ``realtime_bench`` (see the module docstring)."""
    rt = cfg.bench.realtime
    sr = int(cfg.audio.sample_rate)
    backend = str(cfg.audio.backend)
    effects = list(rt.effects) if rt.effects else matrix_effects(cfg)
    for e in effects:
        if e not in cfg.effects:
            raise ConfigError(f"bench.realtime.effects: {e!r} is not a key of effects")
    buffer_sizes = sorted(int(b) for b in rt.buffer_sizes)
    min_callbacks = int(rt.min_callbacks)
    budget = float(rt.budget_fraction)
    if min_callbacks < 0:
        raise ConfigError(f"bench.realtime.min_callbacks: expected an integer >= 0, got {min_callbacks}")
    if not 0.0 < budget <= 1.0:
        raise ConfigError(f"bench.realtime.budget_fraction: expected a fraction in (0, 1], got {budget}")
    # the smallest buffer size streams on until min_callbacks callbacks have come (its p99.9 is then
    # one; run_stream waits for them); the others stream `seconds` and report the tail statistic
    # their count supports
    seconds = float(rt.seconds)
    modes = scheduling_modes(cfg)
    sources = {e: np.concatenate(test_takes(cfg, e).dry) for e in effects}
    procs = {
        e: {x.name: (x, build_processor(x.name, cfg, int(cfg.bench.threads))) for x in realtime_entries(cfg, e)}
        for e in effects
    }
    knobs_rt = rt.knobs
    every_s = float(knobs_rt.every_ms) / 1e3
    if not every_s > 0:
        raise ConfigError(f"bench.realtime.knobs.every_ms: expected milliseconds > 0, got {knobs_rt.every_ms!r}")
    knob_sizes = {int(b) for b in knobs_rt.buffer_sizes}
    knob_procs = [(x, build_processor(x.name, cfg, int(cfg.bench.threads))) for x in knob_stream_entries(cfg, effects)]
    rows: list[dict[str, Any]] = []
    locked: dict[str, bool] = {}
    load = CpuLoad(int(rt.cpu_load.processes), float(rt.cpu_load.duty))
    # Outside the configured CPU load: its processes are this run's own (children), and what
    # the monitor flags is load nobody asked for.
    monitor = LoadMonitor()
    with monitor, load:
        for bs in buffer_sizes:
            for mode, decision in modes.items():  # modes alternate per buffer size: drift hits both
                with audio_host(backend, sr, bs, decision) as host:
                    locked[mode] = host.memory_locked
                    for effect in effects:
                        for name, (entry, proc) in procs[effect].items():
                            summary, _ = stream_one(
                                host,
                                proc,
                                sources[effect],
                                bs,
                                sr,
                                seconds,
                                min_callbacks=min_callbacks if bs == buffer_sizes[0] else 0,
                                budget_fraction=budget,
                            )
                            rows.append(stream_row(entry, name, backend, mode, summary))
                            log.info(
                                "%s bs %d %s (%s %s): %d/%d callbacks, %d underruns (processor %d, "
                                "scheduler %d), %s xruns, %s %.1f us, rtf_worst %.3f",
                                name,
                                bs,
                                mode,
                                summary["scheduling"],
                                summary["priority"],
                                summary["callbacks"],
                                summary["expected_callbacks"],
                                summary["underruns"],
                                summary["processor_glitches"],
                                summary["scheduler_glitches"],
                                summary["xruns"],
                                summary["tail_stat"],
                                summary["tail_us"],
                                summary["rtf_worst"],
                            )
                    if bs not in knob_sizes:
                        continue
                    for entry, proc in knob_procs:
                        summary = stream_turning_knobs(
                            host,
                            proc,
                            sources[entry.effect],
                            bs,
                            sr,
                            seconds,
                            every_s,
                            min_callbacks=min_callbacks if bs == buffer_sizes[0] else 0,
                            budget_fraction=budget,
                        )
                        name = f"{entry.name}+knobs"
                        rows.append(stream_row(entry, name, backend, mode, summary))
                        log.info(
                            "%s bs %d %s: %d knob changes applied of %d posted, %d/%d callbacks, %d underruns "
                            "(processor %d, scheduler %d)",
                            name,
                            bs,
                            mode,
                            summary["knob_changes"],
                            summary["knob_posted"],
                            summary["callbacks"],
                            summary["expected_callbacks"],
                            summary["underruns"],
                            summary["processor_glitches"],
                            summary["scheduler_glitches"],
                        )
    # an ad-hoc run (e.g. under CPU load) may write elsewhere and leave MLflow alone
    reports = Path(cfg.paths.get("realtime_reports") or cfg.paths.reports)
    # backend = the audio backend here; the processor column is the registry name (runtime included)
    csv_rows = [{"knob_changes": None, **r, "processor": r["name"]} for r in rows]
    write_text(reports / "realtime_bench.csv", csv_text(csv_rows, CSV_COLUMNS))
    glitching = sorted({r["name"] for r in rows if r["underruns"] or r["xruns"] or r["faults"]})
    machine = monitor.result
    assert machine is not None
    if machine.busy:
        log.warning("realtime_bench: %s", machine.describe())
    summary = {
        "backend": backend,
        "seconds": seconds,
        # at least this long: the smallest buffer size streams until min_callbacks have come
        "seconds_smallest_buffer": max(seconds, min_callbacks * buffer_sizes[0] / sr),
        "min_callbacks": min_callbacks,
        "cpu_load": load.describe(),
        "machine_load": machine.as_dict(),
        "budget_fraction": budget,
        "scheduling": {
            m: {
                "realtime": d.enabled,
                "priority": d.priority,
                "reason": d.reason,
                "memory_locked": locked.get(m, False),
            }
            for m, d in modes.items()
        },
        "processors_that_glitched": glitching,
        "processors_that_caused_glitches": sorted(
            {r["name"] for r in rows if r["processor_glitches"] or r["processor_xruns"]}
        ),
        "streams": {
            f"{r['name']}@bs{r['buffer_size']:04d}/{r['mode']}": {
                k: r[k]
                for k in (
                    "scheduling",
                    "priority",
                    "callbacks",
                    "expected_callbacks",
                    "underruns",
                    "processor_glitches",
                    "scheduler_glitches",
                    "xruns",
                    "processor_xruns",
                    "scheduler_xruns",
                    "xruns_outside",
                    "processor_misses",
                    "preempted",
                    "faults",
                    "tail_stat",
                    "tail_us",
                    "rtf_worst",
                )
            }
            | ({"knob_changes": r["knob_changes"]} if "knob_changes" in r else {})
            for r in rows
        },
    }
    with atomic_directory(reports / "plots" / "realtime") as tmp:
        plot_glitches(
            [{**r, "name": f"{r['effect']} {r['name'].split(':')[0]} {r['processor']}"} for r in rows],
            tmp / "glitches_rtf.png",
        )
        if rt.analyzer.enabled:
            frames = analyzer_animation(cfg, tmp / f"spectrum_{rt.analyzer.effect}.gif")
            summary["analyzer"] = {"animation": f"plots/realtime/spectrum_{rt.analyzer.effect}.gif", "frames": frames}
            log.info("spectrum analyzer: %d frames", frames)
    write_json(reports / "realtime_bench.json", as_jsonable(summary))
    if cfg.tracking.get("log_bench", True):
        log_to_mlflow(cfg, rows)
        mlflow_log.log_machine_load(cfg, effects, "rt", machine)
    log.info("realtime_bench: %d streams; glitched: %s", len(rows), glitching or "none")
