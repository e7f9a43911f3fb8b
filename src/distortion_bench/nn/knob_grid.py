"""Quality of a knob-conditioned model over the held-out grid of its knob dataset.

The test split of a knob dataset holds the same test segments at every setting of a grid that no
training row uses (:mod:`~distortion_bench.data.knob_dataset`). Each row is streamed whole from
the initial state at its setting (one setting for the whole row, as a plugin gets it); the
metrics of :func:`~distortion_bench.analysis.metrics.signal_quality` (ESR, residual ESR, MR-STFT)
are taken per setting over the concatenation of its rows, so every setting is judged on the same
audio. The summary states the median over the grid and the worst setting with its values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from distortion_bench.analysis.metrics import signal_quality
from distortion_bench.analysis.spread import spread
from distortion_bench.nn.knob_data import load_rows, read_knob_manifest
from distortion_bench.nn.knob_module import predict_with_knobs
from distortion_bench.nn.models import StreamingModel

#: per-setting metrics summarised over the grid (ratios; residual ESR: what the effect adds)
GRID_METRICS = ("esr", "residual_esr", "mrstft")


def grid_rows(folder: Path) -> tuple[list[dict[str, float]], np.ndarray]:
    """The test split's settings (``{knob: value}`` each) and each row's setting index ``(rows,)``."""
    test = read_knob_manifest(folder)["splits"]["test"]
    return list(test["settings"]), np.array([int(r["setting"]) for r in test["records"]], dtype=np.int64)


def per_setting_quality(
    settings: list[dict[str, float]],
    setting_of_row: np.ndarray,
    dry: np.ndarray,
    target: np.ndarray,
    estimate: np.ndarray,
) -> list[dict[str, Any]]:
    """Quality per setting: ``{"setting": {knob: value}, "rows": n, "esr": ..., ...}``.

    ``dry``, ``target``, ``estimate``: ``(rows, time)``; rows of one setting are concatenated.
    """
    out = []
    for index, setting in enumerate(settings):
        rows = np.flatnonzero(setting_of_row == index)
        if rows.size == 0:
            continue
        q = signal_quality(dry[rows].reshape(-1), target[rows].reshape(-1), estimate[rows].reshape(-1))
        out.append({"setting": dict(setting), "rows": int(rows.size), **{k: q.get(k) for k in GRID_METRICS}})
    return out


def summarise_grid(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, min and max over the grid per metric, and the worst setting (by ESR)."""
    summary: dict[str, Any] = {key: spread([c[key] for c in cells]) for key in GRID_METRICS}
    scored = [c for c in cells if c["esr"] is not None]
    worst = max(scored, key=lambda c: c["esr"]) if scored else None
    summary["worst"] = None if worst is None else {"setting": worst["setting"], "esr": worst["esr"]}
    summary["settings"] = len(cells)
    return summary


def grid_quality(model: StreamingModel, folder: Path) -> dict[str, Any]:
    """Stream every test row of ``folder`` at its setting through ``model``; per-setting
    quality (``cells``) and its ``summary``."""
    settings, setting_of_row = grid_rows(folder)
    dry, target, knobs = load_rows(folder, "test")
    model.eval()
    estimate: Tensor = predict_with_knobs(model, dry, knobs)
    cells = per_setting_quality(
        settings, setting_of_row, dry[:, 0].numpy(), target[:, 0].numpy(), estimate[:, 0].numpy()
    )
    return {"cells": cells, "summary": summarise_grid(cells)}


def median_over_seeds(grids: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per setting, the median over seeds of each metric (with min and max): the heatmap's values."""
    out = []
    for cells in zip(*grids):
        merged: dict[str, Any] = {"setting": cells[0]["setting"], "rows": cells[0]["rows"]}
        for key in GRID_METRICS:
            s = spread([c[key] for c in cells])
            merged[key] = None if s is None else s["median"]
            merged[f"{key}_range"] = None if s is None else [s["min"], s["max"]]
        out.append(merged)
    return out
