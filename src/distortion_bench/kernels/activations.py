"""``tanh`` and the logistic sigmoid in float32 plain arithmetic, so Numba vectorizes them.

The network kernels evaluate a gate activation for every hidden unit of every sample (an
LSTM-24: 120 per sample); ``math.tanh`` compiles to a scalar C-library call that LLVM cannot
vectorize. These use only ``+ - * /``, ``min``/``max`` and ``copysign``-free selects, so a loop
over them becomes SIMD code, and each lane computes exactly what the scalar code would (results
do not depend on where a stream is cut into buffers).

Method: the odd rational minimax approximation ``x * P(x^2) / Q(x^2)`` of degree 13/6 used by
Eigen's ``ptanh`` for float (``generic_fast_tanh_float``), with ``x`` clamped to
``+-TANH_CLAMP`` (where float32 ``tanh`` is 1 within 2^-24) and evaluated in float32. The
sigmoid is ``0.5 + 0.5 * tanh(x / 2)`` (halving is exact), so its error is half the tanh's.

Error bound against float64 ``tanh``: measured exhaustively over every float32 in ``[0, 8)``
(tanh is odd and constant beyond the clamp), the largest absolute error is 4.10e-7 (at
x = 5.83) for ``tanh`` and 1.97e-7 for the sigmoid over the whole line; the bounds below add a
margin, and ``tests/test_kernel_activations.py`` checks them on a stride through all 2^32 bit
patterns plus the dense range where the error peaks. Besides: absolute error at
most :data:`TANH_MAX_ABS_ERROR` for ``tanh`` and :data:`SIGMOID_MAX_ABS_ERROR` for the sigmoid,
``tanh(0) == 0`` and ``sigmoid(0) == 0.5`` exactly, outputs within ``[-1, 1]`` / ``[0, 1]``, odd
symmetry exact. ``nan`` propagates; ``+-inf`` give ``+-1`` (``0``/``1``).
"""

from __future__ import annotations

import numba
import numpy as np

#: |x| beyond which tanh(x) is 1 - 2^-24 or closer (float32 rounds it to 1)
TANH_CLAMP = np.float32(7.90531110763549805)
#: bounds the tests assert over all of float32 (absolute, against float64 tanh)
TANH_MAX_ABS_ERROR = 4.5e-7
SIGMOID_MAX_ABS_ERROR = 2.5e-7
GATE_MAX_ABS_ERROR = 7e-7

_A1 = np.float32(4.89352455891786e-03)
_A3 = np.float32(6.37261928875436e-04)
_A5 = np.float32(1.48572235717979e-05)
_A7 = np.float32(5.12229709037114e-08)
_A9 = np.float32(-8.60467152213735e-11)
_A11 = np.float32(2.00018790482477e-13)
_A13 = np.float32(-2.76076847742355e-16)
_B0 = np.float32(4.89352518554385e-03)
_B2 = np.float32(2.26843463243900e-03)
_B4 = np.float32(1.18534705686654e-04)
_B6 = np.float32(1.19825839466702e-06)
_HALF = np.float32(0.5)


@numba.njit(inline="always", error_model="numpy")
def _tanh_fraction(x: np.float32) -> tuple[np.float32, np.float32]:  # pragma: no cover - compiled
    """``(c P(c^2), Q(c^2))`` with ``c`` = ``x`` clamped to ``+-TANH_CLAMP``: ``tanh(x)`` is their ratio."""
    # min/max rather than a branch: the clamp stays a select in SIMD code. nan passes through
    # (comparisons with nan are false).
    c = max(min(x, TANH_CLAMP), -TANH_CLAMP)
    s = c * c
    p = _A13
    p = p * s + _A11
    p = p * s + _A9
    p = p * s + _A7
    p = p * s + _A5
    p = p * s + _A3
    p = p * s + _A1
    q = _B6
    q = q * s + _B4
    q = q * s + _B2
    q = q * s + _B0
    return c * p, q


@numba.njit(inline="always", error_model="numpy")
def tanh32(x: np.float32) -> np.float32:  # pragma: no cover - compiled
    """``tanh(x)`` for a float32 ``x``, vectorizable; absolute error <= ``TANH_MAX_ABS_ERROR``."""
    n, d = _tanh_fraction(x)
    return n / d


@numba.njit(inline="always", error_model="numpy")
def sigmoid32(x: np.float32) -> np.float32:  # pragma: no cover - compiled
    """``1 / (1 + exp(-x))`` as ``0.5 + 0.5 tanh(x / 2)``; absolute error <= ``SIGMOID_MAX_ABS_ERROR``."""
    return _HALF + _HALF * tanh32(_HALF * x)


@numba.njit(inline="always", error_model="numpy")
def tanh_times_sigmoid32(a: np.float32, b: np.float32) -> np.float32:  # pragma: no cover - compiled
    """``tanh(a) * sigmoid(b)`` (a gated unit: TCN gates, LSTM ``i * g`` and ``o * tanh(c)``)
    with one division instead of two: ``tanh(a) = n_a / d_a`` and ``sigmoid(b) = (d_b + n_b) /
    (2 d_b)`` (with ``tanh(b / 2) = n_b / d_b``) share a denominator. Absolute error <=
    ``GATE_MAX_ABS_ERROR``."""
    na, da = _tanh_fraction(a)
    nb, db = _tanh_fraction(_HALF * b)
    return na * (_HALF * (db + nb)) / (da * db)


@numba.njit("void(float32[::1], float32[::1], float32[::1])", cache=True, error_model="numpy")
def tanh_times_sigmoid32_array(a, b, out):  # pragma: no cover - compiled
    """Element-wise :func:`tanh_times_sigmoid32` (for tests and error measurement)."""
    for i in range(a.shape[0]):
        out[i] = tanh_times_sigmoid32(a[i], b[i])


@numba.njit("void(float32[::1], float32[::1])", cache=True, error_model="numpy")
def tanh32_array(x, out):  # pragma: no cover - compiled
    """Element-wise :func:`tanh32` (for tests and error measurement)."""
    for i in range(x.shape[0]):
        out[i] = tanh32(x[i])


@numba.njit("void(float32[::1], float32[::1])", cache=True, error_model="numpy")
def sigmoid32_array(x, out):  # pragma: no cover - compiled
    """Element-wise :func:`sigmoid32` (for tests and error measurement)."""
    for i in range(x.shape[0]):
        out[i] = sigmoid32(x[i])
