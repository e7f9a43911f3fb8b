"""The comparison table (complexity, memory, buffer sensitivity, quality) of what one expects of
DSP and of networks before measuring, filled with
measured numbers: written by the offline stage as ``reports/comparison.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from distortion_bench.analysis.spread import format_spread, ranking_statements
from distortion_bench.bench.selection import is_dsp_reference

#: the common expectation, per feature (DSP column, neural column), that the measurements test
PLAN = {
    "Complexity": ("O(N), linear per sample", "O(N x layers x kernel)"),
    "Memory": ("negligible", "high (weights + activation buffers)"),
    "Buffer sensitivity": ("low (can process 1 sample)", "high (often needs batching for speed)"),
    "Quality": ("mathematically precise, 'cold'", "can learn 'warm' analog quirks"),
}


def cost_model(rows: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """Least-squares fit ``p50_us = fixed_us + ns_per_sample * buffer_size / 1000`` (relative
    errors weighted alike); returns ``(fixed_us, ns_per_sample)``."""
    b = np.array([r["buffer_size"] for r in rows], dtype=np.float64)
    t = np.array([r["p50_us"] for r in rows], dtype=np.float64)
    if b.size < 2:
        return float("nan"), float(1000.0 * t[0] / b[0]) if b.size else float("nan")
    slope, fixed = np.polyfit(b, t, 1, w=1.0 / t)
    return float(fixed), float(1000.0 * slope)


def smallest_safe_buffer(rows: Sequence[Mapping[str, Any]], sample_rate: int, margin: float = 0.5) -> int | None:
    """Smallest buffer size whose p99 time is under ``margin`` x the buffer duration."""
    ok = [r["buffer_size"] for r in rows if r["p99_us"] < margin * 1e6 * r["buffer_size"] / sample_rate]
    return min(ok) if ok else None


def _fmt(v: float | None, spec: str, none: str = "n/a") -> str:
    return none if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def _bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def effect_table(
    effect: str, entries: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], sample_rate: int
) -> str:
    """Markdown table for one effect: a column per processor, the four expectation rows and more.

    ``entries``: per processor ``name``, ``params``, ``weight_bytes``, ``state_bytes``,
    ``peak_rss_bytes`` (or None), ``quality`` (``esr``, ``residual_esr``, ``harmonic_diff_db``).
    """
    names = [e["name"] for e in entries]
    by = {n: sorted([r for r in rows if r["name"] == n], key=lambda r: r["buffer_size"]) for n in names}
    cells: dict[str, list[str]] = {
        k: []
        for k in (
            "Complexity: fixed cost + per sample (p50 fit)",
            "Parameters",
            "Memory: weights / state / peak RSS",
            "Buffer sensitivity: per-sample cost, smallest vs largest buffer",
            "Smallest buffer with p99 < half the deadline",
            "Quality: ESR vs Numba DSP",
            "Quality: test ESR over seeds, median (min-max)",
            "Quality: guitar-material ESR over seeds",
            "Quality: residual ESR",
            "Quality: residual ESR over seeds",
            "Quality: max harmonic difference vs DSP",
        )
    }
    for e in entries:
        rs = by[e["name"]]
        fixed, per = cost_model(rs)
        cells["Complexity: fixed cost + per sample (p50 fit)"].append(f"{_fmt(fixed, '.1f')} us + {per:.1f} ns")
        cells["Parameters"].append(f"{e['params']:,}")
        cells["Memory: weights / state / peak RSS"].append(
            f"{_bytes(e['weight_bytes'])} / {_bytes(e['state_bytes'])} / {_bytes(e.get('peak_rss_bytes'))}"
        )
        lo, hi = rs[0], rs[-1]
        ratio = (lo["p50_us"] / lo["buffer_size"]) / (hi["p50_us"] / hi["buffer_size"])
        cells["Buffer sensitivity: per-sample cost, smallest vs largest buffer"].append(
            f"x{ratio:.1f} ({lo['buffer_size']} vs {hi['buffer_size']})"
        )
        cells["Smallest buffer with p99 < half the deadline"].append(
            _fmt(smallest_safe_buffer(rs, sample_rate), "d", "none")
        )
        q = e["quality"]
        cells["Quality: ESR vs Numba DSP"].append("undefined" if q["esr"] is None else f"{100 * q['esr']:.3g} %")
        seeds = q.get("seeds") or {}
        cells["Quality: test ESR over seeds, median (min-max)"].append(
            format_spread(seeds.get("esr"), percent=True) if seeds else "exact (DSP)" if q["esr"] == 0 else "n/a"
        )
        cells["Quality: guitar-material ESR over seeds"].append(
            format_spread(seeds.get("guitar_esr"), percent=True) if seeds else "n/a"
        )
        cells["Quality: residual ESR"].append(_fmt(q["residual_esr"], ".3g", "undefined"))
        cells["Quality: residual ESR over seeds"].append(format_spread(seeds.get("residual_esr")) if seeds else "n/a")
        cells["Quality: max harmonic difference vs DSP"].append(
            _harmonic_cell(q.get("harmonic_diff_db"), q.get("harmonic_diff_bounded_db"))
        )
    head = "| | " + " | ".join(f"`{n}`" for n in names) + " |"
    sep = "|---|" + "---|" * len(names)
    body = [f"| {k} | " + " | ".join(v) + " |" for k, v in cells.items()]
    return "\n".join([f"### {effect}", "", head, sep, *body, ""])


def _harmonic_cell(measured: float | None, bounded: float | None) -> str:
    """``"4.1 dB"``; a larger difference that is only a bound (one side at its measurement floor)
    follows in brackets, marked as such."""
    cell = "n/a" if measured is None else f"{measured:.1f} dB"
    if bounded is not None and (measured is None or bounded > measured):
        cell += f" (floor-bounded: {bounded:.1f} dB)"
    return cell


def seed_statements(effect: str, entries: Sequence[Mapping[str, Any]]) -> str:
    """Which quality differences between the effect's networks the seeds support.

    One model per family is compared (its ONNX Runtime processor ``onnx:<effect>-<model>``: every
    backend runs the same weights), by test ESR and by residual ESR over seeds; a difference is
    claimed only when the two ranges do not overlap
    (:func:`~distortion_bench.analysis.spread.ranking_statements`).
    """
    nets = [e for e in entries if str(e["name"]).startswith("onnx:") and (e["quality"].get("seeds") or {}).get("esr")]
    if not nets:
        return ""
    esr = ranking_statements({e["name"]: e["quality"]["seeds"]["esr"] for e in nets}, "test ESR")
    res = ranking_statements(
        {e["name"]: e["quality"]["seeds"].get("residual_esr") for e in nets}, "residual ESR", percent=False
    )
    chosen = ", ".join(f"`{e['name']}` seed {e['quality']['seeds']['chosen_seed']}" for e in nets)
    return "\n".join(
        [
            f"### {effect}: differences the seeds support",
            "",
            "Each network family trained from several seeds; the benchmarked model is the seed with the "
            f"median validation ESR ({chosen}). A difference is claimed only where the ranges over seeds "
            "do not overlap.",
            "",
            *[f"- {line}" for line in esr + res],
            "",
        ]
    )


#: residual ESR bands of :func:`capture_summary`: (upper bound, verdict)
CAPTURE_BANDS = (
    (0.1, "captures it"),
    (0.5, "captures part of it"),
    (0.95, "captures little of it"),
    (float("inf"), "captures none of it"),
)


def capture_summary(effect: str, entries: Sequence[Mapping[str, Any]]) -> str:
    """What each processor captures of what the effect adds, from its residual ESR on the test
    takes (<= 0.1: captures it, i.e. at least 90 %; >= 0.95: no better than the dry signal).

    ``entries``: per processor ``name`` and ``quality`` (``residual_esr``, optionally
    ``by_group.guitar.residual_esr``); the Numba reference is left out.
    """
    lines = []
    for e in sorted(
        (e for e in entries if not is_dsp_reference(e["name"])),
        key=lambda e: (e["quality"].get("residual_esr") is None, e["quality"].get("residual_esr") or 0.0),
    ):
        q = e["quality"]
        res = q.get("residual_esr")
        if res is None:
            continue
        verdict = next(text for bound, text in CAPTURE_BANDS if res <= bound)
        guitar = (q.get("by_group") or {}).get("guitar", {}).get("residual_esr")
        extra = "" if guitar is None else f"; on guitar material {guitar:.3g}"
        lines.append(
            f"- `{e['name']}` {verdict}: residual ESR {res:.3g} ({100 * max(0.0, 1 - res):.0f} % of what "
            f"the effect adds reproduced{extra})"
        )
    if not lines:
        return ""
    return "\n".join(
        [
            f"### {effect}: what each processor captures of what the effect adds",
            "",
            "From the residual ESR on all test takes (1 = no better than passing the dry signal through).",
            "",
            *lines,
            "",
        ]
    )


def _esr_cell(values: Mapping[str, Any]) -> str:
    esr = "undefined" if values.get("esr") is None else f"{100 * values['esr']:.3g} %"
    res = _fmt(values.get("residual_esr"), ".3g", "undefined")
    mrstft = _fmt(values.get("mrstft"), ".3g", "undefined")
    share = values.get("share_of_error")
    return f"{esr} / {res} / {mrstft}" + ("" if share is None else f" ({100 * share:.0f} %)")


def material_table(effect: str, entries: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of quality per kind of material: a row per group and category, a column
    per processor (the Numba reference, 0 by definition, left out).

    ``entries``: per processor ``name`` and ``quality`` with ``by_group`` and ``by_category``
    (see :func:`~distortion_bench.bench.quality.quality_by_material`).
    """
    shown = [e for e in entries if not is_dsp_reference(e["name"])]
    if not shown or "by_category" not in shown[0]["quality"]:
        return ""
    first = shown[0]["quality"]
    rows: list[tuple[str, str, Any]] = [("**all test takes**", "", None)]
    for group in first["by_group"]:
        label = {"guitar": "**guitar material**", "measurement": "**measurement signals**"}.get(group, f"**{group}**")
        rows.append((label, "by_group", group))
    for category in first["by_category"]:
        rows.append((category, "by_category", category))
    head = "| material (takes, seconds) | " + " | ".join(f"`{e['name']}`" for e in shown) + " |"
    lines = [
        f"### {effect}: quality per kind of material",
        "",
        "ESR / residual ESR / MR-STFT distance over the takes of each kind, and (in brackets) its "
        "share of the squared error of all test takes. Guitar material: plucks, chords, palm mutes, slides, bass (and "
        "your own files); measurement signals: sweeps, tones, noise bursts.",
        "",
        head,
        "|---|" + "---|" * len(shown),
    ]
    for label, part, key in rows:
        ref = first if part == "" else first[part][key]
        extent = f" ({ref['takes']}, {ref['seconds']:.1f} s)" if "takes" in ref else ""
        cells = [_esr_cell(e["quality"] if part == "" else e["quality"][part][key]) for e in shown]
        lines.append(f"| {label}{extent} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


def kernel_table(
    effect: str,
    entries: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    peak_macs_per_ns: float | None,
    peak_text: str,
) -> str:
    """The Numba network kernels against ONNX Runtime and against their arithmetic.

    ``entries``: per processor ``name``, ``backend``, ``model`` and ``extra`` (the kernel's
    ``macs_per_sample``, ``activations_per_sample`` and which ``kernel`` ran: ``generated`` or
    ``generic``); ``rows``: the effect's timing rows. Per kernel (``numba:`` and the generic
    baseline ``numba-generic:``): p50 / p99 per buffer size beside ONNX Runtime's (and the
    speed-up), the fitted fixed cost and per-sample cost, and the per-sample cost at the largest
    buffer against the arithmetic limit (multiply-adds per sample / the machine's peak); then,
    per model benchmarked both ways, the generated kernel against the generic one.
    """
    kernels = [
        e
        for e in entries
        if e.get("backend") in ("numba", "numba-generic") and (e.get("extra") or {}).get("macs_per_sample")
    ]
    if not kernels:
        return ""
    by = {
        n: {int(r["buffer_size"]): r for r in rows if r["name"] == n}
        for n in {e["name"] for e in kernels} | {f"onnx:{effect}-{e['model']}" for e in kernels} | {f"numba:{effect}"}
    }
    sizes = sorted({int(r["buffer_size"]) for r in rows})
    head = "| kernel | " + " | ".join(f"@{b}" for b in sizes) + " |"
    lines = [
        f"### {effect}: networks compiled to Numba kernels",
        "",
        "p50 / p99 per call in us, ONNX Runtime's p50 in brackets and how many times faster the "
        "kernel is; the DSP reference (`numba:" + effect + "`) for scale.",
        "",
        head,
        "|---|" + "---|" * len(sizes),
    ]
    for e in kernels:
        mine, ort = by[e["name"]], by[f"onnx:{effect}-{e['model']}"]
        cells = []
        for b in sizes:
            if b not in mine:
                cells.append("n/a")
                continue
            cell = f"{mine[b]['p50_us']:.1f} / {mine[b]['p99_us']:.1f}"
            if b in ort:
                cell += f" ({ort[b]['p50_us']:.1f}, x{ort[b]['p50_us'] / mine[b]['p50_us']:.1f})"
            cells.append(cell)
        lines.append(f"| `{e['name']}`{_kind(e)} | " + " | ".join(cells) + " |")
    dsp = by[f"numba:{effect}"]
    if dsp:
        lines.append(
            f"| `numba:{effect}` (DSP) | "
            + " | ".join(f"{dsp[b]['p50_us']:.1f} / {dsp[b]['p99_us']:.1f}" if b in dsp else "n/a" for b in sizes)
            + " |"
        )
    lines += [
        "",
        "Cost model (p50 fit) and arithmetic. The limit is multiply-adds per sample at the machine's "
        f"peak ({peak_text}); the fraction is that limit over the per-sample cost at the largest buffer.",
        "",
        "| kernel | fixed + per sample | ONNX Runtime: fixed + per sample | multiply-adds / activations "
        "per sample | per sample @largest | arithmetic limit | of the peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in kernels:
        mine = sorted(by[e["name"]].values(), key=lambda r: r["buffer_size"])
        ort = sorted(by[f"onnx:{effect}-{e['model']}"].values(), key=lambda r: r["buffer_size"])
        if not mine:
            continue
        fixed, per = cost_model(mine)
        ofixed, oper = cost_model(ort) if ort else (float("nan"), float("nan"))
        extra = e["extra"]
        last = mine[-1]
        ns = 1000.0 * last["p50_us"] / last["buffer_size"]
        limit = extra["macs_per_sample"] / peak_macs_per_ns if peak_macs_per_ns else None
        lines.append(
            f"| `{e['name']}`{_kind(e)} | {_fmt(fixed, '.1f')} us + {per:.0f} ns "
            f"| {_fmt(ofixed, '.1f')} us + {_fmt(oper, '.0f')} ns "
            f"| {extra['macs_per_sample']:,} / {extra['activations_per_sample']:,} | {ns:.0f} ns "
            f"| {_fmt(limit, '.1f')} ns | {_fmt(None if limit is None else 100 * limit / ns, '.0f')} % |"
        )
    lines += _generated_against_generic(effect, kernels, by, sizes, peak_macs_per_ns)
    return "\n".join([*lines, ""])


def _kind(entry: Mapping[str, Any]) -> str:
    kind = (entry.get("extra") or {}).get("kernel")
    return f" ({kind})" if kind else ""


def _generated_against_generic(
    effect: str,
    kernels: Sequence[Mapping[str, Any]],
    by: Mapping[str, Mapping[int, Mapping[str, Any]]],
    sizes: Sequence[int],
    peak_macs_per_ns: float | None,
) -> list[str]:
    """Per model with both ``numba:`` and ``numba-generic:`` rows: ns per sample of each and the
    speed-up per buffer size, the fraction of the peak of each at the largest buffer, and why a
    model runs the generic kernel where the generator does not cover it."""
    names = {e["name"]: e for e in kernels}
    pairs = [
        (e, names[f"numba-generic:{effect}-{e['model']}"])
        for e in kernels
        if e["backend"] == "numba" and f"numba-generic:{effect}-{e['model']}" in names
    ]
    if not pairs:
        return []
    lines = [
        "",
        "Generated kernels (sizes as literals, one per model file) against the generic kernels "
        "(`numba-generic:`, sizes read at run time): ns per sample, generated / generic (how many "
        "times faster); the fraction of the peak at the largest buffer.",
        "",
        "| model | kernel | " + " | ".join(f"@{b}" for b in sizes) + " | of the peak: generated / generic |",
        "|---|---|" + "---|" * len(sizes) + "---|",
    ]
    notes = []
    for gen, generic in pairs:
        mine, base = by[gen["name"]], by[generic["name"]]
        cells = []
        for b in sizes:
            if b in mine and b in base:
                g_ns, b_ns = 1000.0 * mine[b]["p50_us"] / b, 1000.0 * base[b]["p50_us"] / b
                cells.append(f"{g_ns:.0f} / {b_ns:.0f} (x{b_ns / g_ns:.2f})")
            else:
                cells.append("n/a")
        fractions = "n/a"
        if peak_macs_per_ns and mine and base:
            limit = gen["extra"]["macs_per_sample"] / peak_macs_per_ns
            top = max(set(mine) & set(base), default=None)
            if top is not None:
                fractions = " / ".join(f"{100 * limit / (1000.0 * r[top]['p50_us'] / top):.0f} %" for r in (mine, base))
        kind = gen["extra"].get("kernel", "generated")
        lines.append(f"| `{gen['model']}` | {kind} | " + " | ".join(cells) + f" | {fractions} |")
        if gen["extra"].get("kernel_reason"):
            notes.append(f"`{gen['name']}` runs the generic kernel: {gen['extra']['kernel_reason']}.")
    if notes:
        lines += ["", *notes]
    return lines


def comparison_markdown(
    tables: Sequence[str], machine: str, command: str, sample_rate: int, machine_load: Sequence[str] = ()
) -> str:
    """The whole ``comparison.md``: the expectations, then one measured table per effect.

    ``machine_load``: one line per effect on how busy the machine was while it was measured.
    """
    plan = [
        "| Feature | Expected: DSP (NumPy/Numba) | Expected: neural (PyTorch/ONNX) |",
        "|---|---|---|",
        *[f"| {k} | {a} | {b} |" for k, (a, b) in PLAN.items()],
    ]
    return "\n".join(
        [
            "# Neural vs DSP distortion: the expected differences, measured",
            "",
            "Written by the `offline_bench` stage; do not edit. Times are medians of per-buffer",
            f"processing time at {sample_rate} Hz with 1 intra-op thread, all processors of an effect",
            "interleaved in one run. ESR = sum((y - y_hat)^2) / sum(y^2) over the whole test audio",
            "against the Numba DSP output (no epsilon); residual ESR = error / what the effect adds",
            "(identity scores 1). Harmonic difference: largest |model - DSP| over harmonics 2..10 above",
            "-100 dB at every test sine, where both levels are measured (at least 10 dB above the",
            "fingerprint's measurement floor: -120 dB, or the level of the aliased partials around the",
            "harmonic if louder); a larger difference where one side is at its floor is a bound, shown",
            "as floor-bounded. Test sines are chosen so that no aliased partial up to a stated order",
            "folds onto a harmonic bin (`bench.quality.sines.alias_free_order`).",
            "",
            f"Machine: {machine}. Command: `{command}`.",
            "",
            *[f"- Machine load while measuring {line}" for line in machine_load],
            *([""] if machine_load else []),
            'Network quality: the row "ESR vs Numba DSP" is the benchmarked model (one seed); "over seeds" is',
            "the median and range of every seed's test ESR, and no ranking is claimed that those ranges do not",
            "support.",
            "",
            "## What one expects before measuring",
            "",
            *plan,
            "",
            "## Measured",
            "",
            *tables,
        ]
    )
