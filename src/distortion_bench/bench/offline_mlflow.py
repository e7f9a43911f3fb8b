"""The offline stage's figures in MLflow: each model's training run gets its processors' latency
and quality metrics and the plots; the effect's ``dsp-baseline`` run gets the DSP's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from distortion_bench.bench import mlflow_log
from distortion_bench.bench.selection import BenchEntry
from distortion_bench.tracking import tracking_uri

if TYPE_CHECKING:  # the stage module imports this one
    from distortion_bench.bench.offline import EffectResult


def log_to_mlflow(
    cfg: DictConfig, result: EffectResult, rows: Sequence[Mapping[str, Any]], plots: Sequence[Path]
) -> None:
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
