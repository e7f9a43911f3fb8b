"""One sweep job: (effect, model, size) at one buffer size -> an MLflow child run.

The job gets its trained model from :func:`..training.trained_model` (trained once per training
config, whatever the buffer size), then measures it the way the offline stage does: quality of
the ONNX model against the Numba DSP on the test takes, and per-buffer time of the ONNX model,
the same file compiled to a Numba kernel (``numba_nn_*`` metrics) and the Numba DSP reference
interleaved in blocks at ``bench.buffer_size``; with
``sweep.realtime``, also a real-time stream on ``audio.backend``.

With ``sweep.knobs`` the job's model is the family's knob-conditioned form
(:func:`..training.trained_knob_model`), and the cell reports what a conditioned model is judged
by: the held-out grid (median and worst ESR over the settings, the grid median's spread over the
cell's seeds), the model at the effect's fixed setting on the fixed test takes, and its time per
buffer as the Numba kernel with the knobs constant and with a new setting every call (gliding),
and as ONNX Runtime, beside the Numba DSP.

Its child run (under the multirun's parent, see :mod:`.callbacks`) gets the job's overrides as
params and the metrics; a job that fails becomes a FAILED child run with the error as a tag,
and the job returns instead of raising, so the other jobs and the parent's summary still run
(the parent then reports the failure and the multirun exits non-zero).
"""

from __future__ import annotations

import json
import logging
import math
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench.bench.common import test_takes
from distortion_bench.bench.quality import signal_quality, stream_takes
from distortion_bench.bench.timing import AudioBenchmark, TimingConfig
from distortion_bench.config import plain
from distortion_bench.engine.dsp_processors import dsp_processor
from distortion_bench.engine.nn_processors import OnnxProcessor
from distortion_bench.engine.numba_nn_processor import NumbaNetworkProcessor
from distortion_bench.errors import ConfigError
from distortion_bench.sweep.training import trained_knob_model, trained_model

log = logging.getLogger(__name__)
PARENT_FILE = "mlflow_parent.json"
PARENT_ENV = "DISTORTION_BENCH_PARENT_RUN"
#: child-run metrics the parent's summary reads
SUMMARY_METRICS = (
    "esr",
    "residual_esr",
    "rtf",
    "rtf_worst",
    "p50_us",
    "p99_us",
    "numba_nn_p50_us",
    "numba_nn_p99_us",
    "params",
    "grid_esr_median",
    "grid_esr_worst",
    "numba_nn_moving_p50_us",
)


def _measure(cfg: DictConfig, effect: str, model: dict[str, Any]) -> dict[str, float]:
    sr = int(cfg.audio.sample_rate)
    bs = int(cfg.bench.buffer_size)
    onnx = OnnxProcessor(model["onnx"], f"onnx:{effect}-{model['key']}", effect, int(cfg.bench.threads))
    numba = dsp_processor(plain(cfg.effects[effect]), effect, sr, "numba")
    kernel = NumbaNetworkProcessor(model["onnx"], f"numba:{effect}-{model['key']}", effect)
    dry_takes, target_takes, _ = test_takes(cfg, effect)
    dry, target = np.concatenate(dry_takes), np.concatenate(target_takes)
    quality = signal_quality(dry, target, stream_takes(onnx, dry_takes, int(cfg.bench.quality.buffer_size)))
    timing = AudioBenchmark(
        {"onnx": onnx, "numba_nn": kernel, "numba": numba}, sr, TimingConfig(**plain(cfg.bench.timing))
    ).run(dry, bs)
    t, ref, nn = timing["onnx"], timing["numba"], timing["numba_nn"]
    out = {k: v for k, v in quality.items() if v is not None}
    out.update(
        {
            "rtf": t.rtf,
            "rtf_worst": t.rtf_worst,
            "p50_us": t.p50_us,
            "p99_us": t.p99_us,
            "p999_us": t.p999_us,
            "max_us": t.max_us,
            "jitter_us": t.jitter_us,
            "deadline_misses": float(t.deadline_misses),
            "throughput_sps": t.throughput_sps,
            "numba_p50_us": ref.p50_us,
            "numba_nn_p50_us": nn.p50_us,
            "numba_nn_p99_us": nn.p99_us,
            "numba_nn_rtf": nn.rtf,
            "params": float(onnx.facts().parameters),
            "train_seconds": float(model["report"]["train_seconds"]),
            "reused_model": float(model["reused"]),
        }
    )
    esr_seeds = (model["report"].get("spread") or {}).get("esr")
    if esr_seeds:  # the cell's test ESR over its training seeds (sweep.seeds)
        out.update({f"esr_seed_{k}": float(esr_seeds[k]) for k in ("min", "median", "max")})
        out["seeds"] = float(esr_seeds["n"])
    if cfg.sweep.realtime:
        from distortion_bench.bench.realtime import stream_one
        from distortion_bench.engine.audio_backends import audio_host

        with audio_host(str(cfg.audio.backend), sr, bs) as host:
            rt, _ = stream_one(host, onnx, dry, bs, sr, float(cfg.bench.realtime.seconds))
        out.update(
            {
                f"rt/{k}": float(rt[k])
                for k in ("underruns", "processor_glitches", "scheduler_glitches", "faults", "rtf_worst")
            }
        )
        if rt["xruns"] is not None:
            out["rt/xruns"] = float(rt["xruns"])
    return out


