"""Stage train: train each selected (effect, model) pair with Lightning, tracked in MLflow.

DVC runs it on the snapshot: `python -m pipeline.train --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.train [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.config import user_errors
from distortion_bench.nn import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("train"):
        train.run(cfg)


if __name__ == "__main__":
    main()
