"""Where a network overtakes the DSP: cost against quality, the Pareto front, the crossover.

An effect that is expensive in DSP (the circuit-modelled clipper) offers a choice of DSP
variants (oversampling factor x solver tolerance), each with a cost and an error against the
high-accuracy target, beside the networks (family x size x backend). For a quality target
(an ESR against the target), the question is which is the cheapest way to meet it:
:func:`crossover` answers per target, :func:`crossover_sentence` says it in words from those
numbers, :func:`pareto_front` marks the processors no other beats on both axes, and
:func:`plot_crossover` draws it. Cost is ns per sample (p50 per buffer / buffer size) at one
buffer size; a processor's p99 per buffer rides along for the real-time reading.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

#: the ESR targets the crossover is read at (1 %, 0.1 %, 0.01 %, 0.001 %)
DEFAULT_TARGETS = (1e-2, 1e-3, 1e-4, 1e-5)


@dataclass(frozen=True)
class CostPoint:
    """One processor at one buffer size: ``kind`` ``"dsp"`` or ``"network"``; ``cost_ns`` per
    sample; ``p99_us`` per buffer; ``esr`` against the target (a ratio, not %)."""

    processor: str
    kind: str
    cost_ns: float
    p99_us: float
    esr: float


def pareto_front(points: Sequence[CostPoint]) -> list[CostPoint]:
    """The points no other point beats on both cost and ESR, cheapest first (a point equal to
    another on both is kept once, the first by name)."""
    front: list[CostPoint] = []
    for p in sorted(points, key=lambda q: (q.cost_ns, q.esr, q.processor)):
        if not front or p.esr < front[-1].esr:
            front.append(p)
    return front


def cheapest_meeting(points: Sequence[CostPoint], target: float, kind: str) -> CostPoint | None:
    """The cheapest point of ``kind`` with ``esr <= target`` (None if none meets it)."""
    meeting = [p for p in points if p.kind == kind and p.esr <= target]
    return min(meeting, key=lambda p: (p.cost_ns, p.processor)) if meeting else None


def crossover(points: Sequence[CostPoint], targets: Sequence[float] = DEFAULT_TARGETS) -> list[dict[str, object]]:
    """Per ESR target: the cheapest DSP variant and the cheapest network that meet it, and which
    is cheaper (``"dsp"``, ``"network"``, or None when neither meets it); ``ratio`` is the DSP's
    cost over the network's when both do."""
    rows: list[dict[str, object]] = []
    for target in targets:
        dsp = cheapest_meeting(points, target, "dsp")
        net = cheapest_meeting(points, target, "network")
        if dsp and net:
            winner: str | None = "network" if net.cost_ns < dsp.cost_ns else "dsp"
            ratio: float | None = dsp.cost_ns / net.cost_ns
        else:
            winner = "dsp" if dsp else "network" if net else None
            ratio = None
        rows.append({"esr_target": target, "dsp": dsp, "network": net, "cheaper": winner, "dsp_over_network": ratio})
    return rows


def _pct(esr: float) -> str:
    return f"{100 * esr:.3g} %"


def crossover_sentence(rows: Sequence[dict[str, object]], buffer_size: int) -> str:
    """What :func:`crossover` found, in words (one sentence per target), from its numbers."""
    parts = []
    for row in rows:
        target, dsp, net = row["esr_target"], row["dsp"], row["network"]
        assert isinstance(target, float)
        if dsp is None and net is None:
            parts.append(f"At ESR <= {_pct(target)} nothing measured meets the target.")
        elif net is None:
            assert isinstance(dsp, CostPoint)
            parts.append(
                f"At ESR <= {_pct(target)} only the DSP does: `{dsp.processor}` at {dsp.cost_ns:.0f} ns per sample."
            )
        elif dsp is None:
            assert isinstance(net, CostPoint)
            parts.append(
                f"At ESR <= {_pct(target)} only a network does: `{net.processor}` at {net.cost_ns:.0f} ns per sample."
            )
        else:
            assert isinstance(dsp, CostPoint) and isinstance(net, CostPoint)
            cheap, dear = (net, dsp) if row["cheaper"] == "network" else (dsp, net)
            parts.append(
                f"At ESR <= {_pct(target)} the {'network' if cheap is net else 'DSP'} is cheaper: "
                f"`{cheap.processor}` {cheap.cost_ns:.0f} ns per sample (ESR {_pct(cheap.esr)}) against "
                f"`{dear.processor}` {dear.cost_ns:.0f} ns ({_pct(dear.esr)}), "
                f"{max(dsp.cost_ns, net.cost_ns) / min(dsp.cost_ns, net.cost_ns):.2g}x."
            )
    return f"At {buffer_size} samples per buffer: " + " ".join(parts)


def plot_crossover(points: Sequence[CostPoint], path: str | os.PathLike[str], title: str) -> None:
    """Cost (ns per sample) against ESR, log-log, DSP and networks marked apart, the Pareto front
    joined; written atomically to ``path`` (PNG)."""
    import matplotlib.pyplot as plt

    from distortion_bench.analysis.plotting import save_png

    floor = min((p.esr for p in points if p.esr > 0), default=1e-12) / 10
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, marker in (("dsp", "s"), ("network", "o")):
        mine = [p for p in points if p.kind == kind]
        ax.scatter([p.cost_ns for p in mine], [max(p.esr, floor) for p in mine], marker=marker, label=kind)
    # labels above and below their points in turn (by cost), so neighbours (a tolerance variant
    # beside its factor, ONNX Runtime beside the kernel) do not print over each other
    for i, p in enumerate(sorted(points, key=lambda q: (q.cost_ns, q.esr))):
        ax.annotate(
            p.processor,
            (p.cost_ns, max(p.esr, floor)),
            fontsize=6.5,
            xytext=(4, 5 if i % 2 == 0 else -11),
            textcoords="offset points",
        )
    front = pareto_front(points)
    ax.plot([p.cost_ns for p in front], [max(p.esr, floor) for p in front], "k--", lw=0.8, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cost, ns per sample (p50 per buffer / buffer size)")
    ax.set_ylabel("ESR against the target")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", lw=0.3)
    save_png(fig, path)
