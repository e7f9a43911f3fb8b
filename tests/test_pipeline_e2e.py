"""End to end: `dvc repro` of the pipeline with the smoke experiment, in a copy of the repo."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.e2e

DATA_STAGES = ["prepare_dry", "render_targets@tube", "render_targets@bitcrush",
               "build_dataset@tube", "build_dataset@bitcrush"]
TRAIN_STAGES = ["train@tube-tcn", "train@tube-lstm", "train@bitcrush-tcn", "train@bitcrush-lstm"]


def run(cmd: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the repo's own store
    env = {**env, "DVC_NO_ANALYTICS": "1",
           # Stage commands call `python`: make it this interpreter.
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory) -> Path:
    """A copy of the repository's tracked (and not ignored) files, composed for `smoke`."""
    dst = tmp_path_factory.mktemp("repo")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    run(["git", "init", "-q"], dst)
    run([sys.executable, "-m", "pipeline.compose_params", "experiment=smoke"], dst)
    return dst


@pytest.fixture(scope="module")
def first_repro(smoke_repo) -> str:
    return run([sys.executable, "-m", "dvc", "repro"], smoke_repo)


def test_repro_runs_every_stage_and_writes_outputs(smoke_repo, first_repro):
    for stage in DATA_STAGES + TRAIN_STAGES:
        assert f"Running stage '{stage}'" in first_repro
    dry = json.loads((smoke_repo / "data/dry/manifest.json").read_text())
    assert len(dry["files"]) == 15 + 3 + 6 + 3  # smoke: guitar takes + sweeps + tones + noise
    for effect in ("tube", "bitcrush"):
        targets = json.loads((smoke_repo / f"data/targets/{effect}/manifest.json").read_text())
        assert [f["path"] for f in targets["files"]] == [f["path"] for f in dry["files"]]
        ds = json.loads((smoke_repo / f"data/datasets/{effect}/manifest.json").read_text())
        for split in ("train", "val", "test"):
            x = np.load(smoke_repo / f"data/datasets/{effect}/{split}/input.npy", mmap_mode="r")
            assert x.shape == (ds["splits"][split]["segments"], 12000) and x.shape[0] > 0
    for pair in ("tube-tcn", "tube-lstm", "bitcrush-tcn", "bitcrush-lstm"):
        report = json.loads((smoke_repo / f"reports/train/{pair}.json").read_text())
        assert report["test"]["esr"] > 0 and report["params"] > 0 and report["epochs"] == 2
        assert (smoke_repo / f"models/checkpoints/{pair}/best.ckpt").is_file()
        assert (smoke_repo / f"reports/train/{pair}/loss_curve.png").is_file()
    # The MLflow runs, read straight from the embedded sqlite store in the repository.
    db = sqlite3.connect(smoke_repo / "mlflow.db")
    rows = db.execute(
        "SELECT e.name, r.name, m.value FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
        "JOIN latest_metrics m ON m.run_uuid = r.run_uuid WHERE m.key = 'test/esr' ORDER BY r.name").fetchall()
    assert [(e, r) for e, r, _ in rows] == [("bitcrush", "bitcrush-lstm"), ("bitcrush", "bitcrush-tcn"),
                                           ("tube", "tube-lstm"), ("tube", "tube-tcn")]
    assert all(v > 0 for _, _, v in rows)
    # Hydra wrote nothing into the workspace.
    assert not (smoke_repo / "outputs").exists() and not list(smoke_repo.glob("*.log"))


def test_second_repro_has_nothing_to_do(smoke_repo, first_repro):
    out = run([sys.executable, "-m", "dvc", "repro"], smoke_repo)
    assert "Running stage" not in out
    assert "Data and pipelines are up to date." in out


def test_forced_rerun_gives_byte_identical_outputs(smoke_repo, first_repro):
    """The data stages are deterministic: forced again, they reproduce every byte."""
    def data_locks() -> dict:
        stages = yaml.safe_load((smoke_repo / "dvc.lock").read_text())["stages"]
        return {name: stages[name] for name in DATA_STAGES}
    before = data_locks()
    out = run([sys.executable, "-m", "dvc", "repro", "--force", "build_dataset"], smoke_repo)
    assert out.count("Running stage") == len(DATA_STAGES)
    # dvc.lock holds the md5 of every output file: equal entries mean byte-identical outputs.
    assert data_locks() == before
    # ... so training, downstream, has nothing to do.
    out = run([sys.executable, "-m", "dvc", "repro"], smoke_repo)
    assert "Running stage" not in out


def test_changing_one_effect_reruns_only_its_stages(smoke_repo, first_repro):
    run([sys.executable, "-m", "pipeline.compose_params", "experiment=smoke",
         "effects.bitcrush.bits=6"], smoke_repo)
    out = run([sys.executable, "-m", "dvc", "repro"], smoke_repo)
    for stage in ("render_targets@bitcrush", "build_dataset@bitcrush", "train@bitcrush-tcn",
                  "train@bitcrush-lstm"):
        assert f"Running stage '{stage}'" in out
    for stage in ("prepare_dry", "render_targets@tube", "build_dataset@tube", "train@tube-tcn",
                  "train@tube-lstm"):
        assert f"Running stage '{stage}'" not in out
