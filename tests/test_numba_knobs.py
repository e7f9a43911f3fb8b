"""Knob-conditioned networks as Numba kernels: the knobs folded into the weights once per setting
follow ONNX Runtime with the knobs changing on every call, a glide to a new setting follows the
PyTorch model given the same per-sample knobs, bit-exact chunking, and bad knobs refused."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from conftest import noise
from distortion_bench.dsp.knobs import KnobError
from distortion_bench.engine.nn_processors import OnnxProcessor
from distortion_bench.engine.numba_nn_processor import NumbaNetworkProcessor
from distortion_bench.kernels.onnx_plan import RecurrentPlan, TcnPlan
from distortion_bench.nn.export import export_onnx
from nn_fixtures import perturbed_model

#: a linear, a log and an integer knob: every branch of the map onto [-1, 1]
KNOBS = {
    "gain_db": {"min": 0.0, "max": 24.0, "unit": "dB"},
    "lowpass_hz": {"min": 2000.0, "max": 8000.0, "scale": "log", "unit": "Hz"},
    "bits": {"min": 4.0, "max": 12.0, "scale": "integer", "unit": "bits"},
}
CONFIGS = {
    "lstm_knobs": {"type": "lstm_knobs", "size": 6, "layers": 2, "warmup_samples": 64, "knobs": KNOBS},
    "gru_knobs": {"type": "gru_knobs", "size": 8, "layers": 1, "warmup_samples": 64, "knobs": KNOBS},
    "tcn_knobs": {"type": "tcn_knobs", "size": 6, "kernel_size": 3, "dilations": [1, 2, 4, 8], "knobs": KNOBS},
    # a table per bits value (9), keyed by the integer knob, in front of a conditioned GRU
    "shaper_knobs": {
        "type": "shaper_knobs",
        "size": 6,
        "layers": 1,
        "core": "gru",
        "cells": 256,
        "warmup_samples": 64,
        "knobs": KNOBS,
    },
}
SIGNAL = np.concatenate([noise(6000, 0.4, seed=3), noise(2000, 1.1, seed=4)])


def random_setting(rng: np.random.Generator) -> dict[str, float]:
    return {
        "gain_db": float(rng.uniform(0, 24)),
        "lowpass_hz": float(np.exp(rng.uniform(np.log(2000), np.log(8000)))),
        "bits": float(rng.integers(4, 13)),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each conditioned family with perturbed weights (an untrained FiLM is the identity)."""
    root = tmp_path_factory.mktemp("knob_kernels")
    paths = {}
    for name, cfg in CONFIGS.items():
        model = perturbed_model(cfg, 48000)
        paths[name] = root / f"tube-{name}.onnx"
        export_onnx(model, paths[name], 48000, {"effect": "tube", "model": name, "mlflow_run_id": "test"})
    return paths


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_follows_onnx_runtime_with_the_knobs_changing_every_call(exported, name):
    kernel = NumbaNetworkProcessor(exported[name], f"numba:tube-{name}", "tube")
    ort = OnnxProcessor(exported[name], f"onnx:tube-{name}", "tube")
    plan = kernel.plan
    assert plan.knobs is not None and list(plan.knobs) == list(KNOBS)
    if isinstance(plan, RecurrentPlan):
        assert plan.knob_w.shape == (3, plan.gates)
        if name == "shaper_knobs":
            assert plan.tables.shape == (9, 3, 256) and plan.table_knob == 2
    else:
        assert isinstance(plan, TcnPlan) and plan.film[2].shape == (2 * 6 * (4 + 1), 16)
    rng = np.random.default_rng(0)
    worst, moved = 0.0, 0.0
    start = 0
    while start < SIGNAL.shape[0]:
        stop = min(start + int(rng.integers(1, 400)), SIGNAL.shape[0])
        setting = random_setting(rng)
        kernel.set_knobs(at_once=True, **setting)  # the fold; the glide: the next test
        ort.set_knobs(at_once=True, **setting)
        a = kernel.process_buffer(SIGNAL[start:stop]).copy()
        b = ort.process_buffer(SIGNAL[start:stop]).copy()
        worst = max(worst, float(np.max(np.abs(a - b))))
        moved = max(moved, float(np.max(np.abs(b - SIGNAL[start:stop]))))
        start = stop
    assert worst <= 1e-4, worst
    assert moved > 0.05  # the perturbed network does something, and the kernel followed it


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_chunked_equals_whole_bit_for_bit_at_each_setting(exported, name):
    """Three settings, each held over a stretch (the first set at once, the others glided to):
    one call per stretch, or the stretch cut into buffers of 1, 32 or random sizes, give the same
    bits (a setting folds once; a glide depends on the samples since the change, not the cuts)."""
    kernel = NumbaNetworkProcessor(exported[name], "k", "tube", verify=False)
    rng = np.random.default_rng(1)
    plan = [(random_setting(rng), 0, 2500), (random_setting(rng), 2500, 2600), (random_setting(rng), 2600, 8000)]

    def run(cut: int) -> np.ndarray:
        kernel.reset()
        out, cuts = [], np.random.default_rng(2)
        for setting, a, b in plan:
            kernel.set_knobs(at_once=a == 0, **setting)
            s = a
            while s < b:
                e = b if cut is None else min(b, s + (cut or int(cuts.integers(1, 700))))
                out.append(kernel.process_buffer(SIGNAL[s:e]).copy())
                s = e
        return np.concatenate(out)

    whole = run(None)
    for cut in (1, 32, 0):
        np.testing.assert_array_equal(run(cut), whole, err_msg=f"cut {cut}")
    kernel.reset()
    kernel.set_knobs(gain_db=3.0)  # a partial change keeps the other knobs
    assert kernel.glide.values.tolist()[0] == 3.0 and kernel.glide.values.tolist()[2] == plan[-1][0]["bits"]


