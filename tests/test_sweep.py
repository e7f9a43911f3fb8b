"""Sweeps: Hydra multiruns against a real `mlflow server`, with the joblib and submitit launchers.

Runs in the session's smoke repository (conftest: its datasets are built there).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import assert_png

pytestmark = pytest.mark.e2e
SWEEP = ["experiment=smoke", "sweep.effect=tube", "model=lstm", "model.warmup_samples=64", "train.max_epochs=1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real tracking server (sqlite backend) on a loopback port, stopped afterwards."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root}/server.db",
            "--default-artifact-root",
            str(root / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start")
    time.sleep(1.0)
    yield uri
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def sweep(repo: Path, uri: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.sweep", "-m", *SWEEP, *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def runs_of(uri: str, parent_tag_filter: str = ""):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("sweeps")
    parents = client.search_runs(
        [exp.experiment_id], "tags.`distortion_bench.role` = 'sweep_parent'", order_by=["attributes.start_time DESC"]
    )
    parent = parents[0]
    children = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return client, parent, children


def check_children(children, n: int) -> None:
    assert len(children) == n
    for c in children:
        assert c.info.status == "FINISHED", c.data.tags.get("error")
        assert {"esr", "residual_esr", "rtf", "rtf_worst", "p50_us", "p99_us", "params"} <= set(c.data.metrics)
        assert c.data.params["model.size"] in ("4", "8") and c.data.params["bench.buffer_size"] in ("64", "256")


def test_joblib_sweep_trains_each_model_once_and_records_every_job(smoke_repo, first_repro, mlflow_server):
    done = sweep(
        smoke_repo,
        mlflow_server,
        "model.size=4,8",
        "bench.buffer_size=64,256",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    client, parent, children = runs_of(mlflow_server)
    assert parent.info.status == "FINISHED" and parent.data.metrics["jobs"] == 4
    assert "launcher" in parent.data.tags and parent.data.tags["launcher"] == "JoblibLauncher"
    check_children(children, 4)
    # trained twice (one model per size), reused by the other buffer size's job
    assert sorted(c.data.metrics["reused_model"] for c in children) == [0.0, 0.0, 1.0, 1.0]
    trained = list((smoke_repo / "models/sweep").glob("tube-lstm-s*-*/done.json"))
    assert len(trained) == 2
    keys = {c.data.tags["model_key"] for c in children}
    assert len(keys) == 2
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert {"summary/summary.csv", "summary/heatmaps.png", "summary/pareto.png", "summary/summary.md"} <= artifacts


def test_submitit_local_sweep_reuses_the_trained_models(smoke_repo, first_repro, mlflow_server):
    # one job: the submitit code path and the reuse across sweeps (the joblib test's sizes)
    done = sweep(
        smoke_repo,
        mlflow_server,
        "model.size=8",
        "bench.buffer_size=64",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=15",
    )
    assert done.returncode == 0, done.stderr[-4000:]
    _, parent, children = runs_of(mlflow_server)
    assert parent.data.tags["launcher"] == "LocalLauncher"
    check_children(children, 1)
    # whichever ran first (this test or the joblib one), each size's model was trained at most once
    # and every other job of that size reused it: never two trainings of one model
    for size in ("8",):
        trained = [c for c in children if c.data.params["model.size"] == size and c.data.metrics["reused_model"] == 0.0]
        assert len(trained) <= 1, size
    assert len(list((smoke_repo / "models/sweep").glob("tube-lstm-s8-*/done.json"))) == 1


def test_a_failing_job_is_a_failed_child_and_the_others_complete(smoke_repo, first_repro, mlflow_server):
    done = sweep(smoke_repo, mlflow_server, "model.size=0,4", "bench.buffer_size=64")
    assert done.returncode != 0 and "failed jobs" in done.stderr
    _, parent, children = runs_of(mlflow_server)
    assert parent.info.status == "FAILED" and parent.data.metrics["failed_jobs"] == 1
    by_size = {c.data.params["model.size"]: c for c in children}
    assert by_size["0"].info.status == "FAILED" and "size" in by_size["0"].data.tags["error"]
    assert by_size["4"].info.status == "FINISHED" and "esr" in by_size["4"].data.metrics


def test_ablation_renders_its_own_targets_and_writes_the_report(smoke_repo, first_repro, mlflow_server):
    """The bitcrusher ablation in the smoke repository: two families at 4 bits (a setting the
    pipeline never rendered), one dataset shared by both, child runs with the family, loss and
    bits as tags and the report rewritten from the finished jobs."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_server, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.ablation",
            "-m",
            "experiment=smoke",
            "model=shaper,lstm",
            "model.warmup_samples=64",
            "loss=residual",
            "effects.bitcrush.bits=4",
            "train.max_epochs=1",
        ],
        cwd=smoke_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("bitcrush-ablation")
    children = client.search_runs([exp.experiment_id], "tags.`distortion_bench.role` = 'ablation'")
    assert sorted(c.data.tags["model"] for c in children) == ["lstm", "shaper"]
    for c in children:
        assert c.info.status == "FINISHED", c.data.tags.get("error")
        assert (c.data.tags["loss"], c.data.tags["bits"], c.data.tags["downsample"]) == ("residual", "4", "1")
        assert {
            "residual_esr",
            "mrstft",
            "residual_mrstft",
            "aliasing_db",
            "reference_aliasing_db",
            "p50_us_bs64",
            "p50_us_bs512",
            "rtf_bs64",
            "epochs",
        } <= set(c.data.metrics)
        assert c.data.metrics["epochs"] == 1.0
    datasets = list((smoke_repo / "data/ablation").glob("bitcrush-*/datasets/bitcrush/manifest.json"))
    assert len(datasets) == 1  # rendered once, for both jobs
    import json

    assert json.loads(datasets[0].read_text())["effect_params"]["bits"] == 4
    table = (smoke_repo / "reports/ablation/ablation.md").read_text()
    # the job's model overrides make a variant of the family, named in the table
    assert "| 4 | 1 | lstm [warmup_samples=64] | residual |" in table
    assert "| 4 | 1 | shaper [warmup_samples=64] | residual |" in table
    assert {c.data.tags["variant"] for c in children} == {"warmup_samples=64"}
    assert_png(smoke_repo / "reports/ablation/ablation.png")
