"""End to end: `dvc repro` of the pipeline with the smoke experiment, in a copy of the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

pytestmark = pytest.mark.e2e

STAGES = ["prepare_dry", "render_targets@tube", "render_targets@bitcrush",
          "build_dataset@tube", "build_dataset@bitcrush"]


def run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
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
    for stage in STAGES:
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
    # Hydra wrote nothing into the workspace.
    assert not (smoke_repo / "outputs").exists() and not list(smoke_repo.glob("*.log"))


def test_second_repro_has_nothing_to_do(smoke_repo, first_repro):
    out = run([sys.executable, "-m", "dvc", "repro"], smoke_repo)
    assert "Running stage" not in out
    assert "Data and pipelines are up to date." in out


def test_forced_rerun_gives_byte_identical_outputs(smoke_repo, first_repro):
    lock = (smoke_repo / "dvc.lock").read_text()
    out = run([sys.executable, "-m", "dvc", "repro", "--force"], smoke_repo)
    assert out.count("Running stage") == len(STAGES)
    # dvc.lock holds the md5 of every output file: equal locks mean byte-identical outputs.
    assert (smoke_repo / "dvc.lock").read_text() == lock


def test_changing_one_effect_reruns_only_its_stages(smoke_repo, first_repro):
    run([sys.executable, "-m", "pipeline.compose_params", "experiment=smoke",
         "effects.bitcrush.bits=6"], smoke_repo)
    out = run([sys.executable, "-m", "dvc", "repro"], smoke_repo)
    assert "Running stage 'render_targets@bitcrush'" in out
    assert "Running stage 'build_dataset@bitcrush'" in out
    for stage in ("prepare_dry", "render_targets@tube", "build_dataset@tube"):
        assert f"Running stage '{stage}'" not in out
