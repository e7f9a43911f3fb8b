"""Shared fixtures: the repository root, config composition, deterministic test signals."""

from __future__ import annotations

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
