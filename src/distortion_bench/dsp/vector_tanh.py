"""A ``tanh`` in plain float64 arithmetic, so Numba can vectorize loops that use it.

``math.tanh`` compiles to a call into the C library, one sample at a time: at 48 kHz it was
three quarters of the tube saturator's cost (about 13 of 18 ns per sample). Numba only
vectorizes such calls with Intel's SVML, which is rarely installed. This version uses only
+, -, *, / and comparisons, so LLVM turns a loop over it into SIMD code (about 3 ns per sample
on AVX2), and every lane computes exactly what the scalar code would: results do not depend on
where a signal is cut into buffers.

Method (accuracy within 6 float64 ulp of ``math.tanh`` over the whole line, tested):

- ``|u| < 0.125``: the Taylor series ``u - u^3/3 + 2u^5/15 - ...`` to ``u^17`` (Horner in ``u^2``),
  exact for ``u = 0`` (silence stays silence) and free of subnormal intermediates;
- otherwise ``(1 - e) / (1 + e)`` with ``e = exp(-2|u|)``: ``2|u| log2(e) = n + f`` with ``n``
  an integer, ``exp`` of the remainder by a degree-12 Taylor polynomial (|arg| <= ln2/2), and
  ``2^-n`` as a product of constant powers of two selected by the bits of ``n``;
- ``|u|`` clamped to 20, where ``tanh`` is 1 in float64; the sign restored by ``copysign``.
"""

from __future__ import annotations

import math

import numba

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
#: |u| where tanh(u) rounds to 1.0 in float64 (tanh(19.06) = 1 - 2^-54).
_SATURATE = 20.0
_SMALL = 0.125


@numba.njit(inline="always", error_model="numpy")
def vector_tanh(u: float) -> float:  # pragma: no cover - compiled
    """``tanh(u)`` for a float64 ``u``, vectorizable (see the module docstring)."""
    a = min(abs(u), _SATURATE)
    s = a * a
    # Taylor coefficients of tanh: -1/3, 2/15, -17/315, 62/2835, -1382/155925, ...
    small = a + a * s * (
        -0.3333333333333333
        + s
        * (
            0.13333333333333333
            + s
            * (
                -0.05396825396825397
                + s
                * (
                    0.021869488536155203
                    + s
                    * (
                        -0.008863235529902197
                        + s * (0.003592128036572481 + s * (-0.0014558343870513183 + s * 0.000590027440945586))
                    )
                )
            )
        )
    )
    z = 2.0 * a * _LOG2E  # exp(-2a) = 2^-z = 2^-n * exp((n - z) ln2)
    n = math.floor(z + 0.5)
    r = (n - z) * _LN2  # |r| <= ln2 / 2
    p = 2.08767569878681e-09  # 1/12!, then Horner down to 1/0!
    p = 2.505210838544172e-08 + r * p
    p = 2.755731922398589e-07 + r * p
    p = 2.7557319223985893e-06 + r * p
    p = 2.48015873015873e-05 + r * p
    p = 0.0001984126984126984 + r * p
    p = 0.001388888888888889 + r * p
    p = 0.008333333333333333 + r * p
    p = 0.041666666666666664 + r * p
    p = 0.16666666666666666 + r * p
    p = 0.5 + r * p
    p = 1.0 + r * p
    p = 1.0 + r * p
    k = numba.int64(n)  # 0 <= k <= 58: 2^-k from its six bits
    q = 0.5 if k & 1 else 1.0
    q *= 0.25 if k & 2 else 1.0
    q *= 0.0625 if k & 4 else 1.0
    q *= 0.00390625 if k & 8 else 1.0
    q *= 1.52587890625e-05 if k & 16 else 1.0
    q *= 2.3283064365386963e-10 if k & 32 else 1.0
    e = p * q
    large = (1.0 - e) / (1.0 + e)
    return math.copysign(small if a < _SMALL else large, u)
