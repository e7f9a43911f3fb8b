"""Spread over seeds and the ranking rule: a difference only where the ranges do not overlap."""

from __future__ import annotations

import pytest

from distortion_bench.analysis.spread import format_spread, median_index, overlap, ranking_statements, spread
from distortion_bench.bench.comparison import seed_statements


def test_spread_of_values_ignores_undefined_ones():
    assert spread([0.003, 0.001, None, 0.002]) == {
        "median": 0.002,
        "min": 0.001,
        "max": 0.003,
        "n": 3,
        "values": [0.003, 0.001, 0.002],
    }
    assert spread([None]) is None and spread([]) is None
    assert spread([0.5, 0.1])["median"] == pytest.approx(0.3)


def test_median_index_picks_the_middle_not_the_best():
    assert median_index([0.3, 0.1, 0.2]) == 2
    assert median_index([0.1, 0.4, 0.2, 0.3]) == 2  # even count: the lower middle
    assert median_index([0.2, 0.2, 0.2]) == 1  # ties by order
    with pytest.raises(ValueError):
        median_index([])


def test_planted_overlapping_results_are_reported_as_no_difference():
    tcn = spread([0.00221, 0.00260, 0.00240])
    lstm = spread([0.00227, 0.00300, 0.00250])
    assert overlap(tcn, lstm)
    lines = ranking_statements({"onnx:tube-tcn": tcn, "onnx:tube-lstm": lstm}, "test ESR")
    assert lines == [
        "`onnx:tube-tcn` vs `onnx:tube-lstm`: test ESR ranges overlap (0.24 % (0.221-0.26, 3 seeds) vs "
        "0.25 % (0.227-0.3, 3 seeds)): no difference claimed."
    ]


def test_disjoint_ranges_are_ranked_and_single_seeds_are_not():
    good, bad = spread([0.001, 0.0012, 0.0011]), spread([0.002, 0.0025, 0.0021])
    lines = ranking_statements({"b": bad, "a": good, "c": spread([0.0001])}, "test ESR")
    assert lines[0] == "`c`: one seed only, no spread: no ranking is claimed with it."
    assert lines[1] == "`a` < `b` in test ESR on every seed (0.11 % (0.1-0.12, 3 seeds) vs 0.21 % (0.2-0.25, 3 seeds))."
    assert format_spread(None) == "n/a" and format_spread(spread([0.5])) == "0.5 (1 seed)"


def test_comparison_section_compares_one_processor_per_model():
    def entry(name, backend, esrs):
        return {
            "name": name,
            "backend": backend,
            "quality": {
                "seeds": {"esr": spread(esrs), "residual_esr": spread([10 * v for v in esrs]), "chosen_seed": 7}
            },
        }

    text = seed_statements(
        "tube",
        [
            entry("onnx:tube-tcn", "onnxruntime", [0.001, 0.002]),
            entry("numba:tube-tcn", "numba", [0.001, 0.002]),
            entry("onnx-naive:tube-tcn", "onnxruntime", [0.001, 0.002]),
            entry("onnx:tube-lstm", "onnxruntime", [0.003, 0.004]),
        ],
    )
    assert "### tube: differences the seeds support" in text and "`onnx:tube-tcn` seed 7" in text
    assert "- `onnx:tube-tcn` < `onnx:tube-lstm` in test ESR on every seed" in text
    assert "- `onnx:tube-tcn` < `onnx:tube-lstm` in residual ESR on every seed" in text
    body = text.split("\n\n", 2)[2]
    assert "numba:tube-tcn" not in body and "naive" not in body  # the same weights are not compared twice
    assert seed_statements("tube", [{"name": "numba:tube", "backend": "numba", "quality": {}}]) == ""


def test_group_esr_pools_categories_from_their_shares():
    from distortion_bench.analysis.metrics import group_esr

    # errors 1 and 3 (shares 0.1, 0.3), signals 1000 and 1000: pooled guitar ESR 4 / 2000
    by_category = {
        "pluck": {"esr": 0.001, "share_of_error": 0.1},
        "chord": {"esr": 0.003, "share_of_error": 0.3},
        "noise": {"esr": 0.6, "share_of_error": 0.6},
    }
    assert group_esr(by_category, "guitar") == pytest.approx(0.002)
    assert group_esr(by_category, "measurement") == pytest.approx(0.6)
    assert group_esr({}, "guitar") is None
