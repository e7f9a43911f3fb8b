"""What both benchmark stages use: the test audio and CSV text."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from omegaconf import DictConfig

from distortion_bench.nn.data import load_whole_takes


class TestTakes(NamedTuple):
    """An effect's held-out test takes: dry and Numba-rendered target, ``(time,)`` float32 each,
    and each take's corpus path (its first folder is the kind of material)."""

    dry: list[np.ndarray]
    target: list[np.ndarray]
    paths: list[str]


def test_takes(cfg: DictConfig, effect: str) -> TestTakes:
    """The effect's held-out test takes (see :class:`TestTakes`)."""
    takes = load_whole_takes(Path(cfg.paths.datasets) / effect, "test")
    return TestTakes(takes.unpad(takes.dry), takes.unpad(takes.target), list(takes.paths))


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header; floats with 6 significant digits, None as an empty cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r[c] is None else f"{r[c]:.6g}" if isinstance(r[c], float) else r[c] for c in columns])
    return buf.getvalue()
