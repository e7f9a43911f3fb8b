"""Stage export_knobs: each knob-conditioned pair to models/exported/<effect>-<model>-knobs.onnx.

DVC runs it on the snapshot: `python -m pipeline.export_knobs --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.export_knobs [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.bench import export_stage
from distortion_bench.config import user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("export_knobs"):
        export_stage.run_knobs(cfg)


if __name__ == "__main__":
    main()
