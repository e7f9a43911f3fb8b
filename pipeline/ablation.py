"""Ablation entry point: one job = (model family, training loss, effect parameters).

    python -m pipeline.ablation -m model=tcn,lstm,shaper loss=esr,residual,residual_mrstft effects.bitcrush.bits=4,8,12
    python -m pipeline.ablation -m model=shaper loss=residual effects.bitcrush.downsample=1,4

See conf/ablation.yaml, src/distortion_bench/sweep/ablation.py and docs/neural-bitcrusher.md.
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from distortion_bench.config import user_errors
from distortion_bench.sweep import ablation, callbacks


@hydra.main(version_base="1.3", config_path="../conf", config_name="ablation")
def main(cfg: DictConfig) -> dict:
    hc = HydraConfig.get()
    with user_errors("ablation"):
        sweep_dir = str(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
        result = ablation.run(cfg, list(hc.overrides.task), sweep_dir)
        if hc.mode != RunMode.MULTIRUN:
            ablation.write_report(cfg)
        return result


if __name__ == "__main__":
    main()
    if callbacks.FAILED_JOBS:
        print(
            "ablation: failed jobs (recorded as FAILED child runs):\n  " + "\n  ".join(callbacks.FAILED_JOBS),
            file=sys.stderr,
        )
        sys.exit(1)