def glide_reference(space, changes, n, tau_s, sr=48000, snap=1e-4):
    """``(K, n)`` knob values per sample: the test's own one-pole glide in unit coordinates
    (log knobs by their logarithm; integer knobs jump), ``changes`` ``{sample: setting}``."""
    is_log, lo, span = space.unit_bounds()
    integer = np.array([s.scale == "integer" for s in space.specs])
    a = np.exp(-1.0 / (tau_s * sr))
    values = np.array([(s.minimum + s.maximum) / 2 for s in space.specs])

    def unit(v):
        return 2 * (np.where(is_log, np.log(v), v) - lo) / span - 1

    now = target = unit(values)
    path = np.empty((len(values), n))
    for i in range(n):
        if i in changes:
            values = values.copy()
            for k, name in enumerate(space.names):
                values[k] = changes[i].get(name, values[k])
            target = unit(values)
            now = np.where(integer, target, now)
        now = target + (now - target) * a
        now = np.where(np.abs(now - target) <= snap, target, now)
        path[:, i] = now
    v = (path + 1) / 2 * span[:, None] + lo[:, None]
    return np.where(is_log[:, None], np.exp(v), v)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_glide_follows_the_model_given_the_same_knobs_per_sample(exported, name):
    """Knobs sent before every call glide per sample with the DSP's time constant: the kernel's
    output and ONNX Runtime's (the trajectory as a (1, K, time) input) equal the PyTorch model
    run whole on the per-sample knob values of an independent one-pole (<= 1e-4)."""
    kernel = NumbaNetworkProcessor(exported[name], "k", "tube", verify=False, knob_glide_s=0.002)
    ort = OnnxProcessor(exported[name], "o", "tube", knob_glide_s=0.002)
    rng = np.random.default_rng(5)
    cuts = np.cumsum(rng.integers(1, 300, 60))
    cuts = [0, *[int(c) for c in cuts if c < SIGNAL.shape[0]], SIGNAL.shape[0]]
    changes = {a: random_setting(rng) for a in cuts[:-1:3]}  # a new setting every third call
    streamed, glided = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        if a in changes:
            kernel.set_knobs(**changes[a])
            ort.set_knobs(**changes[a])
        streamed.append(kernel.process_buffer(SIGNAL[a:b]).copy())
        glided.append(ort.process_buffer(SIGNAL[a:b]).copy())
    knobs = glide_reference(kernel.space, changes, SIGNAL.shape[0], 0.002)
    model = perturbed_model(CONFIGS[name], 48000)  # the exported file's weights
    with torch.no_grad():
        y, _ = model(
            torch.from_numpy(SIGNAL).view(1, 1, -1),
            model.initial_state(1),
            torch.from_numpy(knobs.astype(np.float32))[None],
        )
    reference = y.view(-1).numpy()
    assert float(np.max(np.abs(np.concatenate(streamed) - reference))) <= 1e-4
    assert float(np.max(np.abs(np.concatenate(glided) - reference))) <= 1e-4


