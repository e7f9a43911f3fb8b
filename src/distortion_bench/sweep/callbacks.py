"""Hydra callback: a multirun is one MLflow parent run; its summary is written when it ends.

``on_multirun_start`` (the launching process, before any job) creates the sweep's experiment
and the parent run, and hands the parent's id to the jobs through the environment
(``DISTORTION_BENCH_PARENT_RUN``, inherited by joblib workers, submitit processes and SLURM jobs)
and a file in the sweep folder. ``on_multirun_end`` reads every child run back from the
tracking server, writes the summary table and plots into the sweep folder and logs them to the
parent: heatmaps of ESR, RTF and p99 latency over model size x buffer size (one row of panels
per model type) and the quality-vs-latency Pareto front. Failed jobs are listed in
:data:`FAILED_JOBS`, and the entry point then exits non-zero, with everything recorded.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from distortion_bench.atomic import write_json
from distortion_bench.sweep.job import PARENT_ENV, PARENT_FILE, SUMMARY_METRICS
from distortion_bench.tracking import tracking_uri

log = logging.getLogger(__name__)
#: the failed jobs of the last multirun that ended in this process (the entry point exits
#: non-zero when there are any: Hydra turns a callback's exception into a mere warning)
FAILED_JOBS: list[str] = []
#: the tracking URI of the multirun running in this process (for :func:`fail_unfinished`)
_TRACKING: dict[str, str | None] = {"uri": None}


def slurm_preflight(launcher: DictConfig) -> str | None:
    """Why a SLURM launcher cannot submit here (``sbatch`` missing, an unknown partition), or None.

    Checked before the parent run is created, so a refused sweep leaves nothing behind in MLflow.
    """
    import shutil
    import subprocess

    if "SlurmLauncher" not in str(launcher.get("_target_", "")):
        return None
    if shutil.which("sbatch") is None:
        return (
            "hydra/launcher=slurm: `sbatch` is not on PATH: run the sweep where SLURM's commands are "
            "(a login node), or use hydra/launcher=joblib on one machine"
        )
    partition = launcher.get("partition")
    if partition:
        listed = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True)
        names = sorted(set(listed.stdout.split()))
        if listed.returncode != 0:
            return f"hydra/launcher=slurm: `sinfo` failed ({listed.stderr.strip()}): is the cluster reachable?"
        if str(partition) not in names:
            return (
                f"hydra.launcher.partition={partition}: no such partition on this cluster "
                f"(sinfo lists: {', '.join(names) or 'none'})"
            )
    return None


def fail_unfinished(reason: str) -> None:
    """Mark the running multirun's parent and its unfinished children FAILED with ``reason``.

    For a multirun the launcher aborted (``on_multirun_end`` never ran): without this its runs
    would stay RUNNING in MLflow forever. No-op outside a multirun.
    """
    from mlflow import MlflowClient

    parent = os.environ.pop(PARENT_ENV, None)
    if not parent:
        return
    client = MlflowClient(_TRACKING["uri"] or tracking_uri(None))
    for child in _child_runs(client, parent):
        if child.info.status not in ("FINISHED", "FAILED"):
            client.set_tag(child.info.run_id, "error", reason)
            client.set_terminated(child.info.run_id, "FAILED")
            FAILED_JOBS.append(f"{child.info.run_name}: {reason}")
    client.set_tag(parent, "error", reason)
    client.set_terminated(parent, "FAILED")


class MlflowSweepCallback(Callback):
    """See the module docstring."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow import MlflowClient

        refused = slurm_preflight(config.hydra.launcher)
        if refused:  # SystemExit: Hydra turns a callback's exceptions into warnings
            print(f"sweep: error: {refused}", file=sys.stderr)
            raise SystemExit(2)
        _TRACKING["uri"] = tracking_uri(config.tracking.uri)
        client = MlflowClient(_TRACKING["uri"])
        name = str(config.sweep.experiment)
        exp = client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp else client.create_experiment(name)  # once, before any job
        overrides = list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
        run = client.create_run(
            exp_id,
            run_name=f"sweep-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={
                "distortion_bench.role": "sweep_parent",
                "launcher": str(config.hydra.launcher.get("_target_", "")).rsplit(".", 1)[-1],
            },
        )
        client.log_param(run.info.run_id, "overrides", " ".join(overrides)[:6000])
        os.environ[PARENT_ENV] = run.info.run_id
        sweep_dir = Path(str(config.hydra.sweep.dir))
        write_json(sweep_dir / PARENT_FILE, {"run_id": run.info.run_id, "experiment_id": exp_id})
        log.info("sweep parent run %s in experiment %r", run.info.run_id, name)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from distortion_bench.sweep.summary import write_summary

        found = _children(config)
        if found is None:
            return
        client, parent, children = found
        rows = [summary_row(c) for c in children]
        out = Path(str(config.hydra.sweep.dir)) / "summary"
        files = write_summary(rows, out)
        files += sweep_crossover(config, rows, out)
        for f in files:
            client.log_artifact(parent, str(f), "summary")
        failed = [r for r in rows if r["status"] != "FINISHED"]
        client.log_metric(parent, "jobs", float(len(rows)))
        client.log_metric(parent, "failed_jobs", float(len(failed)))
        client.set_terminated(parent, "FINISHED" if not failed else "FAILED")
        os.environ.pop(PARENT_ENV, None)
        log.info("sweep summary: %d jobs, %d failed -> %s", len(rows), len(failed), out)
        FAILED_JOBS[:] = [f"{r['name']}: {r['error']}" for r in failed]
        if failed:
            log.error("sweep: %d failed jobs (recorded as FAILED child runs): %s", len(failed), "; ".join(FAILED_JOBS))


