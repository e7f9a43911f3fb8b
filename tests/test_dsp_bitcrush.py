"""Bitcrusher against analytic expectations; NumPy vs Numba; sample-and-hold."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLE_RATE, noise, sine
from distortion_bench.dsp import BitcrusherNumba, BitcrusherNumpy, BitcrusherParams

IMPLS = [BitcrusherNumpy, BitcrusherNumba]


@pytest.mark.parametrize("cls", IMPLS)
@pytest.mark.parametrize("bits", [1, 2, 3, 8, 12, 16])
def test_ramp_gives_exactly_2_to_the_n_levels(cls, bits):
    ramp = np.linspace(-1.0, 1.0, max(1 << (bits + 2), 1024)).astype(np.float32)
    y = cls(BitcrusherParams(bits=bits), SAMPLE_RATE).process_signal(ramp)
    levels = np.unique(y)
    step = 2.0 ** (1 - bits)
    assert levels.size == 2**bits
    assert levels[0] == -1.0 and levels[-1] == 1.0 - step
    np.testing.assert_array_equal(np.diff(levels.astype(np.float64)), step)  # uniform, exact


@pytest.mark.parametrize("cls", IMPLS)
def test_one_bit_gives_two_values(cls):
    x = np.concatenate([noise(4096, 2.0), [0.0, 1.0, -1.0, 0.49, 0.5]]).astype(np.float32)
    y = cls(BitcrusherParams(bits=1), SAMPLE_RATE).process_signal(x)
    assert set(np.unique(y).tolist()) == {-1.0, 0.0}
    assert np.isfinite(y).all()


@pytest.mark.parametrize("cls", IMPLS)
def test_mid_tread_rounding_and_clipping(cls):
    # 3 bits: step 0.25, levels -1 .. 0.75. Rounding is half-up (floor(x/q + 0.5)).
    x = np.array([0.0, 0.1, 0.125, -0.125, -0.13, 0.74, 0.9, 1.0, 5.0, -5.0, -1.0, 100.0], dtype=np.float32)
    expected = np.array([0.0, 0.0, 0.25, 0.0, -0.25, 0.75, 0.75, 0.75, 0.75, -1.0, -1.0, 0.75], dtype=np.float32)
    y = cls(BitcrusherParams(bits=3), SAMPLE_RATE).process_signal(x)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("cls", IMPLS)
def test_24_bits_is_exact_on_the_grid(cls):
    codes = np.array([-(1 << 23), -1, 0, 1, 12345, (1 << 23) - 1], dtype=np.float64)
    x = (codes / (1 << 23)).astype(np.float32)
    y = cls(BitcrusherParams(bits=24), SAMPLE_RATE).process_signal(x)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("cls", IMPLS)
def test_silence_in_gives_silence_out(cls):
    y = cls(BitcrusherParams(bits=4, downsample=3), SAMPLE_RATE).process_signal(np.zeros(1000, np.float32))
    assert np.all(y == 0.0)


@pytest.mark.parametrize("cls", IMPLS)
@pytest.mark.parametrize("downsample", [2, 3, 7])
def test_sample_and_hold(cls, downsample):
    x = noise(1000, 0.5, seed=3)
    y = cls(BitcrusherParams(bits=8, downsample=downsample), SAMPLE_RATE).process_signal(x)
    quantized = BitcrusherNumpy(BitcrusherParams(bits=8), SAMPLE_RATE).process_signal(x)
    # Each group of D samples holds the quantized first sample of the group.
    expected = np.repeat(quantized[::downsample], downsample)[: x.size]
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize(
    "params", [BitcrusherParams(bits=b, downsample=d) for b in (1, 4, 8, 16, 24) for d in (1, 5)], ids=str
)
@pytest.mark.parametrize("signal", ["noise", "sine", "hot_noise"])
def test_numpy_and_numba_agree(params, signal):
    x = {"noise": noise(), "sine": sine(440.0, 0.9), "hot_noise": noise(8192, 3.0)}[signal]
    a = BitcrusherNumpy(params, SAMPLE_RATE).process_signal(x)
    b = BitcrusherNumba(params, SAMPLE_RATE).process_signal(x)
    assert np.max(np.abs(a - b)) <= 1e-6
    np.testing.assert_array_equal(a, b)  # in fact identical: all arithmetic is exact
