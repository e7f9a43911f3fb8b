"""Stage train_knobs: the knob-conditioned models of knob_matrix (one per effect x model), tracked in MLflow.

DVC runs it on the snapshot: `python -m pipeline.train_knobs --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.train_knobs [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.config import user_errors
from distortion_bench.nn import knob_train


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("train_knobs"):
        knob_train.run(cfg)


if __name__ == "__main__":
    main()