@pytest.mark.parametrize("name", ["lstm_knobs", "tcn_knobs"])
def test_a_glided_gain_step_does_not_click(exported, name):
    """A +12 dB step of a quiet low tone: glided, the energy above 2 kHz right after the step is
    far below the jump's (a step at a buffer boundary, as a host sends it), and the glide ends."""
    from distortion_bench.analysis.clicks import click_energy_db

    sr, n, at = 48000, 24000, 9600
    x = (0.03 * np.sin(2 * np.pi * 110 * np.arange(n) / sr)).astype(np.float32)

    def stream(glide_s: float) -> tuple[np.ndarray, NumbaNetworkProcessor]:
        kernel = NumbaNetworkProcessor(exported[name], "k", "tube", verify=False, knob_glide_s=glide_s)
        kernel.set_knobs(at_once=True, gain_db=6.0, lowpass_hz=4000.0, bits=12)
        out = np.concatenate([kernel.process_buffer(x[s : s + 64]).copy() for s in range(0, at, 64)])
        kernel.set_knobs(gain_db=18.0)
        rest = np.concatenate([kernel.process_buffer(x[s : s + 64]).copy() for s in range(at, n, 64)])
        return np.concatenate([out, rest]), kernel

    glided, kernel = stream(0.01)
    jumped, _ = stream(0.0)
    assert not kernel.glide.moving  # arrived within the 300 ms after the step
    assert click_energy_db(glided, at, sr) < click_energy_db(jumped, at, sr) - 20.0
    # a glide ends where the jump went: the same output once both settled (the state forgets)
    np.testing.assert_allclose(glided[-2000:], jumped[-2000:], atol=1e-4)
    # ONNX Runtime glides per sample too: its click is the kernel's
    ort = OnnxProcessor(exported[name], "o", "tube", knob_glide_s=0.01)
    ort.set_knobs(at_once=True, gain_db=6.0, lowpass_hz=4000.0, bits=12)
    before = [ort.process_buffer(x[s : s + 64]).copy() for s in range(0, at, 64)]
    ort.set_knobs(gain_db=18.0)
    after = [ort.process_buffer(x[s : s + 64]).copy() for s in range(at, n, 64)]
    np.testing.assert_allclose(np.concatenate(before + after), glided, atol=1e-4)


@pytest.mark.parametrize("name", ["lstm_knobs", "tcn_knobs"])
def test_no_allocation_per_call_with_knobs(exported, name):
    kernel = NumbaNetworkProcessor(exported[name], "k", "tube", verify=False)
    buffer = SIGNAL[:512].copy()
    kernel.process_buffer(buffer)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            kernel.process_buffer(buffer)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 1024, peak


def test_bad_knobs_are_refused_naming_the_knob_and_the_setting_is_kept(exported):
    kernel = NumbaNetworkProcessor(exported["tcn_knobs"], "numba:tube-tcn_knobs", "tube", verify=False)
    kernel.set_knobs(gain_db=12.0, lowpass_hz=4000.0, bits=8)
    before = kernel.process_signal(SIGNAL[:2000], 256).copy()
    with pytest.raises(KnobError, match=r"knob 'gain_db': expected a number in 0\.\.24 dB, got 30"):
        kernel.set_knobs(gain_db=30.0, bits=6)  # all or nothing: bits stays 8
    with pytest.raises(KnobError, match=r"knob 'bits': expected an integer in 4\.\.12 bits, got 7\.5"):
        kernel.set_knobs(bits=7.5)
    with pytest.raises(KnobError, match=r"knob 'gain_db'.*got nan"):
        kernel.set_knobs(gain_db=float("nan"))
    with pytest.raises(
        KnobError, match=r"knob 'drive': unknown knob; expected one of \['gain_db', 'lowpass_hz', 'bits'\]"
    ):
        kernel.set_knobs(drive=1.0)
    np.testing.assert_array_equal(kernel.process_signal(SIGNAL[:2000], 256), before)
    assert kernel.knob_space().names == ["gain_db", "lowpass_hz", "bits"]
    assert kernel.facts().extra["knobs"] == ["gain_db", "lowpass_hz", "bits"]


def test_a_fixed_setting_kernel_refuses_knobs(tmp_path):
    from nn_fixtures import MODELS, write_pair

    path = write_pair(tmp_path, "tube", "lstm", MODELS["lstm"])[1]
    kernel = NumbaNetworkProcessor(path, "numba:tube-lstm", "tube", verify=False)
    assert kernel.knob_space().names == []
    with pytest.raises(KnobError, match=r"has no knobs; got \['gain_db'\]"):
        kernel.set_knobs(gain_db=3.0)


def test_the_glide_is_compiled_when_the_processor_is_built(exported):
    """Loading a compiled glide takes 7-20 ms: done on build, never in the first audio callback
    that turns a knob."""
    from distortion_bench.kernels.knob_glide import glide_recurrent, glide_tcn, glide_values

    NumbaNetworkProcessor(exported["lstm_knobs"], "k", "tube", verify=False)
    NumbaNetworkProcessor(exported["tcn_knobs"], "k", "tube", verify=False)
    OnnxProcessor(exported["gru_knobs"], "o", "tube")
    assert glide_recurrent.signatures and glide_tcn.signatures and glide_values.signatures
