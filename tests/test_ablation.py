"""The ablation's report from recorded jobs (no training): names, best cells, the plot."""

from __future__ import annotations

from conftest import assert_png
from distortion_bench.sweep.ablation import loss_name, plot_ablation, report_markdown

ROW = {
    "params": 8465.0,
    "esr": 1e-5,
    "mrstft": 0.9,
    "residual_mrstft": 1.2,
    "harmonic_diff_db": 3.0,
    "harmonic_diff_bounded_db": None,
    "aliasing_db": -40.0,
    "reference_aliasing_db": -38.5,
    "p50_us_bs64": 20.0,
    "p50_us_bs512": 60.0,
    "rtf_bs64": 0.015,
    "train_seconds": 100.0,
}


def test_loss_presets_are_named_from_their_weights():
    assert loss_name({"weights": {"esr": 1.0, "dc": 0.05, "residual_esr": 0.0}}) == "esr"
    assert loss_name({"weights": {"esr": 0.0, "residual_esr": 1.0}}) == "residual"
    assert loss_name({"weights": {"residual_esr": 1.0, "residual_mrstft": 0.1}}) == "residual_mrstft"
    assert loss_name({"weights": {"esr": 1.0, "mrstft": 0.5}}) == "esr+mrstft"


def test_report_marks_the_best_family_per_setting(tmp_path):
    rows = [
        {"model": "lstm", "loss": "esr", "bits": 8, "downsample": 1, **ROW, "residual_esr": 1.02},
        {"model": "shaper", "loss": "residual", "bits": 8, "downsample": 1, **ROW, "residual_esr": 0.03},
        {"model": "shaper", "loss": "residual", "bits": 8, "downsample": 4, **ROW, "residual_esr": 0.6},
    ]
    text = report_markdown(rows, "3 epochs per job")
    lines = [line for line in text.splitlines() if line.startswith("| 8 |")]
    assert lines[0].startswith("| 8 | 1 | lstm | esr | 8465 | 1.02 | 0.001 % |")
    assert lines[1].startswith("| 8 | 1 | shaper | residual | 8465 | **0.03** |")
    assert "| **0.6** |" in lines[2]  # the only job with a 4x hold is the best of its setting
    assert "-40.0 (-38.5) dB" in lines[0] and "n/a dB" in lines[0]
    plot_ablation(rows, tmp_path / "ablation.png")
    assert_png(tmp_path / "ablation.png")