def _measure_knobs(cfg: DictConfig, effect: str, model: dict[str, Any]) -> dict[str, float]:
    """A conditioned cell's figures (the module docstring): grid quality from its training report,
    time per buffer from one interleaved run at ``bench.buffer_size``."""
    from distortion_bench.bench.knob_bench import KnobsEveryCall, fixed_setting
    from distortion_bench.engine.knob_mailbox import random_setting
    from distortion_bench.engine.registry import knob_glide_seconds

    sr, bs = int(cfg.audio.sample_rate), int(cfg.bench.buffer_size)
    glide_s = knob_glide_seconds(cfg, effect)
    onnx = OnnxProcessor(model["onnx"], f"onnx:{effect}-{model['key']}", effect, int(cfg.bench.threads), glide_s)
    kernel = NumbaNetworkProcessor(model["onnx"], f"numba:{effect}-{model['key']}", effect, knob_glide_s=glide_s)
    moving = NumbaNetworkProcessor(model["onnx"], "moving", effect, verify=False, knob_glide_s=glide_s)
    dsp = dsp_processor(plain(cfg.effects[effect]), effect, sr, "numba")
    space = kernel.knob_space()
    setting = fixed_setting(cfg, effect, space)
    for p in (onnx, kernel):
        p.set_knobs(at_once=True, **setting)
    rng = np.random.default_rng(int(cfg.seed))
    turned = KnobsEveryCall(moving, [random_setting(space, rng) for _ in range(64)])
    dry = np.concatenate(test_takes(cfg, effect).dry)
    timing = AudioBenchmark(
        {"onnx": onnx, "numba_nn": kernel, "numba_nn_moving": turned, "numba": dsp},
        sr,
        TimingConfig(**plain(cfg.bench.timing)),
    ).run(dry, bs)
    report = model["report"]
    grid = report["grid_summary"]["esr"]
    out = {
        "grid_esr_median": float(grid["median"]),
        "grid_esr_worst": float(grid["max"]),
        "esr_at_setting": float(report["reference"]["esr"]),
        "residual_esr_at_setting": float(report["reference"]["residual_esr"]),
        "params": float(onnx.facts().parameters),
        "train_seconds": 60.0 * float(report["train_minutes"]),
        "reused_model": float(model["reused"]),
    }
    seeds = report["spread"].get("grid_esr_median")
    if seeds:  # the grid median over the cell's training seeds (sweep.seeds)
        out.update({f"grid_esr_median_seed_{k}": float(seeds[k]) for k in ("min", "median", "max")})
        out["seeds"] = float(seeds["n"])
    t, ref = timing["onnx"], timing["numba"]
    nn, glide = timing["numba_nn"], timing["numba_nn_moving"]
    out.update(
        {
            "rtf": t.rtf,
            "p50_us": t.p50_us,
            "p99_us": t.p99_us,
            "numba_p50_us": ref.p50_us,
            "numba_nn_p50_us": nn.p50_us,
            "numba_nn_p99_us": nn.p99_us,
            "numba_nn_rtf": nn.rtf,
            "numba_nn_moving_p50_us": glide.p50_us,
            "numba_nn_moving_p99_us": glide.p99_us,
        }
    )
    return out


def parent_run_id(sweep_dir: str | Path | None) -> str | None:
    """The multirun's parent run id: from the environment the callback set (inherited by
    every launcher's workers), else its file in the sweep folder; None outside a multirun."""
    if os.environ.get(PARENT_ENV):
        return os.environ[PARENT_ENV]
    f = Path(sweep_dir) / PARENT_FILE if sweep_dir else None
    return json.loads(f.read_text())["run_id"] if f is not None and f.is_file() else None