def sweep_crossover(config: DictConfig, rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """Where the swept effect has a crossover report from the pipeline's offline bench
    (``<reports>/offline/crossover.json``: an effect with DSP variants, the clipper), its chart
    again with the sweep's cells added (:func:`~distortion_bench.sweep.summary.write_sweep_crossover`)."""
    from distortion_bench.sweep.summary import write_sweep_crossover

    path = Path(str(config.paths.reports)) / "offline" / "crossover.json"
    effect = str(config.sweep.effect)
    if not path.is_file():
        return []
    reports = json.loads(path.read_text(encoding="utf-8"))
    if effect not in reports:
        return []
    return write_sweep_crossover(rows, reports[effect], out)


def summary_row(child: Any) -> dict[str, Any]:
    """One child run as a row of the sweep's summary. A knob-conditioned cell (``sweep.knobs``)
    is its own model (``<type>-knobs``) and its ESR is the median over the held-out grid."""
    knobs = child.data.tags.get("knobs") == "true"
    model = child.data.tags.get("model")
    row = {
        "run_id": child.info.run_id,
        "name": child.info.run_name,
        "status": child.info.status,
        "model": f"{model}-knobs" if knobs and model else model,
        "size": _num(child.data.tags.get("size")),
        "buffer_size": _num(child.data.tags.get("buffer_size")),
        "error": child.data.tags.get("error"),
        **{k: child.data.metrics.get(k) for k in SUMMARY_METRICS},
    }
    if knobs:
        row["esr"] = row["grid_esr_median"]
    return row


def _children(config: DictConfig) -> tuple[Any, str, list[Any]] | None:
    """``(client, parent run id, child runs)`` of the multirun ending here; None outside one."""
    from mlflow import MlflowClient

    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return None
    client = MlflowClient(tracking_uri(config.tracking.uri))
    return client, parent, _child_runs(client, parent)


def _child_runs(client: Any, parent: str) -> list[Any]:
    """Every child run of run ``parent`` (in the parent's experiment)."""
    run = client.get_run(parent)
    return client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'", max_results=10_000
    )


def _num(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class AblationCallback(MlflowSweepCallback):
    """The ablation's multirun: a parent run like a sweep's; when it ends, the failed jobs are
    listed and ``reports/ablation/`` is rewritten from every finished job of the experiment (so
    several multiruns, e.g. the bits grid and the sample-and-hold one, make one table)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from distortion_bench.sweep.ablation import write_report

        found = _children(config)
        if found is None:
            return
        client, parent, children = found
        failed = [c for c in children if c.info.status != "FINISHED"]
        files = write_report(config)
        for f in files:
            client.log_artifact(parent, str(f), "ablation")
        client.log_metric(parent, "jobs", float(len(children)))
        client.log_metric(parent, "failed_jobs", float(len(failed)))
        client.set_terminated(parent, "FINISHED" if not failed else "FAILED")
        os.environ.pop(PARENT_ENV, None)
        FAILED_JOBS[:] = [f"{c.info.run_name}: {c.data.tags.get('error')}" for c in failed]
        log.info(
            "ablation: %d jobs, %d failed; report -> %s", len(children), len(failed), ", ".join(str(f) for f in files)
        )
