"""Plots written as PNG files (matplotlib, headless)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: works without a display
import matplotlib.pyplot as plt  # noqa: E402

from distortion_bench.atomic import atomic_path  # noqa: E402


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> None:
    """Write ``fig`` as a PNG atomically (cropped to its content) and close it."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_training_curves(
    train_loss: Sequence[tuple[int, float]],
    val_esr: Sequence[tuple[int, float]],
    path: str | os.PathLike[str],
    title: str,
) -> None:
    """Per-epoch training loss and validation ESR (both log scale) against epoch.

    Args:
        train_loss: ``(epoch, loss)`` pairs.
        val_esr: ``(epoch, ESR)`` pairs (ESR as a ratio, not %).
        path: PNG file to write.
        title: figure title.
    """
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if train_loss:
        ax.semilogy(*zip(*train_loss), marker=".", label="train loss")
    if val_esr:
        ax.semilogy(*zip(*val_esr), marker=".", label="validation ESR (whole signal)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / ESR")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
