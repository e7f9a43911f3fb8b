"""Hydra multirun sweeps of model size against buffer size, tracked in MLflow."""

import sys
from pathlib import Path

from omegaconf import OmegaConf

# `${python_bin:}` in conf/hydra/launcher/slurm.yaml: the folder of the interpreter that launched the
# sweep (a virtual environment's bin/), so that SLURM jobs find the same python, dvc and mlflow
# whatever their working directory, without a path relative to it.
OmegaConf.register_new_resolver("python_bin", lambda: str(Path(sys.executable).parent), replace=True)
