"""Sweep entry point: one job = one (effect, model, size) benchmarked at one buffer size.

    python -m pipeline.sweep -m model=lstm,tcn model.size=4,8,16,32 bench.buffer_size=32,64,128,256,512
    python -m pipeline.sweep -m hydra/launcher=joblib hydra.launcher.n_jobs=2 experiment=smoke ...

See conf/sweep.yaml and docs/sweeps-and-cluster.md.
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from distortion_bench.config import user_errors
from distortion_bench.sweep import callbacks, job


@hydra.main(version_base="1.3", config_path="../conf", config_name="sweep")
def main(cfg: DictConfig) -> dict:
    hc = HydraConfig.get()
    with user_errors("sweep"):
        sweep_dir = str(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
        timeout = hc.launcher.get("timeout_min") if hc.launcher else None
        return job.run(
            cfg,
            list(hc.overrides.task),
            sweep_dir,
            f"hydra.launcher.timeout_min={timeout}" if timeout is not None else None,
        )


if __name__ == "__main__":
    try:
        main()
    except SystemExit as stop:
        # the launcher gave up on the multirun (a job killed outright, a submission refused):
        # its runs must not stay RUNNING in MLflow
        if stop.code not in (0, None):
            callbacks.fail_unfinished(
                "the multirun stopped before this job reported (the launcher failed; "
                "see the log folder of the sweep, e.g. outputs/sweep/<time>/.submitit/)"
            )
        raise
    if callbacks.FAILED_JOBS:
        print(
            "sweep: failed jobs (recorded as FAILED child runs):\n  " + "\n  ".join(callbacks.FAILED_JOBS),
            file=sys.stderr,
        )
        sys.exit(1)
