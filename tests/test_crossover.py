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
