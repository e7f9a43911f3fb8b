"""Stage prepare_dry: synthesize the dry corpus and import data/raw/ into data/dry/.

DVC runs it on the snapshot: `python -m pipeline.prepare_dry --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.prepare_dry [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.config import user_errors
from distortion_bench.data import dry_corpus


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("prepare_dry"):
        dry_corpus.run(cfg)


if __name__ == "__main__":
    main()
