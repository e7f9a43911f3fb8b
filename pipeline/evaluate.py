"""Stage evaluate@<name>: your own recordings (evaluate.inputs) through every processor.

DVC runs it on the snapshot, once per key of `evaluate.inputs`:
`python -m pipeline.evaluate --config-dir . --config-name params select.input=<name>`.
The same from the command line on any folder: `distortion-bench evaluate --input DIR`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.bench import evaluate_files
from distortion_bench.config import user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("evaluate"):
        evaluate_files.run(cfg)


if __name__ == "__main__":
    main()
