"""Plots of the offline benchmark (PNG, written atomically), one function per figure.

``rows`` are the benchmark's table rows (dicts with at least ``name``, ``buffer_size``,
``p50_us``, ``p99_us``, ``rtf``, ``rtf_worst``); times in microseconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt
import numpy as np

from distortion_bench.analysis.harmonics import FLOOR_DB
from distortion_bench.analysis.plotting import save_png


def _by_name(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    series: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        series.setdefault(str(r["name"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["buffer_size"]) for k, v in series.items()}


def _buffer_axes(ax: Any, sizes: Sequence[int], ylabel: str, title: str) -> None:
    """Log-log axes over buffer sizes (ticks at the sizes measured), grid and legend."""
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("buffer size (samples)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)


def plot_latency(rows: Sequence[Mapping[str, Any]], sample_rate: int, title: str, path: str | os.PathLike[str]) -> None:
    """Per-buffer time (p50 solid, p99 dashed) vs buffer size, log-log, with the deadline."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    sizes = sorted({int(r["buffer_size"]) for r in rows})
    deadline = [1e6 * b / sample_rate for b in sizes]
    ax.plot(sizes, deadline, color="black", lw=2, label="deadline (buffer duration)")
    for i, (name, rs) in enumerate(_by_name(rows).items()):
        c = f"C{i % 10}"
        b = [r["buffer_size"] for r in rs]
        ax.plot(b, [r["p50_us"] for r in rs], "-o", color=c, ms=3, label=f"{name} p50")
        ax.plot(b, [r["p99_us"] for r in rs], "--", color=c, lw=1)
    _buffer_axes(ax, sizes, "time per buffer (us); dashed: p99", title)
    save_png(fig, path)


def plot_rtf(rows: Sequence[Mapping[str, Any]], title: str, path: str | os.PathLike[str]) -> None:
    """Real-time factor (mean solid, worst case dotted) vs buffer size; RTF 1 = the deadline."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, (name, rs) in enumerate(_by_name(rows).items()):
        c = f"C{i % 10}"
        b = [r["buffer_size"] for r in rs]
        ax.plot(b, [r["rtf"] for r in rs], "-o", color=c, ms=3, label=name)
        ax.plot(b, [r["rtf_worst"] for r in rs], ":", color=c, lw=1)
    ax.axhline(1.0, color="black", lw=2, label="RTF 1 (deadline)")
    _buffer_axes(ax, sorted({int(r["buffer_size"]) for r in rows}), "real-time factor (dotted: worst case)", title)
    save_png(fig, path)


def plot_quality_vs_speed(
    points: Sequence[tuple[str, float, float | None]], buffer_size: int, title: str, path: str | os.PathLike[str]
) -> None:
    """ESR (y) vs RTF (x) at one buffer size, log-log; ``points`` = (name, rtf, esr).

    The numba reference has ESR 0 (it is the target); zero and undefined ESRs are drawn on the
    bottom edge and labelled so.
    """
    fig, ax = plt.subplots(figsize=(7, 5))
    positive = [e for _, _, e in points if e]
    floor = min(positive) / 10 if positive else 1e-6
    for i, (name, rtf, e) in enumerate(points):
        y = e if e else floor
        ax.scatter([rtf], [y], color=f"C{i % 10}", s=40, marker="o" if e else "v")
        ax.annotate(
            name if e else f"{name} (ESR {'0' if e == 0 else 'n/a'})",
            (rtf, y),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"real-time factor at buffer {buffer_size} (lower is faster)")
    ax.set_ylabel("test ESR vs Numba DSP (lower is better)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    save_png(fig, path)


def plot_waveforms(
    signals: Mapping[str, np.ndarray], sample_rate: int, title: str, path: str | os.PathLike[str]
) -> None:
    """Overlay of short excerpts (``(time,)`` each, same length): dry, DSP, models."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, (name, y) in enumerate(signals.items()):
        t_ms = 1000.0 * np.arange(y.size) / sample_rate
        ax.plot(t_ms, y, lw=1.8 if i < 2 else 1.0, ls="-" if i < 2 else "--", label=name)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("amplitude (full scale = 1)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    save_png(fig, path)


def plot_spectrograms(
    signals: Mapping[str, np.ndarray], sample_rate: int, title: str, path: str | os.PathLike[str]
) -> None:
    """One spectrogram (dB, 2048-point Hann, 0-20 kHz) per signal, stacked."""
    n = len(signals)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n), sharex=True, squeeze=False)
    for ax, (name, y) in zip(axes[:, 0], signals.items()):
        with np.errstate(divide="ignore"):  # digital silence: -inf dB, drawn at vmin
            ax.specgram(
                np.asarray(y, np.float64), NFFT=2048, Fs=sample_rate, noverlap=1536, cmap="magma", vmin=-140, vmax=-20
            )
        ax.set_ylim(0, 20000)
        ax.set_ylabel("Hz")
        ax.set_title(name, fontsize=8, loc="left")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title)
    save_png(fig, path)


def plot_harmonic_bars(
    levels: Mapping[float, Mapping[str, Sequence[float | None]]],
    freq_hz: float,
    title: str,
    path: str | os.PathLike[str],
) -> None:
    """Harmonics 2..K (dB re fundamental) per processor, one panel per input level.

    ``levels``: input level (dBFS) -> processor name -> harmonic levels (None = above Nyquist).
    """
    n = len(levels)
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 4.5), squeeze=False, sharey=True)
    for ax, (level, series) in zip(axes[0], levels.items()):
        names = list(series)
        width = 0.8 / max(len(names), 1)
        for i, name in enumerate(names):
            h = [np.nan if v is None else max(v, FLOOR_DB) for v in series[name]]
            x = np.arange(2, 2 + len(h)) + (i - (len(names) - 1) / 2) * width
            # bars stand on the reporting floor, so louder harmonics are taller
            ax.bar(x, np.array(h) - FLOOR_DB, width, bottom=FLOOR_DB, label=name, color=f"C{i % 10}")
        ax.set_xticks(range(2, 2 + len(next(iter(series.values())))))
        ax.set_xlabel("harmonic")
        ax.set_title(f"{freq_hz:g} Hz at {level:g} dBFS", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].set_ylabel(f"level re fundamental (dB; floor {FLOOR_DB:g})")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    save_png(fig, path)
