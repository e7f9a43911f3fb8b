"""The vectorizable tanh used by the Numba tube kernel, against math.tanh."""

from __future__ import annotations

import math
import re

import numba
import numpy as np

from distortion_bench.dsp.vector_tanh import vector_tanh


@numba.njit(error_model="numpy")
def _apply(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = vector_tanh(x[i])
    return out


def test_within_a_few_ulp_of_math_tanh_everywhere():
    grid = np.concatenate(
        [
            np.linspace(-25.0, 25.0, 200_001),
            np.geomspace(1e-300, 25.0, 50_000),
            -np.geomspace(1e-300, 25.0, 50_000),
            [0.124999999, 0.125, 0.125000001, 19.0, 20.0, 1e6, -1e6, np.inf, -np.inf],
        ]
    )
    got = _apply(grid)
    want = np.array([math.tanh(v) for v in grid])
    ulp = np.abs(got - want) / np.spacing(np.abs(want)).clip(min=np.finfo(float).tiny)
    assert ulp.max() <= 8.0
    assert np.all(np.abs(got) <= 1.0)


def test_exact_at_zero_and_odd():
    assert _apply(np.array([0.0]))[0] == 0.0
    x = np.linspace(0.0, 10.0, 1001)
    np.testing.assert_array_equal(_apply(-x), -_apply(x))


def test_tube_kernel_shaper_is_vectorized():
    """The point of the function: the tube kernel's shaper pass compiles to packed SIMD
    arithmetic (a packed double division appears only if that loop was vectorized)."""
    from distortion_bench.dsp.tube import _tube_kernel

    fresh = numba.njit(_tube_kernel.signatures[0], error_model="numpy")(
        _tube_kernel.py_func
    )  # cached code can't be inspected
    asm = fresh.inspect_asm(fresh.signatures[0])
    assert re.search(r"vdivpd\s+%[yz]mm", asm)
