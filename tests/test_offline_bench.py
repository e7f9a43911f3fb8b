"""Pieces of the offline benchmark stage: processor selection, targets, cost model, memory probe."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from conftest import REPO, compose
from distortion_bench.bench import mlflow_log
from distortion_bench.bench.comparison import cost_model, smallest_safe_buffer
from distortion_bench.bench.memory_probe import probe
from distortion_bench.bench.offline import CSV_COLUMNS
from distortion_bench.bench.selection import bench_entries
from distortion_bench.bench.targets import speed_targets, thresholds
from distortion_bench.config import plain
from distortion_bench.errors import ConfigError


def test_default_selection_labels_rows():
    entries = bench_entries(compose(), "tube")
    got = [(e.name, e.processor, e.backend) for e in entries]
    assert got == [
        ("numba:tube", "dsp", "numba"),
        ("numpy:tube", "dsp", "numpy"),
        ("pedalboard:tube", "pedalboard", "pedalboard"),
        ("onnx:tube-tcn", "tcn", "onnxruntime"),
        ("numba:tube-tcn", "tcn", "numba"),
        ("numba-generic:tube-tcn", "tcn", "numba-generic"),
        ("torch:tube-tcn", "tcn", "torch"),
        ("onnx-naive:tube-tcn", "tcn-naive", "onnxruntime"),
        ("onnx:tube-lstm", "lstm", "onnxruntime"),
        ("numba:tube-lstm", "lstm", "numba"),
        ("numba-generic:tube-lstm", "lstm", "numba-generic"),
        ("torch:tube-lstm", "lstm", "torch"),
        ("onnx:tube-shaper", "shaper", "onnxruntime"),
        ("numba:tube-shaper", "shaper", "numba"),
        ("numba-generic:tube-shaper", "shaper", "numba-generic"),
        ("torch:tube-shaper", "shaper", "torch"),
    ]
    assert len({(e.processor, e.backend) for e in entries}) == len(entries)  # rows are unique


@pytest.mark.parametrize(
    "override, match",
    [
        ("bench.dsp=[numpy]", "containing 'numba'"),
        ("bench.dsp=[numba,matlab]", "'matlab' is not one of"),
        ("bench.neural=[tensorrt]", "'tensorrt' is not one of"),
    ],
)
def test_bad_selection_names_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        bench_entries(compose(override), "tube")


def test_cost_model_recovers_fixed_and_per_sample_cost():
    rows = [{"buffer_size": b, "p50_us": 10.0 + 0.005 * b} for b in (32, 64, 512, 4096)]
    fixed, per_sample_ns = cost_model(rows)
    assert fixed == pytest.approx(10.0) and per_sample_ns == pytest.approx(5.0)
    rows = [{"buffer_size": b, "p99_us": p} for b, p in ((32, 400.0), (64, 600.0), (128, 1000.0))]
    assert smallest_safe_buffer(rows, 48000) == 64  # 32 samples = 667 us: 400 > 333


def _row(name, bs, p50, thr=None):
    return {
        "effect": "tube",
        "name": name,
        "buffer_size": bs,
        "p50_us": p50,
        "throughput_sps": thr if thr is not None else bs / (p50 * 1e-6),
    }


def test_speed_targets_are_computed_from_rows():
    entries = bench_entries(compose(), "tube")
    rows = [
        _row("numba:tube", 32, 2.0),
        _row("numba:tube", 1024, 8.0),
        _row("numba:tube", 4096, 36.0),
        _row("pedalboard:tube", 1024, 20.0),
        _row("pedalboard:tube", 4096, 60.0),
        _row("onnx:tube-tcn", 32, 40.0),
        _row("onnx-naive:tube-tcn", 32, 100.0),
        _row("torch:tube-tcn", 32, 120.0),
        _row("onnx:tube-lstm", 32, 30.0),
        _row("torch:tube-lstm", 32, 25.0),
        _row("numba:tube-tcn", 32, 10.0),
        _row("onnx:tube-tcn", 4096, 1400.0),
        _row("numba:tube-tcn", 4096, 1500.0),
        _row("numba:tube-lstm", 32, 9.0),
        _row("numba-generic:tube-lstm", 32, 27.0),
        _row("numba:tube-lstm", 4096, 400.0),
        _row("numba-generic:tube-lstm", 4096, 600.0),
        _row("pedalboard:tube", 32, 3.0),  # 1.5x at 32: the worst size decides
    ]
    t = speed_targets(rows, "tube", entries, thresholds(plain(compose().bench.targets)))
    # the generated kernel against the generic one: 3x at 32 (met), 1.5x at 4096 (not)
    assert t["lstm_generated_over_generic_bs0032"] == {"value": 3.0, "target": ">= 2", "met": True}
    assert t["lstm_generated_over_generic_bs4096"]["value"] == pytest.approx(1.5)
    assert not t["lstm_generated_over_generic_bs4096"]["met"]
    # the Numba network kernels against ONNX Runtime: 4x at 32 but slower at 4096 (not met)
    assert t["tcn_numba_speedup_over_onnx_bs0032"] == {"value": 4.0, "target": ">= 3", "met": True}
    assert t["tcn_numba_speedup_over_onnx_min"]["value"] == pytest.approx(1400.0 / 1500.0)
    assert not t["tcn_numba_speedup_over_onnx_min"]["met"]
    assert t["lstm_numba_speedup_over_onnx_bs0032"]["value"] == pytest.approx(30.0 / 9.0)
    assert t["lstm_numba_speedup_over_onnx_bs0032"]["met"]
    assert t["numba_vs_pedalboard_throughput_min"]["value"] == pytest.approx(3.0 / 2.0)
    assert not t["numba_vs_pedalboard_throughput_min"]["met"]
    assert t["numba_ns_per_sample_bs4096"]["value"] == pytest.approx(1000 * 36.0 / 4096)
    assert t["numba_us_bs0032"]["met"]
    assert t["tcn_streaming_over_naive_bs0032"]["value"] == pytest.approx(0.4)
    assert t["tcn_onnx_over_torch_worst_le512"]["met"] and not t["lstm_onnx_over_torch_worst_le512"]["met"]


def test_mlflow_keys_series_and_flat():
    row = {"processor": "tcn", "backend": "torch", "buffer_size": 64, **{k: 1.0 for k in mlflow_log.LATENCY_KEYS}}
    metrics = mlflow_log.latency_metrics([row])
    assert ("torch/p99_us", 1.0, 64) in metrics and ("torch/p99_us/bs0064", 1.0, 0) in metrics
    assert mlflow_log.metric_prefix("tcn", "onnxruntime") == ""
    assert mlflow_log.metric_prefix("tcn-naive", "onnxruntime") == "naive/"


def test_csv_columns_are_the_documented_ones():
    # every column the offline CSV writes is explained where users read about it
    docs = (REPO / "docs" / "processors.md").read_text()
    undocumented = [c for c in CSV_COLUMNS if c not in docs]
    assert not undocumented, f"offline_bench.csv columns missing from docs/processors.md: {undocumented}"


def test_memory_probe_runs_in_a_fresh_process():
    cfg = OmegaConf.to_container(compose(), resolve=True)
    cfg.pop("hydra", None)
    got = probe(cfg, "numba:tube", buffer_size=256, seconds=0.5)
    assert 10 * 2**20 < got["baseline_rss_bytes"] <= got["peak_rss_bytes"] < 4 * 2**30


def test_speed_targets_take_their_thresholds_from_config():
    entries = bench_entries(compose(), "tube")
    rows = [_row("numba:tube", 32, 4.0)]
    limits = thresholds(plain(compose().bench.targets))
    assert speed_targets(rows, "tube", entries, limits)["numba_us_bs0032"] == {
        "value": 4.0,
        "target": "< 5",
        "met": True,
    }
    stricter = thresholds(plain(compose("bench.targets.numba_us_bs0032=3").bench.targets))
    assert speed_targets(rows, "tube", entries, stricter)["numba_us_bs0032"]["met"] is False
    with pytest.raises(ConfigError, match=r"bench.targets: missing \['numba_us_bs0032'\], unknown \[\]"):
        thresholds({k: v for k, v in limits.items() if k != "numba_us_bs0032"})
    with pytest.raises(ConfigError, match=r"bench.targets.numba_us_bs0032: expected a number, got 'fast'"):
        thresholds({**limits, "numba_us_bs0032": "fast"})


def test_the_clipper_is_benchmarked_as_its_numba_dsp_its_variants_and_its_networks():
    """``bench.dsp_by_effect`` replaces ``bench.dsp`` for one effect (the clipper: Numba only) and
    ``bench.dsp_variants`` adds its DSP at other settings, labelled ``dsp-<variant>``."""
    entries = bench_entries(compose(), "clipper")
    dsp = [(e.name, e.processor, e.backend, e.is_dsp, e.is_reference) for e in entries if e.model is None]
    assert dsp == [("numba:clipper", "dsp", "numba", True, True)] + [
        (f"numba:clipper-{v}", f"dsp-{v}", "numba", True, False)
        for v in ("os1", "os2", "os4", "os8", "os1-tol1e-3", "os2-tol1e-3", "os4-tol1e-3")
    ]
    assert [e.name for e in entries if e.model == "lstm8"] == [
        "onnx:clipper-lstm8",
        "numba:clipper-lstm8",
        "numba-generic:clipper-lstm8",
        "torch:clipper-lstm8",
    ]
    assert "onnx-naive:clipper-tcn_short" in [e.name for e in entries]  # a TCN family: its naive baseline too
    assert not any(e.is_dsp for e in entries if e.model is not None)
    # the other effects keep bench.dsp
    assert [e.name for e in bench_entries(compose(), "bitcrush") if e.model is None] == [
        "numba:bitcrush",
        "numpy:bitcrush",
        "pedalboard:bitcrush",
    ]
    assert mlflow_log.metric_prefix("dsp-os2-tol1e-3", "numba") == "os2-tol1e-3/"
    assert mlflow_log.metric_prefix("lstm8", "numba-generic") == "numba-generic/"


@pytest.mark.parametrize(
    "override, match",
    [
        ("bench.dsp_by_effect.clipper=[numpy]", r"bench\.dsp_by_effect\.clipper: expected a list containing 'numba'"),
        ("bench.dsp_variants.clipper=[os2,x4]", r"bench\.dsp_variants\.clipper: 'x4' is not a variant"),
        ("bench.dsp_variants.clipper=[os2-tol]", r"'os2-tol' is not a variant"),
    ],
)
def test_bad_clipper_selection_names_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        bench_entries(compose(override), "clipper")


def test_a_tolerance_variant_runs_the_solver_at_that_tolerance():
    import numpy as np

    from distortion_bench.engine.registry import build_processor

    cfg = compose()
    loose = build_processor("numba:clipper-os2-tol1e-3", cfg)
    tight = build_processor("numba:clipper-os2", cfg)
    assert loose.effect.params.oversampling == tight.effect.params.oversampling == 2
    assert loose.effect.params.tolerance_v == 1e-3 and tight.effect.params.tolerance_v == 1e-10
    x = (0.9 * np.sin(2 * np.pi * 330 * np.arange(4800) / 48000)).astype(np.float32)
    a, b = loose.process_buffer(x).copy(), tight.process_buffer(x).copy()
    # a looser tolerance stops Newton earlier: fewer iterations, an output off by well under a millivolt
    assert loose.solver_stats()["iterations_mean"] < tight.solver_stats()["iterations_mean"]
    assert 0 < np.max(np.abs(a - b)) < 1e-3
    with pytest.raises(ConfigError, match=r"effects\.tube .* has no oversampling factor to vary"):
        build_processor("numba:tube-os2", cfg)


def test_realtime_streams_the_processors_its_config_lists_per_effect():
    from distortion_bench.bench.realtime import realtime_entries

    cfg = compose()
    names = [e.name for e in realtime_entries(cfg, "clipper")]
    assert sorted(names) == sorted(cfg.bench.realtime.processors.clipper)  # in the offline order
    assert "onnx-naive:tube-tcn" not in [e.name for e in realtime_entries(cfg, "tube")]
    with pytest.raises(ConfigError, match=r"bench\.realtime\.processors\.clipper: \['numpy:clipper'\] are not"):
        realtime_entries(compose("bench.realtime.processors.clipper=[numpy:clipper]"), "clipper")
