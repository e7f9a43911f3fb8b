"""Shared fixtures: the repository root, config composition, deterministic test signals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from distortion_bench.config import compose_config

REPO = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 48000


@pytest.fixture(autouse=True)
def _isolated_tracking_uri(monkeypatch):
    """MLflow's set_tracking_uri (called by Lightning's MLFlowLogger) writes MLFLOW_TRACKING_URI
    into os.environ; without this, one test's store would leak into later tests' subprocesses."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def run(cmd: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the repo's own store
    env = {
        **env,
        "DVC_NO_ANALYTICS": "1",
        # Stage commands call `python`: make it this interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="session")
def smoke_repo(tmp_path_factory) -> Path:
    """A copy of the repository's tracked (and not ignored) files, composed for `smoke`.

    Session-wide: the end-to-end and the sweep tests share one smoke repository and its
    first `dvc repro` (a few minutes), instead of building it once per module."""
    return smoke_copy(tmp_path_factory.mktemp("repo"))


def smoke_copy(dst: Path) -> Path:
    """Copy the repository's tracked (and not ignored) files into ``dst``, make it a git
    repository and compose its params.yaml for `smoke`; returns ``dst``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    run(["git", "init", "-q"], dst)
    run([sys.executable, "-m", "pipeline.compose_params", "experiment=smoke"], dst)
    return dst


@pytest.fixture(scope="session")
def first_repro(smoke_repo) -> str:
    return run([sys.executable, "-m", "dvc", "repro"], smoke_repo)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def compose(*overrides: str) -> DictConfig:
    """The real config from conf/, with Hydra overrides."""
    return compose_config(REPO / "conf", overrides)


def noise(n: int = 8192, scale: float = 0.5, seed: int = 0) -> np.ndarray:
    """Gaussian noise, float32, shape (n,)."""
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


def sine(freq_hz: float, amplitude: float, n: int = 8192, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A sine of ``amplitude`` peak, float32, shape (n,)."""
    return (amplitude * np.sin(2 * np.pi * freq_hz * np.arange(n) / sample_rate)).astype(np.float32)


def assert_png(path: Path, min_width: int = 400, min_height: int = 300) -> None:
    """``path`` is a PNG that decodes, at least ``min_width`` x ``min_height`` pixels, and not blank
    (a plot with no drawing in it would be one colour)."""
    from PIL import Image

    with Image.open(path) as img:
        assert img.format == "PNG", path
        assert img.width >= min_width and img.height >= min_height, (path, img.size)
        pixels = np.asarray(img.convert("L"), dtype=np.float64)
    assert pixels.std() > 1.0, f"{path}: a blank image"
