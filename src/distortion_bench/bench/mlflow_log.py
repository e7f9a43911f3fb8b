"""Benchmark results into MLflow (DESIGN section 4).

Neural rows go to the training run of the model they measure (its id is in
``reports/train/<pair>.json``); DSP rows go to one ``dsp-baseline`` run per effect experiment,
found again by its tag on later runs. Latency metrics are logged both as series with
``step = buffer_size`` and as flat keys (``p99_us/bs0064``) that the MLflow UI's table and
parallel-coordinates views can compare. Keys carry the backend unless it is the deployment
backend (ONNX Runtime for models, Numba for DSP): ``torch/p99_us/bs0064``,
``numpy/rtf/bs0512``, ``naive/p50_us/bs0032``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ROLE_TAG = "distortion_bench.role"
LATENCY_KEYS = ("mean_us", "p50_us", "p99_us", "p999_us", "max_us", "jitter_us", "rtf", "rtf_worst",
                "throughput_sps", "deadline_misses")


def metric_prefix(row: Mapping[str, Any]) -> str:
    """'' for the deployment backend of a processor kind, else ``<backend>/`` or ``naive/``."""
    if str(row["processor"]).endswith("-naive"):
        return "naive/"
    if row["backend"] in ("onnxruntime", "numba"):
        return ""
    return f"{row['backend']}/"


def latency_metrics(rows: Iterable[Mapping[str, Any]], prefix_of: Any = metric_prefix
                    ) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` triples: a series per key (step = buffer size) and flat keys (step 0)."""
    out = []
    for r in rows:
        p, bs = prefix_of(r), int(r["buffer_size"])
        for k in LATENCY_KEYS:
            v = float(r[k])
            out.append((f"{p}{k}", v, bs))
            out.append((f"{p}{k}/bs{bs:04d}", v, 0))
    return out


def log_metrics(run_id: str, metrics: Sequence[tuple[str, float, int]], tracking: str) -> None:
    """Log ``(key, value, step)`` to an existing run in batches (MLflow's limit is 1000 a call)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking)
    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, int(s)) for k, v, s in metrics if v == v]  # NaN-free
    for i in range(0, len(items), 1000):
        client.log_batch(run_id, metrics=items[i:i + 1000])


def log_artifacts(run_id: str, paths: Iterable[str | os.PathLike[str]], artifact_path: str, tracking: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    for p in paths:
        client.log_artifact(run_id, str(p), artifact_path)


def dsp_baseline_run(effect: str, params: Mapping[str, str], tracking: str) -> str:
    """The id of the effect experiment's ``dsp-baseline`` run, created on first use."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking)
    exp = client.get_experiment_by_name(effect)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(effect)
    found = client.search_runs([exp_id], filter_string=f"tags.`{ROLE_TAG}` = 'dsp_baseline'", max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(exp_id, run_name="dsp-baseline",
                            tags={ROLE_TAG: "dsp_baseline", "effect": effect, "model": "dsp"})
    for k, v in params.items():
        client.log_param(run.info.run_id, k, v[:500])
    client.set_terminated(run.info.run_id)
    return run.info.run_id
