"""The study as one static page: ``<paths.site>/index.html`` with its audio and images beside it.

The folder is self-contained (relative links only, no script, CSS inline, nothing fetched from a
network) and opens from disk. It is written whole to a temporary folder and renamed into place,
and refused (the previous site kept) when it is larger than ``report.max_megabytes``.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from omegaconf import DictConfig

from distortion_bench.analysis.machine_load import MachineLoad
from distortion_bench.atomic import atomic_directory
from distortion_bench.bench.common import test_takes
from distortion_bench.bench.selection import bench_entries
from distortion_bench.config import selected_effects
from distortion_bench.errors import ConfigError
from distortion_bench.report.figures import spectrogram_grid
from distortion_bench.report.inputs import ReportError, ReportInputs, gather_inputs
from distortion_bench.report.knob_section import knob_section_parts
from distortion_bench.report.listening import (
    Player,
    check_layout,
    choose_excerpts,
    excerpt_players,
    match_loudness,
    read_processed,
    take_spans,
    write_row_mp3,
)
from distortion_bench.report.provenance import (
    file_digest,
    git_commit,
    mlflow_experiment_ids,
    run_link,
    scheduling_line,
    versions,
)
from distortion_bench.report.tables import (
    Table,
    crossover_tables,
    fmt,
    kernel_table,
    latency_table,
    quality_table,
    realtime_table,
    seed_ranking,
)
from distortion_bench.tracking import tracking_uri

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ListeningRow:
    """One excerpt: where it comes from, its spectrogram image and its players (relative paths)."""

    title: str
    loudness_lufs: float
    image: str
    players: list[dict[str, Any]]


@dataclass
class EffectSection:
    """Everything the page shows for one effect."""

    name: str
    tables: list[Table] = field(default_factory=list)
    listening: list[ListeningRow] = field(default_factory=list)
    listening_note: str = ""
    images: list[dict[str, str]] = field(default_factory=list)


def _bench_order(cfg: DictConfig, effect: str) -> tuple[list[str], dict[tuple[str, str], str]]:
    """Registry names in benchmark order, and (CSV processor, CSV backend) -> registry name."""
    try:
        entries = bench_entries(cfg, effect)
    except ConfigError:
        return [], {}
    return [e.name for e in entries], {(e.processor, e.backend): e.name for e in entries}


def _listening(cfg: DictConfig, effect: str, order: Sequence[str], out: Path) -> tuple[list[ListeningRow], str]:
    """Write the effect's excerpts (MP3 per player, a spectrogram per excerpt) under ``out``."""
    sr = int(cfg.audio.sample_rate)
    rc = cfg.report
    folder = Path(cfg.paths.processed) / effect
    reference = f"numba:{effect}"
    if not (folder / "dry.wav").is_file() or not (folder / f"{reference.replace(':', '_')}.wav").is_file():
        return [], (
            f"No processed audio in {folder} (dry.wav and the DSP reference): run "
            "`dvc repro offline_bench`; no listening rows for this effect."
        )
    processed = read_processed(folder, sr)
    takes = test_takes(cfg, effect)
    dataset_dry = np.concatenate(takes.dry) if takes.dry else np.zeros(0, np.float32)
    check_layout(processed["dry"], dataset_dry, folder / "dry.wav")
    ordered = {"dry": processed["dry"]}
    ordered.update({n: processed[n] for n in [reference, *order] if n in processed})
    ordered.update({n: a for n, a in processed.items() if n not in ordered})
    spans = take_spans(takes.paths, [t.size for t in takes.dry])
    excerpts = choose_excerpts(
        spans,
        processed["dry"].size,
        int(rc.excerpts),
        int(float(rc.excerpt_seconds) * sr),
        int(float(rc.min_excerpt_seconds) * sr),
    )
    if not excerpts:
        return [], (
            f"No test take has {rc.min_excerpt_seconds} s inside the processed audio "
            f"(bench.listen_seconds: {cfg.bench.listen_seconds}): no listening rows for this effect."
        )
    rows = []
    for k, ex in enumerate(excerpts, start=1):
        players: list[Player] = excerpt_players(ordered, reference, ex)
        loudness = match_loudness(players, sr, float(rc.target_lufs), float(rc.peak_dbfs))
        title = f"{k}. {ex.category}: {ex.path}, {ex.length / sr:.2f} s"
        rels = [f"audio/{effect}/{k}-{p.name.replace(':', '_')}.mp3" for p in players]
        loudness += write_row_mp3(
            players, [out / rel for rel in rels], sr, float(rc.audio_quality), float(rc.peak_dbfs)
        )
        entries = []
        for p, rel in zip(players, rels):
            role = "dry input" if p.name == "dry" else "DSP reference" if p.name == reference else ""
            entries.append(
                {
                    "name": p.name,
                    "role": role,
                    "src": rel,
                    "esr": fmt(p.esr),
                    "residual_esr": fmt(p.residual_esr),
                    "loudness": fmt(p.loudness_lufs, 3),
                    "gain_db": f"{p.gain_db:+.1f}",
                }
            )
        image = f"img/listen/{effect}-{k}.png"
        spec = rc.spectrogram
        spectrogram_grid(
            players,
            sr,
            out / image,
            f"{effect} — {title}",
            int(spec.fft_size),
            float(spec.max_hz),
            float(spec.range_db),
        )
        rows.append(ListeningRow(title, loudness, image, entries))
    return rows, ""


