"""What both benchmark stages use: the test audio and CSV text."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench.nn.data import load_whole_takes


def test_takes(cfg: DictConfig, effect: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The effect's held-out test takes: dry and Numba-rendered target, ``(time,)`` float32 each."""
    takes = load_whole_takes(Path(cfg.paths.datasets) / effect, "test")
    lengths = [int(n) for n in takes.lengths]
    dry = [takes.dry[i, 0, :n].numpy().copy() for i, n in enumerate(lengths)]
    target = [takes.target[i, 0, :n].numpy().copy() for i, n in enumerate(lengths)]
    return dry, target


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header; floats with 6 significant digits, None as an empty cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r[c] is None else f"{r[c]:.6g}" if isinstance(r[c], float) else r[c] for c in columns])
    return buf.getvalue()
