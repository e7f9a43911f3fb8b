"""Stage build_knob_dataset: the dataset's segments rendered at many knob settings, data/knob_datasets/<effect>/.

DVC runs it on the snapshot: `python -m pipeline.build_knob_dataset --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.build_knob_dataset [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.config import user_errors
from distortion_bench.data import knob_dataset


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("build_knob_dataset"):
        knob_dataset.run(cfg)


if __name__ == "__main__":
    main()
