"""The offline stage's crossover section: for an effect with DSP variants (the clipper's
oversampling factors and solver tolerances), cost against quality per buffer size, the Pareto
front, which is cheaper at each quality target, and the chart.

Reads what the stage measured (entries, quality, timing rows); measures nothing. The points are
the Numba DSP (the reference and its variants) and every network on the deployment backends
(ONNX Runtime and the Numba kernel); PyTorch, NumPy and the naive TCN are left out (nobody would
deploy them to save time). Cost is ns per sample (p50 per buffer / buffer size); quality is
the ESR against the high-accuracy target (the reference DSP's stream), with residual ESR and
aliasing (dB re the aliasing sine's fundamental) beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from distortion_bench.analysis.crossover import CostPoint, crossover, crossover_sentence, pareto_front, plot_crossover
from distortion_bench.analysis.spread import format_spread
from distortion_bench.bench.selection import BenchEntry
from distortion_bench.errors import ConfigError

#: backends whose points go on the chart
DEPLOYED = ("numba", "onnxruntime")


def check_targets(targets: Sequence[Any]) -> list[float]:
    """``bench.crossover.esr_targets``: ESR ratios in (0, 1)."""
    out = []
    for t in targets:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
            raise ConfigError(f"bench.crossover.esr_targets: expected ESR ratios in (0, 1) (0.01 = 1 %), got {t!r}")
        out.append(float(t))
    return out


def crossover_entries(entries: Sequence[BenchEntry]) -> list[BenchEntry]:
    """The entries that go on the chart: the Numba DSP and its variants, deployed networks."""
    return [
        e
        for e in entries
        if e.backend in DEPLOYED and not e.processor.endswith("-naive") and (e.is_dsp or e.model is not None)
    ]


def cost_points(
    entries: Sequence[BenchEntry],
    quality: Mapping[str, Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    buffer_size: int,
) -> list[CostPoint]:
    """One :class:`CostPoint` per chart entry at ``buffer_size`` (rows: the offline table's)."""
    timing = {r["name"]: r for r in rows if int(r["buffer_size"]) == buffer_size}
    points = []
    for e in crossover_entries(entries):
        r = timing.get(e.name)
        esr = quality[e.name].get("esr")
        if r is None or esr is None:
            continue
        points.append(
            CostPoint(
                e.name,
                "dsp" if e.is_dsp else "network",
                1000.0 * float(r["p50_us"]) / buffer_size,
                float(r["p99_us"]),
                float(esr),
            )
        )
    return points


def crossover_report(
    effect: str,
    entries: Sequence[BenchEntry],
    quality: Mapping[str, Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    buffer_sizes: Sequence[int],
    targets: Sequence[float],
    solver: Mapping[str, Mapping[str, float]],
) -> dict[str, Any]:
    """Per buffer size the points (with residual ESR, aliasing, seeds, solver counters), the
    Pareto front, the crossover rows and the sentence; JSON-ready."""
    out: dict[str, Any] = {"effect": effect, "esr_targets": list(targets), "buffer_sizes": {}}
    for bs in buffer_sizes:
        points = cost_points(entries, quality, rows, bs)
        front = {p.processor for p in pareto_front(points)}
        rows_x = crossover(points, targets)
        out["buffer_sizes"][str(bs)] = {
            "points": [
                {
                    "processor": p.processor,
                    "kind": p.kind,
                    "ns_per_sample": p.cost_ns,
                    "p99_us": p.p99_us,
                    "esr": p.esr,
                    "residual_esr": quality[p.processor].get("residual_esr"),
                    "aliasing_db": (quality[p.processor].get("aliasing") or {}).get("aliasing_db"),
                    "seeds_esr": ((quality[p.processor].get("seeds") or {}).get("esr")),
                    "solver": solver.get(p.processor),
                    "pareto": p.processor in front,
                }
                for p in sorted(points, key=lambda q: q.cost_ns)
            ],
            "crossover": [
                {
                    "esr_target": r["esr_target"],
                    "dsp": r["dsp"].processor if isinstance(r["dsp"], CostPoint) else None,
                    "network": r["network"].processor if isinstance(r["network"], CostPoint) else None,
                    "cheaper": r["cheaper"],
                    "dsp_over_network": r["dsp_over_network"],
                }
                for r in rows_x
            ],
            "sentence": crossover_sentence(rows_x, bs),
            "network_beats_dsp_of_equal_quality": network_beats_dsp(points),
        }
    return out


def network_beats_dsp(points: Sequence[CostPoint]) -> list[dict[str, Any]]:
    """Every (network, DSP variant) pair where the network is cheaper per sample and its ESR is
    no worse: the networks that overtake a DSP variant outright ([] when none does)."""
    wins = []
    for n in (p for p in points if p.kind == "network"):
        for d in (p for p in points if p.kind == "dsp"):
            if n.cost_ns < d.cost_ns and n.esr <= d.esr:
                wins.append({"network": n.processor, "dsp": d.processor, "dsp_over_network": d.cost_ns / n.cost_ns})
    return wins


def verdict_sentence(wins: Sequence[Mapping[str, Any]], quote: str = "") -> str:
    """:func:`network_beats_dsp`'s pairs in words (names between ``quote``s)."""
    if not wins:
        return "No network is cheaper than a DSP variant of equal or lower quality at this buffer size."
    pairs = "; ".join(
        f"{quote}{w['network']}{quote} than {quote}{w['dsp']}{quote} ({w['dsp_over_network']:.2f}x)" for w in wins
    )
    return f"A network is cheaper than a DSP variant of equal or lower quality: {pairs}."


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.3g} %"


def crossover_markdown(report: Mapping[str, Any]) -> str:
    """The section of ``comparison.md``: a table and the sentence per buffer size."""
    effect = report["effect"]
    lines = [
        f"### {effect}: where a network overtakes the DSP",
        "",
        "Cost per sample against ESR to the high-accuracy target (the reference DSP). DSP rows: the "
        "solver at each oversampling factor and Newton tolerance (iterations per high-rate sample, "
        "mean / max, and samples not converged over the test takes); networks: the exported seed, "
        "with the test ESR's spread over seeds. Aliasing: energy off the harmonics for the aliasing "
        "sine, dB re its fundamental. Pareto: no other row is both cheaper and better.",
        "",
    ]
    for bs, part in report["buffer_sizes"].items():
        lines += [
            f"**{bs} samples per buffer**",
            "",
            "| processor | kind | ns/sample | p99 us/buffer | ESR | ESR over seeds | residual ESR | aliasing dB "
            "| Newton iterations (mean / max, not converged) | Pareto |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for p in part["points"]:
            s = p["solver"]
            solver = f"{s['iterations_mean']:.2f} / {s['iterations_max']}, {s['not_converged']}" if s else ""
            residual = p["residual_esr"]
            alias = p["aliasing_db"]
            lines.append(
                f"| `{p['processor']}` | {p['kind']} | {p['ns_per_sample']:.0f} | {p['p99_us']:.1f} | {_pct(p['esr'])} "
                f"| {format_spread(p['seeds_esr'], percent=True) if p['seeds_esr'] else ''} "
                f"| {'n/a' if residual is None else format(residual, '.3g')} "
                f"| {'n/a' if alias is None else format(alias, '.1f')} | {solver} | {'yes' if p['pareto'] else ''} |"
            )
        verdict = verdict_sentence(part["network_beats_dsp_of_equal_quality"], quote="`")
        lines += [
            "",
            part["sentence"],
            "",
            verdict,
            "",
            f"![{effect} crossover at {bs}](plots/offline/{effect}_crossover_{bs}.png)",
            "",
        ]
    return "\n".join(lines)


def write_crossover_plots(report: Mapping[str, Any], folder: Path) -> list[Path]:
    """One chart per buffer size into ``folder``: ``<effect>_crossover_<bs>.png``."""
    effect = report["effect"]
    paths = []
    for bs, part in report["buffer_sizes"].items():
        points = [
            CostPoint(p["processor"], p["kind"], p["ns_per_sample"], p["p99_us"], p["esr"]) for p in part["points"]
        ]
        if not points:
            continue
        path = folder / f"{effect}_crossover_{bs}.png"
        plot_crossover(points, path, f"{effect}: cost vs ESR at {bs} samples per buffer")
        paths.append(path)
    return paths
