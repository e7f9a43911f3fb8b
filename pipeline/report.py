"""Stage report: the static site reports/site/index.html (tables, plots, A/B listening) from the results on disk.

DVC runs it on the snapshot: `python -m pipeline.report --config-dir . --config-name params`.
Run on conf/ directly: `python -m pipeline.report [overrides]`, or `distortion-bench report [--open]`.
"""

import hydra
from omegaconf import DictConfig

from distortion_bench.config import user_errors
from distortion_bench.report.site import build_site


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with user_errors("report"):
        build_site(cfg)


if __name__ == "__main__":
    main()
