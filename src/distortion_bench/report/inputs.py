"""What the report page is built from: the results the other stages left, and what is missing.

Every input is optional: a missing one becomes a line in :attr:`ReportInputs.missing` that the
page shows (with the command that makes it), never an exception. An input that exists but cannot
be read is an error naming the file.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distortion_bench.errors import DistortionBenchError


class ReportError(DistortionBenchError):
    """The report cannot be built; the message names the file or key at fault."""


#: file names of a sweep summary folder (see ``sweep.summary.write_summary``)
SWEEP_PLOTS = ("heatmaps.png", "pareto.png")


@dataclass
class ReportInputs:
    """The results found on disk.

    Attributes:
        offline_rows: rows of ``offline_bench.csv`` (strings, as written), [] if missing.
        quality: ``quality.json``: effect -> registry name -> quality record.
        realtime_rows: rows of ``realtime_bench.csv`` (strings), [] if missing.
        realtime_summary: ``realtime_bench.json`` (scheduling granted, backend), {} if missing.
        machine: the machine line of ``comparison.md`` (where the offline bench ran), or None.
        offline_plots / realtime_plots / training_plots / sweep_plots: image files found.
        sweep_dir: the sweep summary folder used, or None.
        details: ``offline/details.json``: effect -> registry name -> facts and timing details ({}).
        crossover: ``offline/crossover.json``: effect -> its crossover report ({} if missing).
        runs: ``(effect, model)`` -> ``{"experiment", "run_id"}`` from the training reports.
        missing: what is not there, one sentence each, for the page.
    """

    offline_rows: list[dict[str, str]] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    realtime_rows: list[dict[str, str]] = field(default_factory=list)
    realtime_summary: dict[str, Any] = field(default_factory=dict)
    offline_summary: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    crossover: dict[str, Any] = field(default_factory=dict)
    machine: str | None = None
    offline_plots: list[Path] = field(default_factory=list)
    realtime_plots: list[Path] = field(default_factory=list)
    training_plots: list[Path] = field(default_factory=list)
    sweep_plots: list[Path] = field(default_factory=list)
    sweep_dir: Path | None = None
    runs: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file with a header, values as the strings written."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReportError(f"{path}: cannot read it as CSV ({exc})") from exc


def read_json(path: Path) -> Any:
    """A JSON file, or a :class:`ReportError` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read it as JSON ({exc})") from exc


def machine_line(comparison_md: Path) -> str | None:
    """The ``Machine: ...`` sentence the offline bench wrote into ``comparison.md``."""
    for line in comparison_md.read_text(encoding="utf-8").splitlines():
        if line.startswith("Machine:"):
            return line.removeprefix("Machine:").split(". Command:")[0].strip()
    return None


def find_sweep_summary(setting: str, sweep_root: Path) -> Path | None:
    """The sweep summary folder ``report.sweep_summary`` names: ``latest`` (the newest
    ``<sweep_root>/*/summary`` holding a summary table), ``none``, or a folder."""
    if setting == "none":
        return None
    if setting == "latest":
        found = sorted(sweep_root.glob("*/summary/summary.csv"), key=lambda p: p.parent.parent.name)
        return found[-1].parent if found else None
    folder = Path(setting)
    if not (folder / "summary.csv").is_file():
        raise ReportError(
            f"report.sweep_summary: {folder} holds no summary.csv (expected a sweep's summary "
            f"folder, 'latest' or 'none')"
        )
    return folder


def gather_inputs(cfg: DictConfig) -> ReportInputs:
    """Read every result the page shows from ``paths.reports`` (and the sweep summary)."""
    reports = Path(cfg.paths.reports)
    found = ReportInputs()
    offline_csv = reports / "offline_bench.csv"
    if offline_csv.is_file():
        found.offline_rows = read_csv_rows(offline_csv)
    else:
        found.missing.append(
            f"No offline benchmark ({offline_csv}): run `dvc repro offline_bench`; "
            "latency tables and offline plots are left out."
        )
    quality_json = reports / "quality.json"
    if quality_json.is_file():
        found.quality = read_json(quality_json)
    else:
        found.missing.append(
            f"No quality results ({quality_json}): run `dvc repro offline_bench`; the quality tables are left out."
        )
    if (reports / "comparison.md").is_file():
        found.machine = machine_line(reports / "comparison.md")
    if (reports / "offline_bench.json").is_file():
        found.offline_summary = read_json(reports / "offline_bench.json")
    if (reports / "offline" / "details.json").is_file():
        found.details = read_json(reports / "offline" / "details.json")
    if (reports / "offline" / "crossover.json").is_file():
        found.crossover = read_json(reports / "offline" / "crossover.json")
    realtime_csv = reports / "realtime_bench.csv"
    if realtime_csv.is_file():
        found.realtime_rows = read_csv_rows(realtime_csv)
        if (reports / "realtime_bench.json").is_file():
            found.realtime_summary = read_json(reports / "realtime_bench.json")
    else:
        found.missing.append(
            f"No real-time results ({realtime_csv}): run `dvc repro realtime_bench`; "
            "the glitch table and real-time plots are left out."
        )
    found.offline_plots = sorted((reports / "plots" / "offline").glob("*.png"))
    found.realtime_plots = sorted(p for p in (reports / "plots" / "realtime").glob("*") if p.suffix in (".png", ".gif"))
    found.training_plots = sorted((reports / "train").glob("*/loss_curve.png"))
    for path in sorted((reports / "train").glob("*.json")):
        record = read_json(path)
        run = record.get("mlflow") or {}
        if run.get("run_id"):
            found.runs[(str(record.get("effect")), str(record.get("model")))] = {
                "experiment": str(run.get("experiment", "")),
                "run_id": str(run["run_id"]),
            }
    found.sweep_dir = find_sweep_summary(str(cfg.report.sweep_summary), Path("outputs") / "sweep")
    if found.sweep_dir is None:
        found.missing.append(
            "No sweep summary (report.sweep_summary: "
            f"{cfg.report.sweep_summary}): run `python -m pipeline.sweep -m ...` "
            "(docs/sweeps-and-cluster.md) for the heatmaps and the Pareto plot."
        )
    else:
        found.sweep_plots = [found.sweep_dir / n for n in SWEEP_PLOTS if (found.sweep_dir / n).is_file()]
    return found
