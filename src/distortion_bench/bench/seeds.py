"""A network's quality over its training seeds, from the train stage's report, for the benches.

The benches measure the one model the pipeline exported (the seed with the median validation
ESR); the train stage scored every seed on the same test takes. This attaches that spread to the
processor's quality figures, so every network figure in ``quality.json``, ``comparison.md``, MLflow
and the report page can be read against how much it moves from seed to seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distortion_bench.errors import DistortionBenchError

#: spreads copied from the train report (its ``spread`` keys)
SEED_METRICS = ("esr", "residual_esr", "mrstft", "val_esr_final", "guitar_esr")


def seed_spread(cfg: DictConfig, effect: str, model: str) -> dict[str, Any] | None:
    """``{"seeds": [...], "chosen_seed", "selection", "esr": spread, ...}`` of ``<effect>-<model>``,
    or None when its train report predates seeds (no ``spread`` key)."""
    path = Path(cfg.paths.reports) / "train" / f"{effect}-{model}.json"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DistortionBenchError(f"{path}: cannot read the train report ({exc}); run the train stage") from exc
    spreads = report.get("spread")
    if not isinstance(spreads, dict):
        return None
    return {
        "seeds": [s["seed"] for s in report.get("seeds", [])],
        "chosen_seed": report.get("chosen_seed"),
        "selection": report.get("selection"),
        **{k: spreads.get(k) for k in SEED_METRICS},
    }
