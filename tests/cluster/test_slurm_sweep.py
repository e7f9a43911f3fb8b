"""The README's cluster path through a real SLURM cluster: `make test-cluster` (scripts/test_cluster.sh)
starts a private single-node cluster and an `mlflow server`, then runs these tests (`-m cluster`).

The repository is copied into the cluster's work folder (the "shared file system"), composed for
`smoke`, its tube dataset built, and swept with `hydra/launcher=slurm` from there: the jobs run
under slurmd with the launching interpreter, in that copy, against the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run, smoke_copy
from test_sweep import check_children, runs_of

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

URI = os.environ.get("DISTORTION_BENCH_CLUSTER_URI", "")
PARTITION = os.environ.get("DISTORTION_BENCH_CLUSTER_PARTITION", "")
WORK = os.environ.get("DISTORTION_BENCH_CLUSTER_WORK", "")
SWEEP = [
    "experiment=smoke",
    "sweep.effect=tube",
    "model=lstm",
    "model.warmup_samples=64",
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
]


@pytest.fixture(scope="module")
def shared_repo() -> Path:
    """A copy of the repository on the cluster's file system, with the smoke tube dataset built."""
    if not (URI and PARTITION and WORK and os.environ.get("SLURM_CONF")):
        pytest.fail("these tests need the cluster `make test-cluster` starts (scripts/test_cluster.sh)")
    dst = smoke_copy(Path(WORK) / "repo")
    run([sys.executable, "-m", "dvc", "repro", "build_dataset@tube"], dst)
    return dst


def sweep(repo: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": URI, "DVC_NO_ANALYTICS": "1"}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "pipeline.sweep", "-m", *SWEEP, f"hydra.launcher.partition={PARTITION}", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
    )


def test_sweep_runs_through_slurm_and_reuses_models_across_jobs(shared_repo):
    done = sweep(shared_repo, "model.size=4,8", "bench.buffer_size=64,256")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    client, parent, children = runs_of(URI)
    assert parent.info.status == "FINISHED" and parent.data.tags["launcher"] == "SlurmLauncher"
    check_children(children, 4)
    # every job ran as its own SLURM job, under slurmd, in the shared copy
    job_ids = {c.data.tags.get("slurm_job_id") for c in children}
    assert len(job_ids) == 4 and all(j and j.isdigit() for j in job_ids), job_ids
    assert {c.data.tags.get("working_dir") for c in children} == {str(shared_repo)}
    # each size trained once, by one job; the other job of that size reused it through the lock
    trained = list((shared_repo / "models/sweep").glob("tube-lstm-s*-*/done.json"))
    assert len(trained) == 2
    assert sorted(c.data.metrics["reused_model"] for c in children) == [0.0, 0.0, 1.0, 1.0]
    # the summary: in the sweep folder and as the parent's artifacts
    summaries = list((shared_repo / "outputs/sweep").glob("*/summary"))
    assert len(summaries) == 1
    for name in ("summary.csv", "summary.md", "heatmaps.png", "pareto.png"):
        assert (summaries[0] / name).stat().st_size > 0
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert {"summary/summary.csv", "summary/heatmaps.png", "summary/pareto.png"} <= logged


def test_unknown_partition_is_refused_before_any_job(shared_repo):
    done = sweep(shared_repo, "model.size=4", "bench.buffer_size=64", "hydra.launcher.partition=nosuch")
    assert done.returncode != 0
    assert (
        f"hydra.launcher.partition=nosuch: no such partition on this cluster (sinfo lists: {PARTITION})" in done.stderr
    ), done.stderr[-3000:]


def test_missing_sbatch_is_refused_before_any_job(shared_repo):
    done = sweep(shared_repo, "model.size=4", "bench.buffer_size=64", path=str(Path(sys.executable).parent))
    assert done.returncode != 0
    assert "hydra/launcher=slurm: `sbatch` is not on PATH" in done.stderr, done.stderr[-3000:]


def test_a_job_killed_at_its_time_limit_is_a_failed_child_and_the_sweep_fails(shared_repo):
    # a training far longer than the job's one-minute limit; submitit's warning signal comes 30 s before it
    done = sweep(
        shared_repo,
        "model.size=16",
        "bench.buffer_size=64",
        "train.max_epochs=100000",
        "hydra.launcher.timeout_min=1",
        "hydra.launcher.signal_delay_s=30",
    )
    assert done.returncode != 0
    client, parent, children = runs_of(URI)
    assert parent.info.status == "FAILED"
    assert len(children) == 1 and children[0].info.status == "FAILED"
    error = children[0].data.tags["error"]
    assert "SLURM time limit" in error and "hydra.launcher.timeout_min=1" in error, error
    assert "tube-lstm-s16-bs64" in done.stderr and "SLURM time limit" in done.stderr, done.stderr[-3000:]
