"""Stage export_onnx: export each trained model to ONNX with explicit state; check parity; log to MLflow.

DVC runs it on the snapshot: `python -m pipeline.export_onnx --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.export_onnx [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.bench import export_stage
from distortion_bench.config import user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("export_onnx"):
        export_stage.run(cfg)


if __name__ == "__main__":
    main()