def where_it_runs() -> dict[str, str]:
    """Tags saying where a job ran: host, working directory, and the SLURM job id under SLURM."""
    import socket

    tags = {"hostname": socket.gethostname(), "working_dir": os.getcwd()}
    if os.environ.get("SLURM_JOB_ID"):
        tags["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    return tags


def describe_failure(exc: BaseException, time_limit: str | None) -> str:
    """The error a FAILED child run gets. submitit raises ``UncompletedJobError`` in the job when
    SLURM's warning signal says the job is about to reach its time limit: say so in those words."""
    error = f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "UncompletedJobError":
        return f"killed at its SLURM time limit ({time_limit or 'hydra.launcher.timeout_min'}): {error}"
    return error


def child_run(
    cfg: DictConfig,
    overrides: list[str],
    sweep_dir: str | None,
    experiment_name: str,
    name: str,
    tags: dict[str, str],
    work: Callable[[Any, str], dict[str, float]],
    time_limit: str | None = None,
) -> dict[str, Any]:
    """Run ``work(client, run_id) -> metrics`` as an MLflow child run of the multirun's parent.

    The job's overrides become params, finite metrics are logged; a failure becomes a FAILED
    run with the error as a tag, returned, never raised (see the module docstring).
    ``time_limit`` names the launcher's time limit for the error of a job stopped by it.
    """
    from mlflow import MlflowClient

    from distortion_bench.tracking import tracking_uri

    client = MlflowClient(tracking_uri(cfg.tracking.uri))
    parent = parent_run_id(sweep_dir)
    experiment = client.get_experiment_by_name(experiment_name)
    exp_id = experiment.experiment_id if experiment else client.create_experiment(experiment_name)
    tags = {**tags, **where_it_runs()}
    if parent:
        tags = {**tags, "mlflow.parentRunId": parent}
    child = client.create_run(exp_id, run_name=name, tags=tags)
    run_id = child.info.run_id
    for o in overrides:
        k, _, v = o.lstrip("+~").partition("=")
        client.log_param(run_id, k, v)
    try:
        metrics = work(client, run_id)
        for k, v in metrics.items():
            if math.isfinite(v):
                client.log_metric(run_id, k, v)
        client.set_terminated(run_id, "FINISHED")
        log.info("%s: %s", name, {k: round(v, 6) for k, v in metrics.items()})
        return {"status": "FINISHED", "run_id": run_id, "metrics": metrics}
    except Exception as exc:  # recorded, not raised: see the module docstring
        error = describe_failure(exc, time_limit)
        client.set_tag(run_id, "error", error[:5000])
        client.set_tag(run_id, "traceback", traceback.format_exc()[-5000:])
        client.set_terminated(run_id, "FAILED")
        log.error("%s failed: %s", name, error)
        return {"status": "FAILED", "run_id": run_id, "error": error}


def run(cfg: DictConfig, overrides: list[str], sweep_dir: str | None, time_limit: str | None = None) -> dict[str, Any]:
    """Run one job; never raises for a job failure (see the module docstring)."""
    effect = str(cfg.sweep.effect)
    model_cfg = plain(cfg.model)
    knobs = bool(cfg.sweep.get("knobs", False))
    family = f"{model_cfg.get('type')}{'-knobs' if knobs else ''}"
    name = f"{effect}-{family}-s{model_cfg.get('size')}-bs{cfg.bench.buffer_size}"
    tags = {
        "knobs": str(knobs).lower(),
        "effect": effect,
        "model": str(model_cfg.get("type")),
        "size": str(model_cfg.get("size")),
        "buffer_size": str(cfg.bench.buffer_size),
    }

    def work(client: Any, run_id: str) -> dict[str, float]:
        if effect not in cfg.effects:
            raise ConfigError(
                f"sweep.effect: {effect!r} is not a key of effects; expected one of {sorted(cfg.effects)}"
            )
        bs = int(cfg.bench.buffer_size)
        if bs < 1:
            raise ConfigError(f"bench.buffer_size: expected a positive integer, got {bs}")
        size = model_cfg.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"model.size: expected a positive integer, got {size!r}")
        model = (trained_knob_model if knobs else trained_model)(cfg, effect, model_cfg)
        client.set_tag(run_id, "model_key", model["key"])
        client.set_tag(run_id, "training_run_id", model["report"]["mlflow"]["run_id"])
        return (_measure_knobs if knobs else _measure)(cfg, effect, model)

    return child_run(cfg, overrides, sweep_dir, str(cfg.sweep.experiment), name, tags, work, time_limit)
