"""Assigning whole takes to train/val/test, per kind of material, from a seed.

Splitting by take (never by segment) keeps test material out of training entirely: a test take
is a different performance, not the neighbouring second of a training one. Splitting each
category separately keeps every kind of material (chords, sweeps, bass, ...) in every split
when there are enough takes of it.

Where the takes' peak levels are known, the loudest and the quietest takes of every category
train: test and validation takes then lie inside the level range the model learned from. A
network interpolates; a test take louder than every training take measures extrapolation
instead, which varies from seed to seed far more than the fit itself (a 0 dBFS noise burst that
only the test split held was once 80 % of a tube TCN's pooled test error and most of its spread
over seeds).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from distortion_bench.errors import ConfigError

SPLITS = ("train", "val", "test")
#: takes within this many dB of a category's loudest (or quietest) peak count as its extremes
EXTREME_TOLERANCE_DB = 0.5


def split_ratios(cfg: Mapping[str, Any]) -> dict[str, float]:
    """Validate ``data.split`` (non-negative weights for train/val/test) and normalize them."""
    keys = set(cfg)
    if keys != set(SPLITS):
        raise ConfigError(f"data.split: expected exactly the keys {list(SPLITS)}, got {sorted(keys)}")
    ratios = {}
    for name in SPLITS:
        value = cfg[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"data.split.{name}: expected a number >= 0, got {value!r}")
        ratios[name] = float(value)
    if ratios["train"] <= 0:
        raise ConfigError("data.split.train: must be > 0")
    total = sum(ratios.values())
    return {k: v / total for k, v in ratios.items()}


def _counts(n: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """How many of ``n`` takes go to each split: at least one to val and test once n >= 3."""
    if n == 0:
        return dict.fromkeys(SPLITS, 0)
    counts = {"val": int(round(n * ratios["val"])), "test": int(round(n * ratios["test"]))}
    if n >= 3:
        for name in ("val", "test"):
            if ratios[name] > 0:
                counts[name] = max(1, counts[name])
    elif n == 2:
        counts = {"val": 0, "test": 1 if ratios["test"] > 0 else 0}
    else:
        counts = {"val": 0, "test": 0}
    counts["train"] = n - counts["val"] - counts["test"]
    if counts["train"] < 1:  # rounding took everything: give one back to training
        largest = max(("val", "test"), key=lambda k: counts[k])
        counts[largest] -= 1
        counts["train"] += 1
    return counts


def _extremes(peaks: Mapping[str, float]) -> set[str]:
    """The takes within :data:`EXTREME_TOLERANCE_DB` of the loudest or the quietest peak."""
    loudest, quietest = max(peaks.values()), min(peaks.values())
    return {path for path, peak in peaks.items()
            if peak >= loudest - EXTREME_TOLERANCE_DB or peak <= quietest + EXTREME_TOLERANCE_DB}


def assign_splits(takes: Sequence[tuple[str, str] | tuple[str, str, float]], ratios: Mapping[str, float],
                  seed: int) -> dict[str, str]:
    """Map each take to a split.

    Args:
        takes: ``(path, category)`` or ``(path, category, peak_dbfs)`` tuples; paths are unique.
            With peak levels, each category's loudest and quietest takes go to training (module
            docstring), as long as the category has enough other takes to fill val and test.
        ratios: normalized weights from :func:`split_ratios`.
        seed: master seed; the shuffle of each category depends on it and the category name.

    Returns:
        ``{path: split}``.
    """
    by_category: dict[str, list[str]] = {}
    peaks: dict[str, dict[str, float]] = {}
    for take in takes:
        path, category = take[0], take[1]
        by_category.setdefault(category, []).append(path)
        if len(take) > 2 and take[2] is not None:
            peaks.setdefault(category, {})[path] = float(take[2])
    assignment: dict[str, str] = {}
    for category, paths in sorted(by_category.items()):
        rng = np.random.default_rng([int(seed), zlib.crc32(category.encode())])
        ordered = sorted(paths)
        order = [ordered[i] for i in rng.permutation(len(ordered))]
        counts = _counts(len(order), ratios)
        category_peaks = peaks.get(category, {})
        pinned: set[str] = set()
        if len(category_peaks) == len(paths) and len(paths) >= 4:
            pinned = _extremes(category_peaks)
            if len(pinned) > counts["train"]:  # too few takes to keep every extreme in training
                pinned = set()
        rest = [path for path in order if path not in pinned]
        cut_test = counts["test"]
        cut_val = cut_test + counts["val"]
        for path in pinned:
            assignment[path] = "train"
        for i, path in enumerate(rest):
            assignment[path] = "test" if i < cut_test else "val" if i < cut_val else "train"
    return assignment
