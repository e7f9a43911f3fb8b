"""Assigning whole takes to train/val/test, per kind of material, from a seed.

Splitting by take (never by segment) keeps test material out of training entirely: a test take
is a different performance, not the neighbouring second of a training one. Splitting each
category separately keeps every kind of material (chords, sweeps, bass, ...) in every split
when there are enough takes of it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from distortion_bench.errors import ConfigError

SPLITS = ("train", "val", "test")


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


def assign_splits(takes: Sequence[tuple[str, str]], ratios: Mapping[str, float],
                  seed: int) -> dict[str, str]:
    """Map each take to a split.

    Args:
        takes: ``(path, category)`` pairs; paths are unique.
        ratios: normalized weights from :func:`split_ratios`.
        seed: master seed; the shuffle of each category depends on it and the category name.

    Returns:
        ``{path: split}``.
    """
    by_category: dict[str, list[str]] = {}
    for path, category in takes:
        by_category.setdefault(category, []).append(path)
    assignment: dict[str, str] = {}
    for category, paths in sorted(by_category.items()):
        rng = np.random.default_rng([int(seed), zlib.crc32(category.encode())])
        ordered = sorted(paths)
        order = [ordered[i] for i in rng.permutation(len(ordered))]
        counts = _counts(len(order), ratios)
        cut_test = counts["test"]
        cut_val = cut_test + counts["val"]
        for i, path in enumerate(order):
            assignment[path] = "test" if i < cut_test else "val" if i < cut_val else "train"
    return assignment
