"""The crossover analysis: Pareto front, cheapest per quality target, the sentence, the chart."""

from __future__ import annotations

from distortion_bench.analysis.crossover import CostPoint, crossover, crossover_sentence, pareto_front, plot_crossover

POINTS = [
    CostPoint("numba:clipper-os1", "dsp", 300.0, 30.0, 3e-2),
    CostPoint("numba:clipper-os2", "dsp", 650.0, 50.0, 2e-3),
    CostPoint("numba:clipper-os8", "dsp", 2300.0, 160.0, 1e-5),
    CostPoint("numba:clipper-lstm", "network", 250.0, 20.0, 4e-3),
    CostPoint("onnx:clipper-lstm", "network", 900.0, 70.0, 4e-3),
    CostPoint("numba:clipper-tcn", "network", 400.0, 25.0, 5e-4),
]


def test_the_pareto_front_keeps_what_nothing_beats_on_both_axes():
    front = [p.processor for p in pareto_front(POINTS)]
    assert front == ["numba:clipper-lstm", "numba:clipper-tcn", "numba:clipper-os8"]


def test_the_crossover_names_the_cheapest_of_each_kind_per_target():
    rows = {r["esr_target"]: r for r in crossover(POINTS, (1e-1, 1e-2, 1e-3, 1e-4, 1e-6))}
    assert rows[1e-1]["cheaper"] == "network" and rows[1e-1]["dsp"].processor == "numba:clipper-os1"
    assert (
        rows[1e-2]["network"].processor == "numba:clipper-lstm" and rows[1e-2]["dsp"].processor == "numba:clipper-os2"
    )
    assert rows[1e-2]["dsp_over_network"] == 650.0 / 250.0
    assert rows[1e-3]["network"].processor == "numba:clipper-tcn" and rows[1e-3]["cheaper"] == "network"
    assert rows[1e-4]["cheaper"] == "dsp" and rows[1e-4]["network"] is None
    assert rows[1e-6]["cheaper"] is None
    sentence = crossover_sentence(list(rows.values()), 64)
    assert sentence.startswith("At 64 samples per buffer: ")
    assert "At ESR <= 1 % the network is cheaper: `numba:clipper-lstm` 250 ns per sample" in sentence
    assert "At ESR <= 0.01 % only the DSP does: `numba:clipper-os8` at 2300 ns per sample." in sentence
    assert "At ESR <= 0.0001 % nothing measured meets the target." in sentence


