"""Streaming: buffers with carried state equal whole-signal processing, bit for bit.

Also the fast-path contract of the Numba versions: output written into the caller's buffer,
state updated in place, one compiled signature, on-disk compilation cache.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import SAMPLE_RATE, noise, sine
from distortion_bench.dsp import IMPLEMENTATIONS, build_effect
from distortion_bench.errors import ConfigError

EFFECTS = {
    "tube": {"kind": "tube_saturator"},
    "tube_order5": {"kind": "tube_saturator", "gain_db": 20.0, "bias": -0.3, "lowpass_order": 5},
    "bitcrush": {"kind": "bitcrusher"},
    "bitcrush_hold3": {"kind": "bitcrusher", "bits": 5, "downsample": 3},
}
BLOCK_SIZES = [1, 7, 32, 64, 256, 4096]
SIGNAL = np.concatenate([sine(330.0, 0.7, 6000), noise(5000, 0.3, seed=1)])


def random_sizes(seed: int) -> list[int]:
    return np.random.default_rng(seed).integers(1, 700, size=64).tolist()


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("effect_name", sorted(EFFECTS))
@pytest.mark.parametrize(
    "sizes",
    [[b] for b in BLOCK_SIZES] + [random_sizes(0), random_sizes(1)],
    ids=[str(b) for b in BLOCK_SIZES] + ["random0", "random1"],
)
def test_blocks_equal_whole_bit_for_bit(implementation, effect_name, sizes):
    effect = build_effect(EFFECTS[effect_name], SAMPLE_RATE, implementation)
    whole = effect.process_signal(SIGNAL)
    np.testing.assert_array_equal(effect.process_in_blocks(SIGNAL, sizes), whole)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("effect_name", ["tube", "bitcrush_hold3"])
def test_out_buffer_and_state_are_used_in_place(implementation, effect_name):
    effect = build_effect(EFFECTS[effect_name], SAMPLE_RATE, implementation)
    state = effect.initial_state()
    before = state.copy()
    out = np.empty(256, dtype=np.float32)
    result, new_state = effect.process(SIGNAL[:256].copy(), state, out)
    assert result is out and new_state is state
    assert any(not np.array_equal(a, b) for a, b in zip(vars(before).values(), vars(state).values()))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_copied_state_rewinds_the_stream(implementation):
    effect = build_effect(EFFECTS["tube"], SAMPLE_RATE, implementation)
    state = effect.initial_state()
    effect.process(SIGNAL[:1000].copy(), state)
    saved = state.copy()
    first, _ = effect.process(SIGNAL[1000:2000].copy(), state)
    again, _ = effect.process(SIGNAL[1000:2000].copy(), saved)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize(
    "bad", [np.zeros(8, np.float64), np.zeros((2, 8), np.float32), np.zeros(16, np.float32)[::2], [0.0] * 8]
)
def test_bad_buffers_are_rejected(bad):
    effect = build_effect(EFFECTS["tube"], SAMPLE_RATE, "numba")
    with pytest.raises(TypeError, match="buffer must be"):
        effect.process(bad, effect.initial_state())


def test_bad_out_buffer_is_rejected():
    effect = build_effect(EFFECTS["bitcrush"], SAMPLE_RATE, "numba")
    with pytest.raises(TypeError, match="out must be"):
        effect.process(np.zeros(8, np.float32), effect.initial_state(), np.zeros(4, np.float32))


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"kind": "fuzz"}, r"effects\.x\.kind: expected one of"),
        ({"kind": "bitcrusher", "bits": 0}, r"effects\.x\.bits: expected an integer in 1\.\.24, got 0"),
        ({"kind": "bitcrusher", "bits": 25}, r"effects\.x\.bits"),
        ({"kind": "bitcrusher", "downsample": 0}, r"effects\.x\.downsample"),
        ({"kind": "bitcrusher", "bitz": 8}, r"effects\.x: unknown parameter\(s\) \['bitz'\]"),
        (
            {"kind": "tube_saturator", "lowpass_hz": 30000.0},
            r"effects\.x\.lowpass_hz: expected a cutoff in \(0, 24000\)",
        ),
        ({"kind": "tube_saturator", "lowpass_order": 0}, r"effects\.x\.lowpass_order"),
        ({"kind": "tube_saturator", "gain_db": "loud"}, r"effects\.x\.gain_db: expected a finite number"),
        ({"kind": "tube_saturator", "bias": 5.0}, r"effects\.x\.bias"),
    ],
)
def test_bad_config_names_the_key(cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_effect(cfg, SAMPLE_RATE, "numba", key="effects.x")


def test_numba_kernels_compile_once_and_load_from_cache():
    """A fresh process finds the kernels in Numba's on-disk cache (compiled by this one)."""
    from distortion_bench.dsp import bitcrush, tube

    for kernel in (tube._tube_kernel, bitcrush._bitcrush_kernel):
        assert len(kernel.signatures) == 1  # eager, explicit signature: never recompiled per call
    build_effect(EFFECTS["tube"], SAMPLE_RATE, "numba").process_signal(SIGNAL)
    code = (
        "from distortion_bench.dsp import bitcrush, tube\n"
        "print(len(tube._tube_kernel.stats.cache_hits), len(bitcrush._bitcrush_kernel.stats.cache_hits))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]


@pytest.mark.parametrize("effect_name", ["tube", "bitcrush_hold3"])
def test_numba_path_allocates_no_arrays_when_out_is_given(effect_name):
    """NumPy reports its buffers to tracemalloc: a per-call allocation would show up in the peak."""
    import tracemalloc

    effect = build_effect(EFFECTS[effect_name], SAMPLE_RATE, "numba")
    state, buffer, out = effect.initial_state(), SIGNAL[:4096].copy(), np.empty(4096, np.float32)
    effect.process(buffer, state, out)  # warm up outside the measurement
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            effect.process(buffer, state, out)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 1024  # one float32 buffer of 4096 samples would be 16 KiB
    # The NumPy version, by contrast, allocates temporaries on every call (the test can see them).
    numpy_fx = build_effect(EFFECTS[effect_name], SAMPLE_RATE, "numpy")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        numpy_fx.process(buffer, numpy_fx.initial_state(), out)
        assert tracemalloc.get_traced_memory()[1] - base > 4096 * 4
    finally:
        tracemalloc.stop()
