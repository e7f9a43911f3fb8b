"""The headline tables of the page, per effect: quality by material, latency per buffer size,
real-time glitches by cause. Cells keep the value as the result file wrote it (``data-value``)
beside the rounded text a reader sees, so a test can compare the page with the files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from distortion_bench.analysis.spread import format_spread, ranking_statements
from distortion_bench.bench.crossover_report import verdict_sentence


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text`` shown, ``value`` as in the source file ('' for none), ``key`` for tests."""

    text: str
    value: str = ""
    key: str = ""


@dataclass
class Table:
    """A table with a caption, column headers and rows of cells (the first cell names the row)."""

    caption: str
    header: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""


def fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (``2.21e-3`` style below 1e-3), '—' for none."""
    if value is None or value == "":
        return "—"
    x = float(value)
    if x == 0.0:
        return "0"
    text = f"{x:.{digits}g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text


def quality_table(effect: str, records: Mapping[str, Mapping[str, Any]], order: Sequence[str]) -> Table:
    """ESR and residual ESR pooled, per material group and per kind of material (test takes, vs the DSP)."""
    names = [n for n in order if n in records] + sorted(n for n in records if n not in order)
    categories: list[str] = []
    for n in names:
        for c in records[n].get("by_category", {}):
            if c not in categories:
                categories.append(c)
    table = Table(
        f"{effect}: quality on the test takes (ESR against the DSP reference; lower is better)",
        [
            "processor",
            "ESR",
            "ESR over seeds: median (min-max)",
            "residual ESR",
            "residual ESR over seeds",
            "ESR guitar",
            "ESR guitar over seeds",
            "ESR measurement",
            *[f"ESR {c}" for c in categories],
        ],
        note="Residual ESR compares what each processor adds to the dry signal with what the DSP "
        "adds (1 = none of it captured). Guitar = played material; measurement = sweeps, "
        "tones, noise. A network's ESR is that of the benchmarked model (the seed with the median "
        "validation ESR); 'over seeds' is the median and range of every seed's test ESR: a "
        "difference smaller than those ranges is not a difference.",
    )
    for n in names:
        q = records[n]
        groups = q.get("by_group", {})
        values = [
            q.get("esr"),
            q.get("residual_esr"),
            groups.get("guitar", {}).get("esr"),
            groups.get("measurement", {}).get("esr"),
            *[q.get("by_category", {}).get(c, {}).get("esr") for c in categories],
        ]
        keys = ["esr", "residual_esr", "esr_guitar", "esr_measurement", *[f"esr_{c}" for c in categories]]
        cells = [Cell(fmt(v), "" if v is None else repr(float(v)), f"{effect}|{n}|{k}") for v, k in zip(values, keys)]
        seeds = q.get("seeds") or {}
        cells.insert(
            1,
            Cell(
                format_spread(seeds.get("esr")) if seeds else "—",
                repr(seeds["esr"]["median"]) if seeds.get("esr") else "",
                f"{effect}|{n}|esr_seeds",
            ),
        )
        cells.insert(
            3,
            Cell(
                format_spread(seeds.get("residual_esr")) if seeds else "—",
                repr(seeds["residual_esr"]["median"]) if seeds.get("residual_esr") else "",
                f"{effect}|{n}|residual_esr_seeds",
            ),
        )
        cells.insert(
            5,
            Cell(
                format_spread(seeds.get("guitar_esr")) if seeds else "—",
                repr(seeds["guitar_esr"]["median"]) if seeds.get("guitar_esr") else "",
                f"{effect}|{n}|esr_guitar_seeds",
            ),
        )
        table.rows.append([Cell(n)] + cells)
    return table


def seed_ranking(records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Sentences on which networks differ in test ESR over seeds (ONNX Runtime rows: one per model)."""
    spreads = {
        n: (q.get("seeds") or {}).get("esr")
        for n, q in records.items()
        if n.startswith("onnx:") and not n.endswith("-naive")
    }
    return [line.replace("`", "") for line in ranking_statements({n: s for n, s in spreads.items() if s}, "test ESR")]


