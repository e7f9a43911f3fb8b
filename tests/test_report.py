"""The report page's parts: excerpt choice, loudness matching, MP3s, tables, missing inputs, size budget.

The page itself, opened in a real browser from the smoke pipeline's outputs, is tested in
``test_pipeline_e2e.py::test_report_page_in_a_real_browser``.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from conftest import SAMPLE_RATE, compose, noise, sine
from distortion_bench.report.inputs import ReportError, find_sweep_summary
from distortion_bench.report.listening import (
    Player,
    TakeSpan,
    check_layout,
    choose_excerpts,
    excerpt_players,
    match_loudness,
    take_spans,
    write_mp3,
    write_row_mp3,
)
from distortion_bench.report.site import build_site
from distortion_bench.report.tables import fmt, kernel_table, latency_table, realtime_table


def test_take_spans_follow_the_concatenation():
    spans = take_spans(["pluck/a.wav", "sweep/b.wav", "chord/c.wav"], [100, 50, 70])
    assert [(s.start, s.length, s.category) for s in spans] == [
        (0, 100, "pluck"),
        (100, 50, "sweep"),
        (150, 70, "chord"),
    ]


def test_excerpts_put_guitar_first_and_let_kinds_take_turns():
    spans = [
        TakeSpan("sweep/s1.wav", 0, 100),
        TakeSpan("pluck/p1.wav", 100, 100),
        TakeSpan("pluck/p2.wav", 200, 100),
        TakeSpan("chord/c1.wav", 300, 100),
        TakeSpan("tone/t1.wav", 400, 100),
    ]
    chosen = choose_excerpts(spans, available=1000, count=4, max_samples=60, min_samples=20)
    # both guitar kinds before a second pluck; measurement signals only once guitar is used up
    assert [e.path for e in chosen] == ["pluck/p1.wav", "chord/c1.wav", "pluck/p2.wav", "sweep/s1.wav"]
    assert all(e.length == 60 for e in chosen) and chosen[0].start == 100


def test_excerpts_stay_inside_the_processed_window():
    spans = [TakeSpan("pluck/p1.wav", 0, 100), TakeSpan("chord/c1.wav", 100, 100), TakeSpan("bass/b1.wav", 200, 100)]
    chosen = choose_excerpts(spans, available=230, count=3, max_samples=1000, min_samples=40)
    # the chord is cut at the window's end; the bass has 30 < 40 samples inside it: skipped
    assert [(e.path, e.start, e.length) for e in chosen] == [("pluck/p1.wav", 0, 100), ("chord/c1.wav", 100, 100)]
    assert choose_excerpts(spans, available=30, count=3, max_samples=1000, min_samples=40) == []


def test_loudness_matching_gives_every_player_the_same_loudness_under_the_peak_limit():
    loud, quiet = sine(220.0, 0.9, 48000), sine(220.0, 0.05, 48000)
    players = [Player("a", loud), Player("b", quiet), Player("c", noise(48000, 0.1))]
    row = match_loudness(players, SAMPLE_RATE, target_lufs=-20.0, peak_dbfs=-1.0)
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    matched = [meter.integrated_loudness(p.matched.astype(np.float64)) for p in players]
    assert np.allclose(matched, row, atol=0.05)
    assert row == pytest.approx(-20.0)  # nothing would clip at -20 LUFS here
    assert players[0].gain_db < 0 < players[1].gain_db
    # a crest-heavy player lowers the whole row so it stays under the peak limit
    spiky = np.zeros(48000, np.float32)
    spiky[::4800] = 0.9
    players = [Player("spiky", spiky), Player("b", quiet)]
    row = match_loudness(players, SAMPLE_RATE, target_lufs=-20.0, peak_dbfs=-1.0)
    assert row < -20.0
    assert 20 * math.log10(np.max(np.abs(players[0].matched))) == pytest.approx(-1.0, abs=0.01)


def test_silent_player_keeps_unity_gain():
    players = [Player("silent", np.zeros(48000, np.float32)), Player("b", sine(220.0, 0.1, 48000))]
    match_loudness(players, SAMPLE_RATE, -20.0, -1.0)
    assert players[0].gain_db == 0.0 and players[0].loudness_lufs == -math.inf


def test_players_are_scored_against_the_reference():
    dry = sine(110.0, 0.3, 4000)
    ref = np.tanh(4 * dry).astype(np.float32)
    off = (ref + 0.01).astype(np.float32)
    processed = {"dry": dry, "numba:tube": ref, "onnx:tube-tcn": off}
    from distortion_bench.report.listening import Excerpt

    players = excerpt_players(processed, "numba:tube", Excerpt("pluck/p.wav", "pluck", 1000, 2000))
    assert [p.name for p in players] == ["dry", "numba:tube", "onnx:tube-tcn"]
    assert players[1].esr == 0.0 and players[1].residual_esr == 0.0
    expected = np.sum(0.01**2 * np.ones(2000)) / np.sum(ref[1000:3000].astype(np.float64) ** 2)
    assert players[2].esr == pytest.approx(expected, rel=1e-3)
    assert players[0].residual_esr == pytest.approx(1.0)  # the dry signal adds none of the effect


def test_stale_processed_audio_is_refused(tmp_path):
    dry = noise(1000)
    check_layout(dry[:500], dry, tmp_path / "dry.wav")
    with pytest.raises(ReportError, match="dry.wav.*dvc repro offline_bench"):
        check_layout(dry[:500] * 0.5, dry, tmp_path / "dry.wav")


def test_the_mp3_ceiling_holds_after_encoding(tmp_path):
    # a hard-clipped tone at -1 dBFS: the encoder's filter bank overshoots the ceiling
    x = np.clip(3 * sine(220.0, 1.0, 48000), -1, 1).astype(np.float32) * np.float32(10 ** (-1 / 20))
    assert write_mp3(tmp_path / "raw.mp3", x, SAMPLE_RATE, 0.3) > -1.0
    players = [Player("dry", 0.5 * x), Player("clipped", x)]
    paths = [tmp_path / "dry.mp3", tmp_path / "clipped.mp3"]
    correction = write_row_mp3(players, paths, SAMPLE_RATE, 0.3, -1.0)
    assert correction < 0.0 and players[1].gain_db == pytest.approx(correction)
    for path in paths:
        decoded, _ = sf.read(str(path), dtype="float32")
        assert 20 * np.log10(np.max(np.abs(decoded))) <= -1.0


def test_mp3_is_deterministic_and_decodes_to_the_same_length(tmp_path):
    x = sine(440.0, 0.5, 48000)
    write_mp3(tmp_path / "a.mp3", x, SAMPLE_RATE, 0.3)
    write_mp3(tmp_path / "b.mp3", x, SAMPLE_RATE, 0.3)
    a, b = (tmp_path / "a.mp3").read_bytes(), (tmp_path / "b.mp3").read_bytes()
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    assert len(a) < 0.15 * x.size * 2  # well under 16-bit PCM's size
    info = sf.info(str(tmp_path / "a.mp3"))
    assert info.samplerate == SAMPLE_RATE and abs(info.duration - 1.0) < 0.1


def test_number_format():
    assert [fmt(0.0), fmt(None), fmt("55.753"), fmt(0.00221332), fmt(1.22e-6), fmt(1395.6)] == [
        "0",
        "—",
        "55.8",
        "0.00221",
        "1.22e-6",
        "1.4e3",
    ]


def test_latency_and_realtime_tables_keep_the_file_values():
    rows = [
        {
            "effect": "tube",
            "processor": "tcn",
            "backend": "onnxruntime",
            "buffer_size": "64",
            "p50_us": "55.753",
            "p99_us": "351.856",
        },
        {
            "effect": "tube",
            "processor": "tcn",
            "backend": "onnxruntime",
            "buffer_size": "512",
            "p50_us": "247.4",
            "p99_us": "600.3",
        },
        {
            "effect": "bitcrush",
            "processor": "tcn",
            "backend": "onnxruntime",
            "buffer_size": "64",
            "p50_us": "1",
            "p99_us": "2",
        },
    ]
    t = latency_table("tube", rows, {("tcn", "onnxruntime"): "onnx:tube-tcn"}, SAMPLE_RATE)
    assert t.header == ["processor", "64 (1.33 ms)", "512 (10.67 ms)"]
    assert [c.text for c in t.rows[0]] == ["onnx:tube-tcn", "55.8 / 352", "247 / 600"]
    assert t.rows[0][1].value == "55.753|351.856" and t.rows[0][1].key == "tube|onnx:tube-tcn|64"
    rt = realtime_table(
        "tube",
        [
            {
                "effect": "tube",
                "processor": "onnx:tube-tcn",
                "buffer_size": "64",
                "scheduling": "fifo",
                "callbacks": "10000",
                "processor_glitches": "0",
                "scheduler_glitches": "5",
                "preempted": "3",
                "cpu_mean_us": "51.25",
                "p999_us": "406.2",
                "tail_stat": "p99.9",
                "tail_us": "406.2",
                "rtf_worst": "0.9",
            },
            {
                "effect": "tube",
                "processor": "onnx:tube-tcn",
                "buffer_size": "1024",
                "scheduling": "fifo",
                "callbacks": "625",
                "processor_glitches": "0",
                "scheduler_glitches": "0",
                "preempted": "0",
                "cpu_mean_us": "810",
                "p999_us": "nan",
                "tail_stat": "max of 625",
                "tail_us": "4837",
                "rtf_worst": "0.2",
            },
        ],
    )
    assert [c.text for c in rt.rows[0]] == [
        "onnx:tube-tcn",
        "64",
        "fifo",
        "10000",
        "0",
        "5",
        "3",
        "51.2",
        "406 (p99.9)",
        "0.9",
    ]
    assert [c.text for c in rt.rows[1]][8] == "4.84e3 (max of 625)"


def _site_cfg(tmp_path, *extra):
    return compose(
        f"paths.reports={tmp_path}/reports",
        f"paths.processed={tmp_path}/processed",
        f"paths.datasets={tmp_path}/datasets",
        f"paths.site={tmp_path}/site",
        "report.sweep_summary=none",
        *extra,
    )


def test_missing_inputs_give_a_page_that_says_what_is_missing(tmp_path):
    index = build_site(_site_cfg(tmp_path))
    html = index.read_text()
    for expected in (
        "No offline benchmark",
        "No quality results",
        "No real-time results",
        "No sweep summary",
        "No processed audio",
        "dvc repro offline_bench",
        "dvc repro realtime_bench",
    ):
        assert expected in html, expected
    assert "<audio" not in html and "<img" not in html
    assert "http" not in html.replace("http://127.0.0.1:5000", "")  # nothing to fetch


def test_over_budget_site_is_refused_and_the_previous_one_kept(tmp_path):
    index = build_site(_site_cfg(tmp_path))
    before = index.read_text()
    with pytest.raises(ReportError, match="report.max_megabytes"):
        build_site(_site_cfg(tmp_path, "report.max_megabytes=0.001"))
    assert index.read_text() == before
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["index.html"]


def test_named_sweep_summary_must_hold_a_summary(tmp_path):
    with pytest.raises(ReportError, match="report.sweep_summary.*summary.csv"):
        find_sweep_summary(str(tmp_path), tmp_path)
    (tmp_path / "2026-01-01_00-00-00" / "summary").mkdir(parents=True)
    (tmp_path / "2026-01-01_00-00-00" / "summary" / "summary.csv").write_text("a\n")
    (tmp_path / "2026-02-01_00-00-00" / "summary").mkdir(parents=True)
    assert find_sweep_summary("latest", tmp_path) == tmp_path / "2026-01-01_00-00-00" / "summary"
    assert find_sweep_summary("none", tmp_path) is None


def test_kernel_table_sets_the_models_kernel_beside_the_generic_one_and_onnx_runtime():
    rows = [
        {"effect": "tube", "processor": model, "backend": backend, "buffer_size": str(b), "p50_us": str(us)}
        for model, backend, b, us in [
            ("lstm", "numba", 32, 3.2),
            ("lstm", "numba-generic", 32, 6.4),
            ("lstm", "onnxruntime", 32, 32.0),
            ("lstm", "numba", 4096, 409.6),
            ("lstm", "numba-generic", 4096, 819.2),
            ("tcn", "numba", 32, 20.0),
            ("tcn", "numba-generic", 32, 20.0),
            ("lstm", "numba", 64, 1.0),  # no generic row at 64: a dash
        ]
    ]
    details = {
        "tube": {
            "numba:tube-lstm": {"facts": {"extra": {"kernel": "generated"}}},
            "numba:tube-tcn": {"facts": {"extra": {"kernel": "generic", "kernel_reason": "no TCN generator"}}},
        }
    }
    table = kernel_table("tube", rows, details)
    assert table is not None and table.header == ["model", "kernel", "32", "64", "4096"]
    lstm, tcn = table.rows
    assert [c.text for c in lstm] == ["lstm", "generated", "100 / 200 / 1e3 (x2, x10)", "—", "100 / 200 / — (x2)"]
    assert lstm[2].value == "3.2|6.4|32.0" and lstm[2].key == "tube|lstm|32"
    assert tcn[1].text == "generic" and "tcn: no TCN generator." in table.note
    assert kernel_table("bitcrush", rows, details) is None
