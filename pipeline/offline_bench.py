"""Stage offline_bench: quality and per-buffer timing of every processor, reports, plots, MLflow.

DVC runs it on the snapshot: `python -m pipeline.offline_bench --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.offline_bench [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.bench import offline
from distortion_bench.config import user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("offline_bench"):
        offline.run(cfg)


if __name__ == "__main__":
    main()
