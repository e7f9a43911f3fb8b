"""The listening rows' spectrograms: one panel per player, on one colour scale."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.signal import spectrogram

from distortion_bench.analysis.plotting import plt, save_png
from distortion_bench.report.listening import Player


def spectrogram_grid(
    players: Sequence[Player],
    sample_rate: int,
    path: Path,
    title: str,
    fft_size: int = 1024,
    max_hz: float = 12000.0,
    range_db: float = 80.0,
    columns: int = 4,
) -> None:
    """Spectrograms (dB, Hann window, 75 % overlap) of every player's loudness-matched excerpt.

    All panels share the colour scale: 0 dB is the loudest bin of the row, ``range_db`` below it
    is black, so the harmonics a processor adds or misses show as brighter or darker bands at
    the same height. Frequency axis 0 .. ``max_hz`` Hz, time in seconds.
    """
    specs = []
    for p in players:
        f, t, s = spectrogram(
            p.matched.astype(np.float64),
            fs=sample_rate,
            window="hann",
            nperseg=fft_size,
            noverlap=3 * fft_size // 4,
            scaling="spectrum",
            mode="magnitude",
        )
        specs.append((f, t, 20.0 * np.log10(np.maximum(s, 1e-12))))
    top = max(float(np.max(s)) for _, _, s in specs)
    rows = math.ceil(len(players) / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(2.6 * columns, 1.9 * rows), sharex=True, sharey=True, squeeze=False
    )
    for ax, p, (f, t, s) in zip(axes.flat, players, specs):
        keep = f <= max_hz
        ax.pcolormesh(
            t, f[keep] / 1000.0, s[keep], vmin=top - range_db, vmax=top, cmap="magma", shading="auto", rasterized=True
        )
        label = p.name if p.esr is None or p.name == "dry" else f"{p.name}\nESR {p.esr:.3g}"
        ax.set_title(label, fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.flat[len(players) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("kHz", fontsize=7)
    for ax in axes[-1, :]:
        ax.set_xlabel("s", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path, dpi=72)
