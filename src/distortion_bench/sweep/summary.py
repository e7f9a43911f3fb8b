"""The sweep's summary: a table, heatmaps over model size x buffer size, the Pareto front."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distortion_bench.analysis.crossover import CostPoint, crossover, crossover_sentence, plot_crossover
from distortion_bench.analysis.crossover import pareto_front as cost_pareto_front
from distortion_bench.analysis.plotting import save_png
from distortion_bench.atomic import write_text
from distortion_bench.bench.common import csv_text

COLUMNS = (
    "name",
    "status",
    "model",
    "size",
    "buffer_size",
    "params",
    "esr",
    "residual_esr",
    "rtf",
    "rtf_worst",
    "p50_us",
    "p99_us",
    "numba_nn_p50_us",
    "numba_nn_p99_us",
    "grid_esr_worst",
    "numba_nn_moving_p50_us",
    "error",
)
HEATMAPS = (
    ("esr", "test ESR", "{:.3g}"),
    ("rtf", "RTF (mean)", "{:.3f}"),
    ("p99_us", "p99 time per buffer (us)", "{:.0f}"),
)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats in both coordinates (lower is better in both)."""
    front = []
    for i, (x, y) in enumerate(points):
        if not any((x2 <= x and y2 <= y) and (x2 < x or y2 < y) for j, (x2, y2) in enumerate(points) if j != i):
            front.append(i)
    return sorted(front, key=lambda i: points[i])


def grid(rows: Sequence[Mapping[str, Any]], model: str, metric: str) -> tuple[list[int], list[int], np.ndarray]:
    """``(sizes, buffer_sizes, values)`` of one model type; NaN where a job failed or is missing."""
    mine = [r for r in rows if r["model"] == model and r["status"] == "FINISHED"]
    sizes = sorted({r["size"] for r in rows if r["model"] == model and r["size"] is not None})
    buffers = sorted({r["buffer_size"] for r in rows if r["buffer_size"] is not None})
    values = np.full((len(sizes), len(buffers)), np.nan)
    for r in mine:
        if r.get(metric) is not None:
            values[sizes.index(r["size"]), buffers.index(r["buffer_size"])] = r[metric]
    return sizes, buffers, values


