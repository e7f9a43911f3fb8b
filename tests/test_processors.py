"""Every registered processor passes the same contract."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import compose, noise, sine
from distortion_bench.engine.processor import Processor
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import ConfigError
from distortion_bench.kernels.tube_block import MAX_ABS_DIFFERENCE
from nn_fixtures import write_pair

NAMES = [
    "numpy:tube",
    "numba:tube",
    "pedalboard:tube",
    "numpy:bitcrush",
    "numba:bitcrush",
    "pedalboard:bitcrush",
    "torch:tube-lstm",
    "onnx:tube-lstm",
    "torch:tube-tcn",
    "onnx:tube-tcn",
    "torch:bitcrush-gru",
    "onnx:bitcrush-gru",
    "onnx-naive:tube-tcn",
]
SIGNAL = np.concatenate([sine(220.0, 0.8, 5000), noise(5000, 0.2, seed=9)])


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("processors")
    for effect, model in (("tube", "lstm"), ("tube", "tcn"), ("bitcrush", "gru")):
        write_pair(root, effect, model)
    return compose(f"paths.checkpoints={root}/checkpoints", f"paths.exported={root}/exported")


@pytest.mark.parametrize("name", NAMES)
def test_processor_contract(cfg, name):
    proc: Processor = build_processor(name, cfg)
    facts = proc.facts()
    assert facts.name == name and facts.effect == name.split(":")[1].split("-")[0]
    assert facts.parameters >= 0 and facts.weight_bytes >= 0 and facts.state_bytes >= 0
    y = proc.process_buffer(SIGNAL[:256].copy())
    assert y.shape == (256,) and y.dtype == np.float32 and np.isfinite(y).all()

    whole = proc.process_signal(SIGNAL, SIGNAL.size)
    assert np.isfinite(whole).all() and np.abs(whole).max() > 0
    for buffer in (1, 64, 999):
        chunked = proc.process_signal(SIGNAL, buffer)
        assert np.max(np.abs(chunked - whole)) <= facts.tolerance, (name, buffer)
    # reset() really restores the initial state.
    proc.reset()
    again = np.concatenate([proc.process_buffer(SIGNAL[i : i + 500].copy()).copy() for i in range(0, SIGNAL.size, 500)])
    assert np.max(np.abs(again - whole)) <= facts.tolerance


def test_dsp_processors_are_bit_exact_and_report_state():
    cfg = compose()
    for name in ("numpy:tube", "numba:tube"):
        facts = build_processor(name, cfg).facts()
        # one SOS section and the knobs' targets and smoothed values (6), float64; the Numba
        # tube streams its fast form, which adds its block filter's state (one section: 8
        # inputs, 2 state values, the phase) and states its distance from the exact form
        fast = name == "numba:tube"
        assert facts.tolerance == (MAX_ABS_DIFFERENCE if fast else 0.0)
        assert facts.state_bytes == 1 * 2 * 8 + 6 * 8 + (1 * 11 * 8 if fast else 0)
        assert facts.weight_bytes == 1 * 6 * 8


def test_pedalboard_row_says_it_is_an_approximation():
    facts = build_processor("pedalboard:tube", compose()).facts()
    assert facts.notes.startswith("approximation: tanh without DC bias")


@pytest.mark.parametrize(
    "name, match",
    [
        ("tube", r"expected '<backend>:<target>'"),
        ("cuda:tube", r"expected '<backend>:<target>'"),
        ("numba:fuzz", r"'fuzz' is not a key of effects"),
        ("onnx:tube", r"a neural processor is named 'onnx:<effect>-<model>'"),
    ],
)
def test_bad_processor_names(name, match):
    with pytest.raises(ConfigError, match=match):
        build_processor(name, compose())


def test_naive_tcn_equals_streaming_once_the_receptive_field_is_filled(cfg):
    stream, naive = build_processor("onnx:tube-tcn", cfg), build_processor("onnx-naive:tube-tcn", cfg)
    rf = naive.context + 1
    assert rf == 1 + 2 * (1 + 2 + 4 + 8 + 16)  # the fixture's TCN: kernel 3, dilations 1..16
    a, b = stream.process_signal(SIGNAL, 64), naive.process_signal(SIGNAL, 64)
    assert np.max(np.abs(a[rf:] - b[rf:])) <= 1e-5
    assert "naive" in naive.facts().notes and naive.facts().parameters == stream.facts().parameters


def test_naive_variant_needs_a_tcn(cfg):
    with pytest.raises(Exception, match="needs a TCN"):
        build_processor("onnx-naive:tube-lstm", cfg)
