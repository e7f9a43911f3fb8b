"""Judging knob-conditioned models: the held-out grid's figures, the conditioned pair's config,
the host automation of the knob bench, knob changes every call, the UI thread, the heatmap and
the report page's tables."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import compose, noise
from distortion_bench.analysis.knob_plots import plot_knob_grid
from distortion_bench.bench.knob_bench import KnobsEveryCall, Move, host_settings, read_moves, stream_with_host
from distortion_bench.config import selected_knob_pairs
from distortion_bench.dsp.knobs import KnobError, KnobSpace
from distortion_bench.engine.knob_mailbox import KnobMailbox, KnobTurner, random_setting
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import ConfigError
from distortion_bench.nn.knob_grid import median_over_seeds, per_setting_quality, summarise_grid
from distortion_bench.nn.knob_train import AtSetting, conditioned_config, listening_settings
from distortion_bench.nn.models import build_model

TUBE_KNOBS = {
    "gain_db": {"min": 0.0, "max": 24.0, "scale": "linear", "unit": "dB"},
    "bias": {"min": 0.0, "max": 0.5, "scale": "linear", "unit": ""},
}
SPACE = KnobSpace.from_dict(TUBE_KNOBS, "test")


def test_per_setting_quality_pools_the_rows_of_each_setting_and_names_the_worst():
    rng = np.random.default_rng(0)
    target = rng.standard_normal((4, 100))
    dry = np.zeros_like(target)
    # setting 0: rows 0 and 2, error 10 % in amplitude (ESR 0.01); setting 1: rows 1, 3, ESR 0.04
    estimate = target.copy()
    estimate[[0, 2]] *= 1.1
    estimate[[1, 3]] *= 1.2
    settings = [{"gain_db": 6.0, "bias": 0.1}, {"gain_db": 18.0, "bias": 0.4}]
    cells = per_setting_quality(settings, np.array([0, 1, 0, 1]), dry, target, estimate)
    assert [c["rows"] for c in cells] == [2, 2]
    assert cells[0]["esr"] == pytest.approx(0.01) and cells[1]["esr"] == pytest.approx(0.04)
    summary = summarise_grid(cells)
    assert summary["worst"] == {"setting": settings[1], "esr": pytest.approx(0.04)}
    assert summary["esr"]["median"] == pytest.approx(0.025) and summary["settings"] == 2
    # per setting over two seeds: the median (of two: their mean) and the range
    other = [{**c, "esr": 2 * c["esr"]} for c in cells]
    merged = median_over_seeds([cells, other])
    assert merged[1]["esr"] == pytest.approx(0.06) and merged[1]["esr_range"] == pytest.approx([0.04, 0.08])


def test_the_conditioned_form_of_each_family_and_a_family_without_one_refused():
    lstm = conditioned_config("lstm", {"type": "lstm", "size": 8, "layers": 1, "skip": True}, TUBE_KNOBS)
    assert lstm["type"] == "lstm_knobs" and "skip" not in lstm and list(lstm["knobs"]) == ["gain_db", "bias"]
    assert conditioned_config("tcn", {"type": "tcn"}, TUBE_KNOBS)["type"] == "tcn_knobs"
    assert conditioned_config("shaper", {"type": "shaper"}, {"bits": {}})["type"] == "shaper_knobs"
    with pytest.raises(ConfigError, match="'x' is a 'gru_knobs' model; families with a conditioned form"):
        conditioned_config("x", {"type": "gru_knobs"}, TUBE_KNOBS)
    cfg = compose()
    pairs = [("tube", "lstm"), ("tube", "tcn"), ("bitcrush", "shaper")]
    assert [(e, m) for e, m, _ in selected_knob_pairs(cfg)] == pairs
    assert [(e, m) for e, m, _ in selected_knob_pairs(compose("select.effect=bitcrush"))] == [pairs[2]]
    with pytest.raises(ConfigError, match=r"knob_matrix.tube-wavenet.model: 'wavenet' is not a key of models"):
        selected_knob_pairs(compose("+knob_matrix.tube-wavenet={effect: tube, model: wavenet}"))
    with pytest.raises(ConfigError, match="select.effect: 'fuzz' is not a key of effects"):
        selected_knob_pairs(compose("select.effect=fuzz"))


def test_a_conditioned_model_held_at_one_setting_is_that_setting_every_call():
    model = build_model(
        {"type": "lstm_knobs", "size": 4, "layers": 1, "warmup_samples": 0, "knobs": TUBE_KNOBS}, 48000
    ).eval()
    x = torch.from_numpy(noise(256, 0.5))[None, None]
    knobs = torch.tensor([[18.0, 0.3]])
    held = AtSetting(model, knobs)
    with torch.no_grad():
        y, _ = held(x.expand(2, -1, -1), held.initial_state(2))
        ref, _ = model(x, model.initial_state(1), knobs)
    assert torch.equal(y[0], ref[0]) and torch.equal(y[1], ref[0])


def test_listening_settings_span_the_grid():
    cells = [{"setting": {"g": float(i)}} for i in range(25)]
    assert listening_settings(cells) == [0, 12, 24]
    assert listening_settings(cells[:2]) == [0, 1] and listening_settings([]) == []


def test_host_automation_steps_and_ramps_sampled_per_buffer():
    moves = [Move("gain_db", 18.0, at_s=0.5), Move("bias", 0.4, at_s=1.0, ramp_s=1.0)]
    settings = host_settings({"gain_db": 12.0, "bias": 0.2}, moves, 9, 12000, 48000)  # 0.25 s buffers
    assert [s["gain_db"] for s in settings] == [12.0, 12.0] + [18.0] * 7
    assert [s["bias"] for s in settings] == pytest.approx([0.2] * 4 + [0.2, 0.25, 0.3, 0.35, 0.4])
    assert read_moves([{"knob": "gain_db", "to": 18, "at_s": 0.5}], SPACE, "m") == [Move("gain_db", 18.0, 0.5)]
    with pytest.raises(KnobError, match=r"m\[0\] 'drive': unknown knob"):
        read_moves([{"knob": "drive", "to": 1, "at_s": 0}], SPACE, "m")
    with pytest.raises(KnobError, match=r"m\[0\] 'gain_db': expected a number in 0..24 dB, got 30"):
        read_moves([{"knob": "gain_db", "to": 30, "at_s": 0}], SPACE, "m")
    with pytest.raises(ConfigError, match=r"m\[0\]: at_s and ramp_s must be >= 0"):
        read_moves([{"knob": "bias", "to": 0.1, "at_s": -1}], SPACE, "m")


def test_the_dsp_follows_a_host_setting_per_buffer_and_every_call_changes_cost_a_set_knobs():
    cfg = compose()
    x = noise(4096, 0.3)
    settings = host_settings({"gain_db": 12.0, "bias": 0.2}, [Move("gain_db", 18.0, at_s=0.02)], 64, 64, 48000)
    followed = stream_with_host(build_processor("numba:tube", cfg), x, settings, 64)
    # the same as the DSP given the per-sample targets of a host that sends once per buffer
    dsp = build_processor("numba:tube", cfg)
    dsp.reset()
    dsp.set_knobs(at_once=True, gain_db=12.0, bias=0.2)
    step = 15 * 64  # the first buffer that starts at or after 20 ms
    ref = dsp.process_signal(x[:step], 4096, reset=False)
    dsp.set_knobs(gain_db=18.0)
    ref = np.concatenate([ref, dsp.process_signal(x[step:], 4096, reset=False)])
    np.testing.assert_array_equal(followed, ref)
    # a processor given a new setting before each call cycles through them
    rng = np.random.default_rng(3)
    space = build_processor("numba:tube", cfg).knob_space()
    drawn = [random_setting(space, rng) for _ in range(3)]
    every = KnobsEveryCall(build_processor("numba:tube", cfg), drawn)
    every.process_signal(x, 64)
    assert every.i == (4096 // 64) % 3


def test_the_ui_thread_posts_seeded_settings_until_it_is_stopped():
    mailbox = KnobMailbox()
    with KnobTurner(mailbox, SPACE, 0.001, seed=7) as turner:
        deadline = time.monotonic() + 30
        while turner.posted < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
    posted = turner.posted
    assert posted >= 3 and mailbox.latest[0] == posted
    rng = np.random.default_rng(7)
    expected = [random_setting(SPACE, rng) for _ in range(posted)]
    assert mailbox.latest[1] == expected[-1]
    assert all(0 <= s["gain_db"] <= 24 and 0 <= s["bias"] <= 0.5 for s in expected)
    bits = KnobSpace.from_dict({"bits": {"min": 4, "max": 12, "scale": "integer", "unit": "bits"}}, "t")
    assert all(random_setting(bits, rng)["bits"] in range(4, 13) for _ in range(50))
    with pytest.raises(ValueError, match="every_s: expected seconds > 0"):
        KnobTurner(mailbox, SPACE, 0.0)


def test_heatmap_for_two_knobs_line_for_one_nothing_for_three(tmp_path):
    cells = [
        {"setting": {"gain_db": g, "bias": b}, "esr": 0.001 * (1 + g) * (1 + b)}
        for g in (2.4, 12.0, 21.6)
        for b in (0.05, 0.45)
    ]
    assert plot_knob_grid(cells, ["gain_db", "bias"], tmp_path / "h.png", "t")
    with Image.open(tmp_path / "h.png") as im:
        assert im.width > 300 and im.height > 200
    line = [{"setting": {"bits": float(b)}, "esr": 2.0**-b} for b in range(4, 13)]
    assert plot_knob_grid(line, ["bits"], tmp_path / "l.png", "t")
    assert (tmp_path / "l.png").stat().st_size > 1000
    assert not plot_knob_grid(cells, ["a", "b", "c"], tmp_path / "n.png", "t") and not (tmp_path / "n.png").exists()


def test_the_report_tables_keep_the_knob_reports_values(tmp_path):
    import json

    from distortion_bench.report.knob_section import bench_tables, grid_table

    train = tmp_path / "train"
    train.mkdir()
    spread = {"median": 0.0164, "min": 0.0151, "max": 0.0203, "n": 3, "values": [0.0151, 0.0164, 0.0203]}
    (train / "tube-lstm-knobs.json").write_text(
        json.dumps(
            {
                "spread": {
                    "grid_esr_median": spread,
                    "grid_residual_esr_median": {**spread, "median": 0.0138},
                    "fixed_setting_esr": {**spread, "median": 0.00124},
                },
                "grid_summary": {"worst": {"setting": {"gain_db": 2.4, "bias": 0.05}, "esr": 0.18}},
            }
        )
    )
    (train / "tube-lstm.json").write_text(json.dumps({"spread": {"esr": {**spread, "median": 0.00178}}}))
    table = grid_table(tmp_path, [("tube", "lstm"), ("tube", "tcn")])  # the TCN has no report: no row
    assert table is not None and len(table.rows) == 1
    row = table.rows[0]
    assert (
        row[0].text == "tube-lstm-knobs"
        and row[1].value == "0.0164"
        and row[1].key == "grid_esr_median/tube-lstm-knobs"
    )
    assert row[2].text == "18 % (gain_db 2.4, bias 0.05)" and row[6].text == "9.21"  # 0.0164 / 0.00178
    assert grid_table(tmp_path, [("bitcrush", "lstm")]) is None
    bench = {
        "machine": "m",
        "isa": "AVX-512",
        "cost": [
            {
                "pair": "tube-lstm-knobs",
                "backend": "numba",
                "buffer_size": 32,
                "fixed_p50_us": 7.3,
                "knobs_p50_us": 7.0,
                "moving_p50_us": 13.7,
                "knobs_over_fixed": 0.959,
                "moving_over_fixed": 1.88,
            }
        ],
        "automation": {
            "tube": {
                "moves": [
                    {"knob": "gain_db", "to": 18.0, "at_s": 0.5},
                    {"knob": "bias", "to": 0.4, "at_s": 1, "ramp_s": 1},
                ],
                "buffer_size": 64,
                "rows": [
                    {"processor": "numba:tube-lstm-knobs", "follows_knobs": True, "esr": 0.004, "esr_moving": 0.005}
                ],
            }
        },
        "clicks": {
            "tube": {
                "knob": "gain_db",
                "from": 6.0,
                "to": 18.0,
                "tone_hz": 110.0,
                "level_dbfs": -30.0,
                "window_ms": 10.0,
                "cutoff_hz": 2000.0,
                "processors": {
                    "numba:tube": {"click_db": -84.6, "steady_db": -99.6, "excess_db": 15.0, "vs_dsp_db": 0.0}
                },
            }
        },
    }
    cost, automation, clicks = bench_tables(bench)
    assert cost.rows[0][5].value == "0.959" and cost.rows[0][5].key == "cost/tube-lstm-knobs/numba/32"
    assert (
        automation.rows[0][2].text == "0.4 %"
        and "gain_db -> 18 at 0.5 s; bias -> 0.4 over 1 s from 1 s" in automation.note
    )
    assert clicks.rows[0][1].text == "-84.6" and clicks.rows[0][4].key == "click/numba:tube"
