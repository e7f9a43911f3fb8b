"""The SLURM launcher's config and its refusals, without a cluster (`make test-cluster` runs one)."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

import distortion_bench.sweep  # noqa: F401  (registers ${python_bin:})
from conftest import REPO
from distortion_bench.sweep.callbacks import slurm_preflight
from distortion_bench.sweep.job import describe_failure

SLURM = {"_target_": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher", "partition": "cpu"}


def fake_sinfo(folder: Path, partitions: str) -> None:
    for tool, body in (("sbatch", "exit 0"), ("sinfo", f"printf '{partitions}'")):
        (folder / tool).write_text(f"#!/bin/sh\n{body}\n")
        (folder / tool).chmod(0o755)


def test_slurm_setup_puts_the_launching_environment_first_on_path():
    cfg = OmegaConf.load(REPO / "conf/hydra/launcher/slurm.yaml")
    assert OmegaConf.to_container(cfg, resolve=True)["setup"] == [f"export PATH={Path(sys.executable).parent}:$PATH"]


def test_preflight_needs_sbatch(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "`sbatch` is not on PATH" in slurm_preflight(OmegaConf.create(SLURM))
    assert slurm_preflight(OmegaConf.create({"_target_": "hydra_plugins.x.JoblibLauncher"})) is None


def test_preflight_names_the_partitions_there_are(monkeypatch, tmp_path):
    fake_sinfo(tmp_path, "bench\\ngpu\\nbench\\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert (
        slurm_preflight(OmegaConf.create(SLURM))
        == "hydra.launcher.partition=cpu: no such partition on this cluster (sinfo lists: bench, gpu)"
    )
    assert slurm_preflight(OmegaConf.create({**SLURM, "partition": "gpu"})) is None
    assert slurm_preflight(OmegaConf.create({**SLURM, "partition": None})) is None  # the cluster's default


def test_a_time_limit_is_said_in_words():
    class UncompletedJobError(RuntimeError):
        pass

    text = describe_failure(
        UncompletedJobError("Job not requeued because: timed-out and not checkpointable."),
        "hydra.launcher.timeout_min=1",
    )
    assert text.startswith("killed at its SLURM time limit (hydra.launcher.timeout_min=1): UncompletedJobError")
    assert describe_failure(ValueError("bad"), None) == "ValueError: bad"
