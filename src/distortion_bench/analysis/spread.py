"""Spread of a quality figure over training seeds, and which differences it supports.

A network trained twice from different seeds scores differently; a single run is one draw. Every
network quality figure is therefore reported as the median and the range (min..max) over its
seeds, and two models are only said to differ when their ranges do not overlap. With 3 seeds
that is a deliberately cautious rule (no distributional assumption, no p-value): a difference it
reports held for every seed of both models.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any


def spread(values: Sequence[float | None]) -> dict[str, Any] | None:
    """``{"median", "min", "max", "n", "values"}`` of the defined ``values``; None if none is."""
    defined = [float(v) for v in values if v is not None]
    if not defined:
        return None
    return {
        "median": statistics.median(defined),
        "min": min(defined),
        "max": max(defined),
        "n": len(defined),
        "values": defined,
    }


def overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two spreads' [min, max] ranges share a point."""
    return a["min"] <= b["max"] and b["min"] <= a["max"]


def median_index(values: Sequence[float]) -> int:
    """Index of the median of ``values`` (the lower middle one for an even count; ties by order)."""
    if not values:
        raise ValueError("median_index of no values")
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    return order[(len(values) - 1) // 2]


def format_spread(s: Mapping[str, Any] | None, percent: bool = False) -> str:
    """``"0.23 % (0.20-0.25, 3 seeds)"``, or ``"0.23 % (1 seed)"``; ``"n/a"`` without a spread."""
    if not s:
        return "n/a"
    scale, unit = (100.0, " %") if percent else (1.0, "")
    med = f"{scale * s['median']:.3g}{unit}"
    if s["n"] < 2:
        return f"{med} (1 seed)"
    return f"{med} ({scale * s['min']:.3g}-{scale * s['max']:.3g}, {s['n']} seeds)"


def ranking_statements(
    spreads: Mapping[str, Mapping[str, Any] | None], metric: str = "ESR", percent: bool = True
) -> list[str]:
    """One sentence per pair of models: ``A < B`` when their ranges are disjoint, else that the
    seeds do not support a difference. Models without a spread or with one seed are said so."""
    names = [n for n, s in spreads.items() if s]
    lines = []
    single = [n for n in names if spreads[n]["n"] < 2]  # type: ignore[index]
    if single:
        listed = ", ".join(f"`{n}`" for n in single)
        lines.append(f"{listed}: one seed only, no spread: no ranking is claimed with it.")
    ranked = [n for n in names if n not in single]
    for i, a in enumerate(ranked):
        for b in ranked[i + 1 :]:
            sa, sb = spreads[a], spreads[b]
            assert sa is not None and sb is not None
            if overlap(sa, sb):
                lines.append(
                    f"`{a}` vs `{b}`: {metric} ranges overlap ({format_spread(sa, percent)} vs "
                    f"{format_spread(sb, percent)}): no difference claimed."
                )
            else:
                lo, hi = (a, b) if sa["max"] < sb["min"] else (b, a)
                lines.append(
                    f"`{lo}` < `{hi}` in {metric} on every seed ({format_spread(spreads[lo], percent)} vs "
                    f"{format_spread(spreads[hi], percent)})."
                )
    return lines
