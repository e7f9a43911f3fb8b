"""What the offline stage writes: the CSV rows, the summary with its targets, the details, the
long-format latency table for ``dvc plots``, and the figures of each effect.

Everything here reads an :class:`~distortion_bench.bench.offline.EffectResult` (measured) and
returns or writes files; nothing measures.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench.analysis import bench_plots
from distortion_bench.bench.common import csv_text
from distortion_bench.bench.quality import as_jsonable
from distortion_bench.bench.targets import speed_targets, thresholds
from distortion_bench.config import plain

if TYPE_CHECKING:  # the stage module imports this one
    from distortion_bench.bench.offline import EffectResult

CSV_COLUMNS = (
    "effect",
    "processor",
    "backend",
    "buffer_size",
    "mean_us",
    "p50_us",
    "p99_us",
    "p999_us",
    "max_us",
    "jitter_us",
    "rtf",
    "rtf_worst",
    "throughput_sps",
    "deadline_misses",
    "params",
    "weight_bytes",
)


def table_rows(result: EffectResult) -> list[dict[str, Any]]:
    """Rows of ``offline_bench.csv`` (plus ``name`` and a few extra fields for other reports)."""
    rows = []
    for bs, stats in result.timing.items():
        for e in result.entries:
            s, f = stats[e.name], result.facts[e.name]
            rows.append(
                {
                    "effect": e.effect,
                    "processor": e.processor,
                    "backend": e.backend,
                    "buffer_size": bs,
                    "mean_us": s.mean_us,
                    "p50_us": s.p50_us,
                    "p99_us": s.p99_us,
                    "p999_us": s.p999_us,
                    "max_us": s.max_us,
                    "jitter_us": s.jitter_us,
                    "rtf": s.rtf,
                    "rtf_worst": s.rtf_worst,
                    "throughput_sps": s.throughput_sps,
                    "deadline_misses": s.deadline_misses,
                    "params": f.parameters,
                    "weight_bytes": f.weight_bytes,
                    "name": e.name,
                    "std_us": s.std_us,
                    "first_call_us": s.first_call_us,
                    "buffers": s.buffers,
                }
            )
    return rows


def _find(rows: Sequence[Mapping[str, Any]], name: str, bs: int) -> Mapping[str, Any] | None:
    return next((r for r in rows if r["name"] == name and r["buffer_size"] == bs), None)


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
    shown = ["dry"] + [
        e.name
        for e in result.entries
        if e.backend != "torch" and e.backend != "numpy" and not e.processor.endswith("-naive")
    ]
    window = _excerpt(result.listen["dry"], max(int(float(cfg.bench.excerpt_seconds) * sr), 8))
    p = folder / f"{effect}_waveforms.png"
    bench_plots.plot_waveforms(
        {n: result.listen[n][window] for n in shown},
        sr,
        f"{effect}: waveforms (loudest {window.stop - window.start} samples of the test audio)",
        p,
    )
    paths.append(p)
    span = slice(0, min(result.listen["dry"].size, 3 * sr))
    p = folder / f"{effect}_spectrograms.png"
    bench_plots.plot_spectrograms(
        {n: result.listen[n][span] for n in shown},
        sr,
        f"{effect}: spectrograms, first {span.stop / sr:.1f} s of the test audio",
        p,
    )
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


def quality_report(result: EffectResult) -> dict[str, Any]:
    return {e.name: {"processor": e.processor, "backend": e.backend, **result.quality[e.name]} for e in result.entries}


def summary(cfg: DictConfig, results: Sequence[EffectResult], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limits = thresholds(plain(cfg.bench.targets))
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
        out[res.effect] = {
            "processors": eff,
            "targets": speed_targets(rows, res.effect, res.entries, limits, tube),
            "machine_load": res.machine_load.as_dict() if res.machine_load else None,
        }
    return as_jsonable(out)


def details(results: Sequence[EffectResult], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out = {}
    for res in results:
        out[res.effect] = {
            e.name: {
                "facts": res.facts[e.name].as_dict(),
                "build_ms": res.build_ms[e.name],
                "memory": res.memory.get(e.name),
                "first_call_us": {str(r["buffer_size"]): r["first_call_us"] for r in rows if r["name"] == e.name},
                "std_us": {str(r["buffer_size"]): r["std_us"] for r in rows if r["name"] == e.name},
                "buffers": {str(r["buffer_size"]): r["buffers"] for r in rows if r["name"] == e.name},
            }
            for e in res.entries
        }
    return as_jsonable(out)


def latency_long(rows: Sequence[Mapping[str, Any]], sample_rate: int) -> str:
    long = [
        {
            "series": f"{r['effect']} {r['name'].split(':')[0]} {r['processor']}",
            "buffer_size": r["buffer_size"],
            "p50_us": r["p50_us"],
            "p99_us": r["p99_us"],
            "deadline_us": 1e6 * r["buffer_size"] / sample_rate,
        }
        for r in rows
    ]
    return csv_text(long, ("series", "buffer_size", "p50_us", "p99_us", "deadline_us"))
