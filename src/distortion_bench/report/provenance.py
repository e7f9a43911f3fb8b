"""Where the numbers come from: the config digest, the git commit, the software and the MLflow runs."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: packages whose versions decide the timings (the engines) and the numbers (the maths)
VERSIONED = ("onnxruntime", "torch", "numba", "numpy", "scipy", "pedalboard", "lightning", "mlflow")


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file (hex), None if it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def git_commit(repo: Path) -> str | None:
    """``HEAD``'s commit, with ``+changes`` when tracked files differ from it; None outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + (" +changes" if dirty else "")


def versions() -> dict[str, str]:
    """Python and the installed versions of :data:`VERSIONED` (``not installed`` where absent)."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def mlflow_experiment_ids(tracking_uri: str, run_ids: list[str]) -> dict[str, str]:
    """run id -> experiment id, for the MLflow UI's run links; {} when the store cannot be read."""
    if not run_ids:
        return {}
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri)
        return {r: client.get_run(r).info.experiment_id for r in run_ids}
    except Exception:  # no store, another store or a deleted run: the page still says the id
        return {}


def run_link(ui: str, experiment_id: str | None, run_id: str) -> str | None:
    """The MLflow UI address of a run (``make ui`` serves ``ui``), None without its experiment id."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}" if experiment_id else None


def scheduling_line(realtime_summary: Mapping[str, object]) -> str | None:
    """What the real-time stage was granted, in words (e.g. ``SCHED_FIFO priority 70 granted``)."""
    sched = realtime_summary.get("scheduling")
    if not isinstance(sched, Mapping):
        return None
    parts = []
    for mode, info in sched.items():
        if isinstance(info, Mapping):
            parts.append(f"{mode}: {info.get('reason', '')}{', memory locked' if info.get('memory_locked') else ''}")
    return "; ".join(parts) or None