def plot_heatmaps(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows if r["model"]})
    fig, axes = plt.subplots(len(models), len(HEATMAPS), figsize=(5 * len(HEATMAPS), 3.6 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        for j, (metric, title, fmt) in enumerate(HEATMAPS):
            ax = axes[i, j]
            sizes, buffers, values = grid(rows, model, metric)
            shown = np.log10(values) if metric == "esr" else values
            im = ax.imshow(np.ma.masked_invalid(shown), cmap="viridis_r", aspect="auto", origin="lower")
            for a in range(len(sizes)):
                for b in range(len(buffers)):
                    v = values[a, b]
                    ax.text(
                        b,
                        a,
                        "failed" if np.isnan(v) else fmt.format(v),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="red" if np.isnan(v) else "white",
                    )
            ax.set_xticks(range(len(buffers)), [str(b) for b in buffers])
            ax.set_yticks(range(len(sizes)), [str(s) for s in sizes])
            ax.set_xlabel("buffer size (samples)")
            ax.set_ylabel(f"{model} size")
            ax.set_title(f"{model}: {title}" + (" (colour: log10)" if metric == "esr" else ""), fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    save_png(fig, path)


def plot_pareto(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """ESR vs p99 time per buffer (as a share of the deadline: RTF at p99) for every finished job."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "FINISHED" and r.get("esr") and r.get("p99_us")]
    fig, ax = plt.subplots(figsize=(7, 5))
    pts = [(r["p99_us"] / (1e6 * r["buffer_size"] / 48000), r["esr"]) for r in ok]
    for k, model in enumerate(sorted({r["model"] for r in ok})):
        sel = [i for i, r in enumerate(ok) if r["model"] == model]
        ax.scatter([pts[i][0] for i in sel], [pts[i][1] for i in sel], color=f"C{k}", label=model, s=30)
        for i in sel:
            ax.annotate(
                f"s{ok[i]['size']} bs{ok[i]['buffer_size']}",
                pts[i],
                fontsize=6,
                xytext=(3, 2),
                textcoords="offset points",
            )
    front = pareto_front(pts)
    if front:
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "k--", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("p99 time per buffer / buffer duration (lower: more headroom)")
    ax.set_ylabel("test ESR (lower: closer to the DSP)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, path)


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """ESR and RTF per size x buffer size, one table per model type."""
    out = []
    for model in sorted({r["model"] for r in rows if r["model"]}):
        sizes, buffers, esr = grid(rows, model, "esr")
        _, _, rtf = grid(rows, model, "rtf")
        what = "grid ESR (median over the held-out settings)" if model.endswith("-knobs") else "test ESR"
        out += [
            f"### {model}: {what} / RTF",
            "",
            "| size | " + " | ".join(f"bs {b}" for b in buffers) + " |",
            "|---|" + "---|" * len(buffers),
        ]
        for a, s in enumerate(sizes):
            cells = [
                "failed" if np.isnan(esr[a, b]) else f"{100 * esr[a, b]:.3g} % / {rtf[a, b]:.4f}"
                for b in range(len(buffers))
            ]
            out.append(f"| {s} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def write_summary(rows: Sequence[Mapping[str, Any]], folder: Path) -> list[Path]:
    """``summary.csv``, ``summary.md``, ``heatmaps.png``, ``pareto.png`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (str(r["model"]), r["size"] or 0, r["buffer_size"] or 0))
    files = [folder / "summary.csv", folder / "summary.md", folder / "heatmaps.png", folder / "pareto.png"]
    write_text(files[0], csv_text(rows, COLUMNS))
    write_text(files[1], markdown(rows))
    plot_heatmaps(rows, files[2])
    plot_pareto(rows, files[3])
    return files


def sweep_cost_points(rows: Sequence[Mapping[str, Any]], effect: str, buffer_size: int) -> list[CostPoint]:
    """The finished cells timed at ``buffer_size`` as network points: each cell on ONNX Runtime
    (``p50_us``) and, where timed, as a Numba kernel (``numba_nn_p50_us``); ns per sample."""
    points = []
    for r in rows:
        if r["status"] != "FINISHED" or r.get("esr") is None or r.get("buffer_size") != buffer_size:
            continue
        label = f"{effect}-{r['model']}-s{r['size']}"
        for backend, key in (("onnx", "p50_us"), ("numba", "numba_nn_p50_us")):
            if r.get(key):
                p99 = r.get("p99_us" if backend == "onnx" else "numba_nn_p99_us") or float("nan")
                points.append(
                    CostPoint(f"{backend}:{label}", "network", 1000.0 * r[key] / buffer_size, p99, float(r["esr"]))
                )
    return points


def write_sweep_crossover(rows: Sequence[Mapping[str, Any]], report: Mapping[str, Any], folder: Path) -> list[Path]:
    """The swept effect's crossover (the pipeline's ``offline/crossover.json``: its DSP variants
    and trained networks) with the sweep's cells added as network points, at every buffer size
    both timed: ``crossover_<bs>.png`` and ``crossover.md`` (the table's front and sentences)."""
    effect = str(report["effect"])
    paths, lines = [], [f"# {effect}: the crossover with the sweep's network sizes", ""]
    for bs, part in report["buffer_sizes"].items():
        extra = sweep_cost_points(rows, effect, int(bs))
        if not extra:
            continue
        base = [CostPoint(p["processor"], p["kind"], p["ns_per_sample"], p["p99_us"], p["esr"]) for p in part["points"]]
        points = base + extra
        path = folder / f"crossover_{bs}.png"
        plot_crossover(points, path, f"{effect}: cost vs ESR at {bs} samples per buffer, with the sweep's cells")
        paths.append(path)
        front = ", ".join(f"`{p.processor}`" for p in cost_pareto_front(points))
        sentence = crossover_sentence(crossover(points, report["esr_targets"]), int(bs))
        lines += [sentence, "", f"Pareto front: {front}.", ""]
    if paths:
        write_text(folder / "crossover.md", "\n".join(lines))
        paths.append(folder / "crossover.md")
    return paths
