"""Shared fixtures: the repository root, config composition, deterministic test signals."""

from __future__ import annotations

import os
import shutil
import signal
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


def subprocess_env() -> dict[str, str]:
    """The environment of a pipeline subprocess: the repository's own MLflow store, no DVC
    analytics, and `python` (which the stage commands call) resolving to this interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {
        **env,
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=subprocess_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


#: the fixture whose tests need the smoke pipeline built (`dvc repro` in a copy of the repository)
SMOKE_FIXTURE = "first_repro"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests that need the smoke pipeline last (in their own order): the pipeline builds in
    a background process meanwhile (:func:`_smoke_pipeline`), on the core the unit tests leave idle."""
    needs = [item for item in items if SMOKE_FIXTURE in getattr(item, "fixturenames", ())]
    if needs:
        rest = [item for item in items if SMOKE_FIXTURE not in getattr(item, "fixturenames", ())]
        items[:] = rest + needs


class BackgroundRepro:
    """`dvc repro` of a smoke repository, started in a subprocess; :meth:`result` waits for it."""

    def __init__(self, repo: Path, log: Path) -> None:
        self.repo, self.log = repo, log
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dvc", "repro"],
                cwd=repo,
                env=subprocess_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # stopped as a group if the session ends first
            )

    def result(self, timeout_s: float) -> str:
        """The repro's output once it has finished; fails the calling test if it failed or hung."""
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the smoke `dvc repro` did not finish within {timeout_s:.0f} s (log: {self.log})")
        text = self.log.read_text()
        assert code == 0, f"the smoke `dvc repro` failed (exit {code}):\n{text[-6000:]}"
        return text

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="session", autouse=True)
def _smoke_pipeline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Starts the smoke pipeline at the session's first test when any selected test needs it, so it
    builds while the unit tests run (the pipeline alone is ~4 minutes of a 2-core machine's time)."""
    if not any(SMOKE_FIXTURE in getattr(item, "fixturenames", ()) for item in request.session.items):
        yield None
        return
    repo = smoke_copy(tmp_path_factory.mktemp("repo"))
    background = BackgroundRepro(repo, tmp_path_factory.getbasetemp() / "smoke_repro.log")
    yield background
    background.stop()


@pytest.fixture(scope="session")
def smoke_repo(_smoke_pipeline: BackgroundRepro | None, tmp_path_factory) -> Path:
    """A copy of the repository's tracked (and not ignored) files, composed for `smoke`.

    Session-wide: the end-to-end and the sweep tests share one smoke repository and its
    first `dvc repro`, instead of building it once per module."""
    if _smoke_pipeline is not None:
        return _smoke_pipeline.repo
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
def first_repro(smoke_repo: Path, _smoke_pipeline: BackgroundRepro | None) -> str:
    """The output of the smoke repository's first `dvc repro` (started in the background)."""
    if _smoke_pipeline is None:  # the test was selected without its fixture's hook seeing it
        return run([sys.executable, "-m", "dvc", "repro"], smoke_repo)
    # within the e2e tests' own 1,200 s (their pytest-timeout mark): a quiet 2-core machine
    # builds it in ~4 minutes, most of it while the unit tests run
    return _smoke_pipeline.result(timeout_s=1150)


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