def _copy_images(paths: Sequence[Path], out: Path, group: str) -> list[dict[str, str]]:
    """Copy images into ``out/img/<group>/``; returns ``{"src", "caption"}`` per image."""
    copied = []
    for p in paths:
        rel = f"img/{group}/{p.parent.name}-{p.name}" if group == "training" else f"img/{group}/{p.name}"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, out / rel)
        copied.append({"src": rel, "caption": str(p)})
    return copied


def folder_bytes(folder: Path) -> int:
    """Total size of the files below ``folder`` (bytes)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _context(
    cfg: DictConfig, found: ReportInputs, sections: list[EffectSection], galleries: dict[str, list[dict[str, str]]]
) -> dict[str, Any]:
    run_ids = [r["run_id"] for r in found.runs.values()]
    experiments = mlflow_experiment_ids(tracking_uri(cfg.tracking.uri), run_ids)
    runs = [
        {
            "effect": e,
            "model": m,
            "experiment": r["experiment"],
            "run_id": r["run_id"],
            "link": run_link(str(cfg.report.mlflow_ui), experiments.get(r["run_id"]), r["run_id"]),
        }
        for (e, m), r in sorted(found.runs.items())
    ]
    setup = {
        "machine": found.machine or "not recorded (no comparison.md)",
        "threads": str(cfg.bench.threads),
        "scheduling": scheduling_line(found.realtime_summary) or "no real-time results",
        "audio_backend": str(found.realtime_summary.get("backend", cfg.audio.backend)),
        "sample_rate": str(cfg.audio.sample_rate),
    }
    return {
        "sections": sections,
        "galleries": galleries,
        "missing": found.missing,
        "runs": runs,
        "setup": setup,
        "machine_load": machine_load_lines(found),
        "versions": versions(),
        "params_digest": file_digest(Path("params.yaml")) or "no params.yaml",
        "commit": git_commit(Path.cwd()) or "not a git checkout",
        "sweep_dir": str(found.sweep_dir) if found.sweep_dir else None,
        "report": cfg.report,
    }


def machine_load_lines(found: ReportInputs) -> list[dict[str, Any]]:
    """How busy the machine was during each benchmark, from the bench summaries:
    ``[{"what": "offline tube", "text": ..., "busy": bool}]``."""
    loads = [
        (f"offline benchmark, {effect}", (summary or {}).get("machine_load"))
        for effect, summary in sorted(found.offline_summary.items())
        if isinstance(summary, dict)
    ]
    loads.append(("real-time benchmark", found.realtime_summary.get("machine_load")))
    lines = []
    for what, load in loads:
        if load:
            lines.append({"what": what, "text": MachineLoad(**load).describe(), "busy": bool(load.get("busy"))})
    return lines


def build_site(cfg: DictConfig) -> Path:
    """Write the report site to ``paths.site`` from the results on disk; returns its ``index.html``."""
    found = gather_inputs(cfg)
    sr = int(cfg.audio.sample_rate)
    target = Path(cfg.paths.site)
    budget = float(cfg.report.max_megabytes) * 1e6
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    with atomic_directory(target) as out:
        sections = []
        for effect in selected_effects(cfg):
            order, names = _bench_order(cfg, effect)
            section = EffectSection(effect)
            if effect in found.quality:
                table = quality_table(effect, found.quality[effect], order)
                ranking = seed_ranking(found.quality[effect])
                if ranking:
                    table.note += " Over seeds: " + " ".join(ranking)
                section.tables.append(table)
            if any(r["effect"] == effect for r in found.offline_rows):
                section.tables.append(latency_table(effect, found.offline_rows, names, sr))
                kernels = kernel_table(effect, found.offline_rows, found.details)
                if kernels is not None:
                    section.tables.append(kernels)
            if effect in found.crossover:
                section.tables.extend(crossover_tables(found.crossover[effect]))
            if any(r["effect"] == effect for r in found.realtime_rows):
                section.tables.append(realtime_table(effect, found.realtime_rows))
            section.listening, section.listening_note = _listening(cfg, effect, order, out)
            section.images = _copy_images(
                [p for p in found.offline_plots if p.name.startswith(f"{effect}_")], out, "offline"
            )
            sections.append(section)
        if cfg.get("knob_matrix"):
            knobs = EffectSection("knobs")
            knobs.tables, rows, knobs.images, knobs.listening_note = knob_section_parts(cfg, out)
            knobs.listening = [ListeningRow(*row) for row in rows]
            if knobs.tables or knobs.listening:
                sections.append(knobs)
        galleries = {
            "Real-time": _copy_images(found.realtime_plots, out, "realtime"),
            "Sweep: model size x buffer size": _copy_images(found.sweep_plots, out, "sweep"),
            "Training curves": _copy_images(found.training_plots, out, "training"),
        }
        html = env.get_template("index.html.j2").render(**_context(cfg, found, sections, galleries))
        (out / "index.html").write_text(html, encoding="utf-8")
        # a web page's folder is read by others (a web server, a colleague): not mkdtemp's 0700
        umask = os.umask(0)
        os.umask(umask)
        out.chmod(0o777 & ~umask)
        size = folder_bytes(out)
        if size > budget:
            raise ReportError(
                f"{target}: the site would be {size / 1e6:.1f} MB, over report.max_megabytes "
                f"({cfg.report.max_megabytes}); lower report.excerpts, report.excerpt_seconds or "
                "raise report.audio_quality (smaller MP3s), or raise the budget"
            )
    log.info("report: %s (%.2f MB)", target / "index.html", size / 1e6)
    return target / "index.html"
