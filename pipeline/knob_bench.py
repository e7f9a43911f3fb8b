"""Stage knob_bench: cost of conditioning, automation and clicks of the knob-conditioned pairs.

DVC runs it on the snapshot: `python -m pipeline.knob_bench --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.knob_bench [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.bench import knob_bench
from distortion_bench.config import user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("knob_bench"):
        knob_bench.run(cfg)


if __name__ == "__main__":
    main()
