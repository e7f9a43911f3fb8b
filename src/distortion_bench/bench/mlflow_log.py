"""Benchmark results into MLflow.

Neural rows go to the training run of the model they measure (its id is in
``reports/train/<pair>.json``); DSP rows go to one ``dsp-baseline`` run per effect experiment,
found again by its tag on later runs. Latency metrics are logged both as series with
``step = buffer_size`` and as flat keys (``p99_us/bs0064``) that the MLflow UI's table and
parallel-coordinates views can compare. Keys carry the backend unless it is the deployment
backend (ONNX Runtime for models, Numba for DSP): ``torch/p99_us/bs0064``,
``numpy/rtf/bs0512``, ``naive/p50_us/bs0032``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distortion_bench.config import matrix_models, plain
from distortion_bench.errors import DistortionBenchError
from distortion_bench.tracking import flatten, tracking_uri

ROLE_TAG = "distortion_bench.role"
LATENCY_KEYS = (
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
)


def metric_prefix(processor: str, backend: str) -> str:
    """'' for the deployment backend of a processor kind, else ``<backend>/`` or ``naive/``.

    ``processor`` and ``backend`` are the report labels (``tcn``, ``tcn-naive``, ``dsp``;
    ``onnxruntime``, ``torch``, ``numba``, ...). A model's own metrics are ONNX Runtime's; its
    Numba kernel logs ``numba/...`` and PyTorch ``torch/...`` beside them on the same run. The DSP
    baseline's are Numba's; a DSP variant (``dsp-os2``) logs ``os2/...`` on the same run.
    """
    if processor.endswith("-naive"):
        return "naive/"
    if processor.startswith("dsp-"):
        return f"{processor.removeprefix('dsp-')}/"
    if backend == "onnxruntime" or (backend == "numba" and processor == "dsp"):
        return ""
    return f"{backend}/"


def per_buffer_metrics(
    rows: Iterable[Mapping[str, Any]], keys: Sequence[str], prefix_of: Callable[[Mapping[str, Any]], str]
) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` triples for each row's ``keys`` (None skipped): a series per key
    (step = the row's ``buffer_size``) and a flat key per buffer size (``p99_us/bs0064``, step 0)."""
    out = []
    for r in rows:
        p, bs = prefix_of(r), int(r["buffer_size"])
        for k in keys:
            if r[k] is None:
                continue
            v = float(r[k])
            out.append((f"{p}{k}", v, bs))
            out.append((f"{p}{k}/bs{bs:04d}", v, 0))
    return out


def latency_metrics(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, float, int]]:
    """:func:`per_buffer_metrics` of the offline table's latency columns."""
    return per_buffer_metrics(rows, LATENCY_KEYS, lambda r: metric_prefix(str(r["processor"]), str(r["backend"])))


def log_metrics(run_id: str, metrics: Sequence[tuple[str, float, int]], tracking: str) -> None:
    """Log ``(key, value, step)`` to an existing run in batches (MLflow's limit is 1000 a call)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking)
    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, int(s)) for k, v, s in metrics if v == v]  # NaN-free
    for i in range(0, len(items), 1000):
        client.log_batch(run_id, metrics=items[i : i + 1000])


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
    run = client.create_run(
        exp_id, run_name="dsp-baseline", tags={ROLE_TAG: "dsp_baseline", "effect": effect, "model": "dsp"}
    )
    for k, v in params.items():
        client.log_param(run.info.run_id, k, v[:500])
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def bench_run_id(cfg: DictConfig, effect: str, model: str | None, tracking: str) -> str:
    """The run that benchmark results of (effect, model) belong to: the model's training run
    (id from ``<reports>/train/<effect>-<model>.json``), or for DSP (``model`` None) the
    effect's ``dsp-baseline`` run, created with the effect's parameters on first use."""
    if model is None:
        params = flatten({"effect": plain(cfg.effects[effect])}) | {"sample_rate": str(cfg.audio.sample_rate)}
        return dsp_baseline_run(effect, params, tracking)
    report = Path(cfg.paths.reports) / "train" / f"{effect}-{model}.json"
    if not report.is_file():
        raise DistortionBenchError(f"{report}: no training report for {effect}-{model}; run the train stage first")
    return str(json.loads(report.read_text())["mlflow"]["run_id"])


def log_machine_load(cfg: DictConfig, effects: Iterable[str], stage: str, load: Any) -> None:
    """How busy the machine was while ``stage`` (``offline`` or ``rt``) measured: metrics
    ``machine/<stage>/...`` and the tag ``<stage>_busy_machine`` on every benchmark run of each
    effect (each model's training run and the ``dsp-baseline`` run), so the MLflow UI can filter
    out runs measured on a busy machine (``tags.offline_busy_machine = 'false'``)."""
    from mlflow.tracking import MlflowClient

    tracking = tracking_uri(cfg.tracking.uri)
    client = MlflowClient(tracking)
    values = {
        "others_cpu_share": load.others_cpu_share,
        "steal_share": load.steal_share,
        "loadavg_start": load.loadavg_start,
        "loadavg_end": load.loadavg_end,
    }
    for effect in effects:
        models = [None, *matrix_models(cfg, effect)]
        for model in models:
            report = Path(cfg.paths.reports) / "train" / f"{effect}-{model}.json"
            if model is not None and not report.is_file():
                continue
            run_id = bench_run_id(cfg, effect, model, tracking)
            for key, value in values.items():
                if value is not None:
                    client.log_metric(run_id, f"machine/{stage}/{key}", float(value))
            client.set_tag(run_id, f"{stage}_busy_machine", "true" if load.busy else "false")
            if load.busy:
                client.set_tag(run_id, f"{stage}_machine_warning", load.describe())
