"""What a trained pair leaves behind: audio examples, the seeds' loss curves, the report JSON
(chosen model's test metrics, every seed's, their spread) and the same in the pair's MLflow run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from torch import Tensor

from distortion_bench.analysis.plotting import plot_seed_curves
from distortion_bench.analysis.spread import spread
from distortion_bench.audio_io import write_audio
from distortion_bench.nn.data import WholeTakes
from distortion_bench.tracking import tracking_uri

#: Order in which test takes are picked as audio examples: one per kind of material.
EXAMPLE_ORDER = ("chord", "pluck", "bass", "sweep", "slide", "palm_mute", "tone", "noise", "user")

#: test metrics whose spread over seeds is reported (pooled over all test takes).
SPREAD_METRICS = ("esr", "esr_pre", "residual_esr", "mrstft")


def pick_examples(takes: WholeTakes, count: int) -> list[int]:
    chosen: list[int] = []
    for category in EXAMPLE_ORDER:
        for i, path in enumerate(takes.paths):
            if path.split("/")[0] == category and i not in chosen:
                chosen.append(i)
                break
        if len(chosen) >= count:
            break
    return chosen


def write_examples(report_dir: Path, test: WholeTakes, estimate: Tensor, count: int, sample_rate: int) -> list[str]:
    """``count`` test takes as ``<take>_dry.wav``, ``_target.wav``, ``_model.wav`` under
    ``report_dir/examples``; returns the takes' paths. ``estimate``: ``(takes, 1, time)``."""
    examples = []
    for i in pick_examples(test, count):
        n = int(test.lengths[i])
        stem = Path(test.paths[i]).stem
        for kind, signal in (("dry", test.dry), ("target", test.target), ("model", estimate)):
            write_audio(
                report_dir / "examples" / f"{stem}_{kind}.wav", signal[i, 0, :n].numpy().astype("float32"), sample_rate
            )
        examples.append(test.paths[i])
    return examples


def plot_curves(results: list[dict[str, Any]], chosen: dict[str, Any], path: Path, title: str) -> None:
    """Every seed's loss and validation curves in one plot, the chosen seed marked."""
    curves = {
        f"seed {r['seed']}" + (" (chosen)" if r is chosen else ""): json.loads(Path(r["history"]).read_text())
        for r in results
    }
    plot_seed_curves(curves, path, title)


def seed_spreads(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, min and max over the seeds of each test metric, the final validation ESR and the
    played guitar's ESR."""
    spreads = {key: spread([r["test"].get(key) for r in results]) for key in SPREAD_METRICS}
    spreads["val_esr_final"] = spread([r["val_esr_final"] for r in results])
    spreads["guitar_esr"] = spread([r["guitar_esr"] for r in results])
    return spreads


def log_pair(cfg: DictConfig, run_id: str, report: dict[str, Any], plot_path: Path, report_dir: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri(cfg.tracking.uri))
    metrics = report["test"]
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            client.log_metric(run_id, f"test/{key}", float(value))
    for category, values in metrics["by_category"].items():
        for key, value in values.items():
            if isinstance(value, (int, float)):
                client.log_metric(run_id, f"test/{category}/{key}", float(value))
    for key, s in report["spread"].items():
        if s:
            for stat in ("median", "min", "max"):
                client.log_metric(run_id, f"seeds/{key}_{stat}", float(s[stat]))
    client.log_metric(run_id, "seeds/count", float(len(report["seeds"])))
    client.set_tag(run_id, "chosen_seed", str(report["chosen_seed"]))
    client.set_tag(run_id, "stopped_by", report["stopped_by"])
    if report["warning"]:
        client.set_tag(run_id, "warning", report["warning"])
    client.log_metric(run_id, "train_seconds", float(report["train_seconds"]))
    client.log_metric(run_id, "params", float(report["params"]))
    client.log_artifact(run_id, str(plot_path))
    if (report_dir / "examples").is_dir():
        client.log_artifacts(run_id, str(report_dir / "examples"), artifact_path="examples")


def log_artifact(cfg: DictConfig, run_id: str, path: Path) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri(cfg.tracking.uri)).log_artifact(run_id, str(path))
