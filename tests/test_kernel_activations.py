"""The Numba kernels' tanh and sigmoid: error bound over the float32 range they are used on."""

from __future__ import annotations

import numpy as np

from distortion_bench.kernels.activations import (
    SIGMOID_MAX_ABS_ERROR,
    TANH_CLAMP,
    TANH_MAX_ABS_ERROR,
    sigmoid32_array,
    tanh32_array,
)


def _every_kth_float32(k: int) -> np.ndarray:
    """A stride through all 2^32 bit patterns (both signs, every exponent), finite values only."""
    bits = np.arange(0, 2**32, k, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    return x[np.isfinite(x)]


def _apply(fn, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    fn(np.ascontiguousarray(x, dtype=np.float32), out)
    return out


def _sigmoid64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def test_tanh_error_bound_over_all_of_float32():
    # every 509th bit pattern (8.4 million values over every exponent), plus the dense range where
    # the error peaks (|x| in [4, 7.9]: every float32 there, in steps of 1 ulp at 4..8 = 2^-21)
    x = np.concatenate(
        [
            _every_kth_float32(509),
            np.arange(4.0, 8.0, 2.0**-18, dtype=np.float32),
            np.float32([0.0, -0.0, TANH_CLAMP, -TANH_CLAMP, 1e-38, -1e-38, 3.4e38, -3.4e38]),
        ]
    )
    y = _apply(tanh32_array, x)
    err = np.abs(y.astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert err.max() <= TANH_MAX_ABS_ERROR, (err.max(), x[np.argmax(err)])
    assert err.max() > TANH_MAX_ABS_ERROR / 10  # the bound is tight, not a loose guess
    assert np.all(np.abs(y) <= 1.0)
    np.testing.assert_array_equal(_apply(tanh32_array, -x), -y)  # odd, exactly
    assert _apply(tanh32_array, np.float32([0.0]))[0] == 0.0  # silence stays silence


def test_sigmoid_error_bound_and_range():
    x = np.concatenate([_every_kth_float32(509), np.arange(-16.0, 16.0, 2.0**-14, dtype=np.float32)])
    y = _apply(sigmoid32_array, x)
    err = np.abs(y.astype(np.float64) - _sigmoid64(x))
    assert err.max() <= SIGMOID_MAX_ABS_ERROR, (err.max(), x[np.argmax(err)])
    assert np.all((y >= 0.0) & (y <= 1.0))
    assert _apply(sigmoid32_array, np.float32([0.0]))[0] == 0.5


def test_infinities_saturate_and_nan_propagates():
    x = np.float32([np.inf, -np.inf, np.nan])
    t, s = _apply(tanh32_array, x), _apply(sigmoid32_array, x)
    np.testing.assert_array_equal(t[:2], [1.0, -1.0])
    np.testing.assert_array_equal(s[:2], [1.0, 0.0])
    assert np.isnan(t[2]) and np.isnan(s[2])
