"""Plots written as PNG files (matplotlib, headless)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: works without a display
import matplotlib.pyplot as plt

from distortion_bench.atomic import atomic_path


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> None:
    """Write ``fig`` as a PNG atomically (cropped to its content) and close it."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_seed_curves(
    histories: dict[str, Sequence[dict[str, float]]],
    path: str | os.PathLike[str],
    title: str,
) -> None:
    """Per-epoch training loss (dashed) and validation ESR (solid) of each seed, log scale.

    Args:
        histories: per label (e.g. ``"seed 3 (chosen)"``) the rows of its ``history.json``:
            ``epoch``, ``train/loss``, ``val/esr`` (ESR as a ratio, not %).
        path: PNG file to write.
        title: figure title.
    """
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for i, (label, rows) in enumerate(histories.items()):
        colour = f"C{i % 10}"
        loss = [(r["epoch"], r["train/loss"]) for r in rows if "train/loss" in r]
        val = [(r["epoch"], r["val/esr"]) for r in rows if "val/esr" in r]
        if loss:
            ax.semilogy(*zip(*loss), linestyle="--", color=colour, alpha=0.6, label=f"{label}: train loss")
        if val:
            ax.semilogy(*zip(*val), marker=".", color=colour, label=f"{label}: validation ESR")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / ESR")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
