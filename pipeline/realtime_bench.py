"""Stage realtime_bench: every processor in PortAudio callback streams on a real audio clock.

Underruns, xruns and the spectrum analyzer, per processor and buffer size.

DVC runs it on the snapshot: `python -m pipeline.realtime_bench --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.realtime_bench [overrides]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.bench import realtime
from distortion_bench.config import user_errors


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("realtime_bench"):
        realtime.run(cfg)


if __name__ == "__main__":
    main()