def latency_table(
    effect: str, rows: Sequence[Mapping[str, str]], names: Mapping[tuple[str, str], str], sample_rate: int
) -> Table:
    """p50 / p99 time per buffer (us) per processor and buffer size, from ``offline_bench.csv`` rows."""
    # (processor, backend, buffer size) -> row; dicts keep the CSV's processor order
    cell_rows = {(r["processor"], r["backend"], int(r["buffer_size"])): r for r in rows if r["effect"] == effect}
    sizes = sorted({b for _, _, b in cell_rows})
    labels = list(dict.fromkeys((p, be) for p, be, _ in cell_rows))
    table = Table(
        f"{effect}: time per buffer, p50 / p99 (us), offline",
        ["processor", *[f"{b} ({1e3 * b / sample_rate:.2f} ms)" for b in sizes]],
        note="Each cell is the median / 99th percentile of the time one call takes for a buffer of "
        "that many samples (the buffer's own duration in brackets is its real-time deadline).",
    )
    for label in labels:
        name = names.get(label, f"{label[0]} ({label[1]})")
        cells = [Cell(name)]
        for b in sizes:
            r = cell_rows.get((*label, b))
            if r is None:
                cells.append(Cell("—"))
                continue
            cells.append(
                Cell(f"{fmt(r['p50_us'])} / {fmt(r['p99_us'])}", f"{r['p50_us']}|{r['p99_us']}", f"{effect}|{name}|{b}")
            )
        table.rows.append(cells)
    return table


def kernel_table(effect: str, rows: Sequence[Mapping[str, str]], details: Mapping[str, Any]) -> Table | None:
    """Per network of ``effect`` run as a Numba kernel: ns per sample (p50) of its kernel
    (generated for the model, or the generic one where the generator does not cover it), of the
    generic kernel and of ONNX Runtime per buffer size, and how many times faster the kernel is
    than each (``offline_bench.csv`` rows; which kernel ran from ``offline/details.json``)."""
    p50 = {
        (r["processor"], r["backend"], int(r["buffer_size"])): float(r["p50_us"]) for r in rows if r["effect"] == effect
    }
    models = list(dict.fromkeys(m for m, be, _ in p50 if be == "numba-generic"))
    if not models:
        return None
    sizes = sorted({b for _, _, b in p50})
    table = Table(
        f"{effect}: network kernels, ns per sample (p50): the model's kernel / the generic kernel / ONNX Runtime",
        ["model", "kernel", *[str(b) for b in sizes]],
        note="In brackets: how many times faster the model's kernel is than the generic kernel and "
        "than ONNX Runtime. A generated kernel has the network's sizes as literals (compiled once per "
        "model file, cached by its hash); where the generator does not cover a model it runs the "
        "generic kernel, and the row says why.",
    )
    reasons = []
    for model in models:
        facts = ((details.get(effect) or {}).get(f"numba:{effect}-{model}") or {}).get("facts") or {}
        extra = facts.get("extra") or {}
        kind = extra.get("kernel", "—")
        if extra.get("kernel_reason"):
            reasons.append(f"{model}: {extra['kernel_reason']}.")
        cells = [Cell(model), Cell(kind, kind, f"{effect}|{model}|kernel")]
        for b in sizes:
            mine, generic, ort = (p50.get((model, be, b)) for be in ("numba", "numba-generic", "onnxruntime"))
            if mine is None or generic is None:
                cells.append(Cell("—"))
                continue
            ns = [1e3 * v / b if v is not None else None for v in (mine, generic, ort)]
            text = " / ".join(fmt(v) if v is not None else "—" for v in ns)
            text += f" (x{fmt(generic / mine)}" + (f", x{fmt(ort / mine)})" if ort is not None else ")")
            cells.append(Cell(text, f"{mine}|{generic}|{ort}", f"{effect}|{model}|{b}"))
        table.rows.append(cells)
    if reasons:
        table.note += " " + " ".join(reasons)
    return table