def test_the_chart_is_written(tmp_path):
    path = tmp_path / "crossover.png"
    plot_crossover(POINTS, path, "clipper, 64 samples")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_stage_report_prices_every_deployed_point_and_says_the_verdict(tmp_path):
    """:mod:`distortion_bench.bench.crossover_report`: the chart's points from the offline rows
    (ns per sample = p50 / buffer size), PyTorch and the naive TCN left out, the solver's
    counters beside the DSP rows, the Pareto front, and the verdict in ``comparison.md``."""
    from distortion_bench.bench.crossover_report import (
        crossover_markdown,
        crossover_report,
        network_beats_dsp,
        write_crossover_plots,
    )
    from distortion_bench.bench.selection import BenchEntry
    from distortion_bench.report.tables import crossover_tables

    entries = [
        BenchEntry("numba:clipper", "clipper", "dsp", "numba"),
        BenchEntry("numba:clipper-os1", "clipper", "dsp-os1", "numba"),
        BenchEntry("onnx:clipper-lstm", "clipper", "lstm", "onnxruntime", "lstm"),
        BenchEntry("numba:clipper-lstm", "clipper", "lstm", "numba", "lstm"),
        BenchEntry("torch:clipper-lstm", "clipper", "lstm", "torch", "lstm"),
        BenchEntry("onnx-naive:clipper-tcn", "clipper", "tcn-naive", "onnxruntime", "tcn"),
    ]
    esr = {"numba:clipper": 0.0, "numba:clipper-os1": 2e-3, "onnx:clipper-lstm": 1e-3, "numba:clipper-lstm": 1e-3}
    esr |= {"torch:clipper-lstm": 1e-3, "onnx-naive:clipper-tcn": 5e-4}
    quality = {n: {"esr": v, "residual_esr": 10 * v, "aliasing": {"aliasing_db": -60.0}} for n, v in esr.items()}
    quality["numba:clipper-lstm"]["seeds"] = {"esr": {"median": 1e-3, "min": 9e-4, "max": 2e-3, "n": 3}}
    p50 = {"numba:clipper": 256.0, "numba:clipper-os1": 16.0, "onnx:clipper-lstm": 32.0, "numba:clipper-lstm": 12.8}
    p50 |= {"torch:clipper-lstm": 90.0, "onnx-naive:clipper-tcn": 5.0}
    rows = [{"name": n, "buffer_size": 64, "p50_us": v, "p99_us": 2 * v} for n, v in p50.items()]
    solver = {"numba:clipper": {"samples": 16, "iterations_mean": 2.25, "iterations_max": 5, "not_converged": 0}}
    report = crossover_report("clipper", entries, quality, rows, [64], [1e-2, 1e-3, 1e-4], solver)
    part = report["buffer_sizes"]["64"]
    points = {p["processor"]: p for p in part["points"]}
    assert list(points) == ["numba:clipper-lstm", "numba:clipper-os1", "onnx:clipper-lstm", "numba:clipper"]
    assert (
        points["numba:clipper-lstm"]["ns_per_sample"] == 200.0 and points["numba:clipper-os1"]["ns_per_sample"] == 250.0
    )
    assert (
        points["numba:clipper"]["solver"] == solver["numba:clipper"] and points["onnx:clipper-lstm"]["solver"] is None
    )
    assert [p["processor"] for p in part["points"] if p["pareto"]] == ["numba:clipper-lstm", "numba:clipper"]
    # the LSTM kernel is cheaper than the 1x DSP and no worse: a network overtakes a DSP variant
    # (the 16x reference is exact: no network is as good as it, however cheap)
    assert part["network_beats_dsp_of_equal_quality"] == [
        {"network": "numba:clipper-lstm", "dsp": "numba:clipper-os1", "dsp_over_network": 1.25},
    ]
    assert [r["cheaper"] for r in part["crossover"]] == ["network", "network", "dsp"]
    text = crossover_markdown(report)
    assert part["sentence"] in text and "`numba:clipper-lstm` than `numba:clipper-os1` (1.25x)" in text
    assert "| `numba:clipper` | dsp | 4000 | 512.0 | 0 % |" in text and "2.25 / 5, 0" in text
    assert "| 0.1 % (0.09-0.2, 3 seeds) |" in text
    [table] = crossover_tables(report)
    assert [row[0].text for row in table.rows] == list(points) and "1.25x" in table.note
    assert network_beats_dsp([POINTS[0], POINTS[3]]) == [
        {"network": "numba:clipper-lstm", "dsp": "numba:clipper-os1", "dsp_over_network": 1.2}
    ]
    [path] = write_crossover_plots(report, tmp_path)
    assert path.name == "clipper_crossover_64.png" and path.stat().st_size > 5000


def test_the_report_reads_the_crossover_on_aliasing_too():
    from distortion_bench.report.tables import aliasing_verdict

    points = [
        {"processor": "numba:clipper-shaper", "kind": "network", "ns_per_sample": 100.0, "aliasing_db": -37.0},
        {"processor": "numba:clipper-tcn", "kind": "network", "ns_per_sample": 600.0, "aliasing_db": -50.0},
        {"processor": "numba:clipper-os1", "kind": "dsp", "ns_per_sample": 250.0, "aliasing_db": -28.0},
        {"processor": "numba:clipper-os2", "kind": "dsp", "ns_per_sample": 500.0, "aliasing_db": -55.0},
    ]
    assert aliasing_verdict(points) == (
        "By aliasing, a network is cheaper and aliases less: numba:clipper-shaper (100 ns, -37 dB) against "
        "numba:clipper-os1 (250 ns, -28 dB)."
    )
    assert aliasing_verdict(points[1:]) == "By aliasing, no network is both cheaper and cleaner than a DSP variant."
