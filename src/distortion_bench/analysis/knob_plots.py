"""A quality figure over a knob grid as a picture: a heatmap for two knobs, a line for one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from distortion_bench.analysis.plotting import plt, save_png


def plot_knob_grid(
    cells: Sequence[dict[str, Any]],
    knob_names: Sequence[str],
    path: str | os.PathLike[str],
    title: str,
    metric: str = "esr",
    percent: bool = True,
) -> bool:
    """``metric`` of every cell (``{"setting": {knob: value}, metric: ratio}``) over the grid.

    Two knobs: a heatmap, the first knob along x, the second along y, each cell annotated (in %
    when ``percent``; colour on a log scale, since ESR spans decades over a knob range). One knob:
    the metric against it. Returns False (nothing written) for other knob counts.
    """
    scale, unit = (100.0, " %") if percent else (1.0, "")
    if len(knob_names) == 1:
        (name,) = knob_names
        points = sorted((c["setting"][name], c[metric]) for c in cells if c[metric] is not None)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.semilogy([p[0] for p in points], [scale * p[1] for p in points], marker="o")
        ax.set_xlabel(name)
        ax.set_ylabel(f"{metric}{unit}")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(title)
        save_png(fig, path)
        return True
    if len(knob_names) != 2:
        return False
    kx, ky = knob_names
    xs = sorted({c["setting"][kx] for c in cells})
    ys = sorted({c["setting"][ky] for c in cells})
    grid = np.full((len(ys), len(xs)), np.nan)
    for c in cells:
        if c[metric] is not None:
            grid[ys.index(c["setting"][ky]), xs.index(c["setting"][kx])] = scale * c[metric]
    fig, ax = plt.subplots(figsize=(1.1 * len(xs) + 2.5, 0.8 * len(ys) + 1.8))
    shown = np.log10(np.where(grid > 0, grid, np.nan))
    image = ax.imshow(shown, origin="lower", cmap="magma_r", aspect="auto")
    for j in range(len(ys)):
        for i in range(len(xs)):
            if np.isfinite(grid[j, i]):
                ax.text(i, j, f"{grid[j, i]:.3g}", ha="center", va="center", fontsize=8, color="tab:cyan")
    ax.set_xticks(range(len(xs)), [f"{v:.3g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:.3g}" for v in ys])
    ax.set_xlabel(kx)
    ax.set_ylabel(ky)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(f"log10 {metric}{unit}")
    ax.set_title(title)
    save_png(fig, path)
    return True