def realtime_table(effect: str, rows: Sequence[Mapping[str, str]]) -> Table:
    """Callbacks and glitches by cause per processor, buffer size and scheduling (``realtime_bench.csv``)."""
    mine = [r for r in rows if r["effect"] == effect]
    table = Table(
        f"{effect}: real-time streams (PortAudio callbacks on a real audio clock)",
        [
            "processor",
            "buffer",
            "scheduling",
            "callbacks",
            "glitches: processor",
            "glitches: scheduler",
            "preempted calls",
            "mean CPU per callback (us)",
            "tail per callback (us)",
            "worst RTF",
        ],
        note="A glitch is a late buffer. 'processor' glitches are deadlines the processor would have "
        "missed even if every wake-up had come on time (the stream replayed with each callback's "
        "measured CPU time); 'scheduler' glitches are the rest: the audio thread woken late or "
        "preempted (the OS or the virtual machine), whatever the processor. 'preempted calls': "
        "wall time over the budget, CPU time under it. The tail is the highest statistic the "
        "number of callbacks supports: p99.9 from 10,000, p99 from 1,000, else the maximum.",
    )
    for r in sorted(mine, key=lambda r: (int(r["buffer_size"]), r["scheduling"], r["processor"])):
        key = f"{effect}|{r['processor']}|{r['buffer_size']}|{r['scheduling']}"
        tail = r.get("tail_us") or r.get("p999_us")
        tail_stat = r.get("tail_stat") or "p99.9"
        table.rows.append(
            [
                Cell(r["processor"]),
                Cell(r["buffer_size"]),
                Cell(r["scheduling"]),
                Cell(r["callbacks"], r["callbacks"], key + "|callbacks"),
                Cell(r["processor_glitches"], r["processor_glitches"], key + "|processor_glitches"),
                Cell(r["scheduler_glitches"], r["scheduler_glitches"], key + "|scheduler_glitches"),
                Cell(r.get("preempted", "—"), r.get("preempted")),
                Cell(fmt(r.get("cpu_mean_us")), r.get("cpu_mean_us")),
                Cell(f"{fmt(tail)} ({tail_stat})", tail),
                Cell(fmt(r["rtf_worst"]), r["rtf_worst"]),
            ]
        )
    return table


def crossover_tables(report: Mapping[str, Any]) -> list[Table]:
    """Per buffer size of an effect's crossover report (``offline/crossover.json``): cost and
    quality of every DSP variant and deployed network, the Pareto front marked; the note is the
    sentence saying which is cheaper at each quality target."""
    tables = []
    for bs, part in report["buffer_sizes"].items():
        table = Table(
            f"{report['effect']}: where a network overtakes the DSP, {bs} samples per buffer",
            ["processor", "kind", "ns per sample", "p99 us per buffer", "ESR", "residual ESR", "aliasing dB", "Pareto"],
        )
        for p in part["points"]:
            table.rows.append(
                [
                    Cell(p["processor"]),
                    Cell(p["kind"]),
                    Cell(fmt(p["ns_per_sample"]), str(p["ns_per_sample"]), f"crossover/{bs}/{p['processor']}/ns"),
                    Cell(fmt(p["p99_us"]), str(p["p99_us"])),
                    Cell(fmt(100 * p["esr"]) + " %", str(p["esr"]), f"crossover/{bs}/{p['processor']}/esr"),
                    Cell(fmt(p["residual_esr"])),
                    Cell(fmt(p["aliasing_db"])),
                    Cell("yes" if p["pareto"] else ""),
                ]
            )
        verdict = verdict_sentence(part["network_beats_dsp_of_equal_quality"])
        table.note = f"{part['sentence']} {verdict} {aliasing_verdict(part['points'])}"
        tables.append(table)
    return tables


def aliasing_verdict(points: Sequence[Mapping[str, Any]]) -> str:
    """The crossover read on the other quality axis, aliasing (dB re the aliasing sine's
    fundamental, lower is better): for each DSP variant, the cheapest network that is cheaper
    per sample and aliases less, in one sentence."""
    nets = sorted(
        (p for p in points if p["kind"] == "network" and p["aliasing_db"] is not None), key=lambda p: p["ns_per_sample"]
    )
    found = []
    for d in (p for p in points if p["kind"] == "dsp" and p["aliasing_db"] is not None):
        better = [n for n in nets if n["ns_per_sample"] < d["ns_per_sample"] and n["aliasing_db"] < d["aliasing_db"]]
        if better:
            n = better[0]
            found.append(
                f"{n['processor']} ({fmt(n['ns_per_sample'])} ns, {fmt(n['aliasing_db'])} dB) against "
                f"{d['processor']} ({fmt(d['ns_per_sample'])} ns, {fmt(d['aliasing_db'])} dB)"
            )
    if not found:
        return "By aliasing, no network is both cheaper and cleaner than a DSP variant."
    return "By aliasing, a network is cheaper and aliases less: " + "; ".join(found) + "."
