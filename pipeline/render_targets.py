"""Stage render_targets: render data/dry/ through each effect (Numba) into data/targets/<effect>/.

DVC runs it on the snapshot: `python -m pipeline.render_targets --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.render_targets [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.config import user_errors
from distortion_bench.data import render


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("render_targets"):
        render.run(cfg)


if __name__ == "__main__":
    main()
