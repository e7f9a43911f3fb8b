"""Elementary functions whose float64 results are the same on every CPU.

The data stages store audio that must be byte-identical on any machine (their hashes are in
``dvc.lock``). NumPy's transcendental ufuncs are not: ``np.exp``, ``np.log``, ``np.power``,
``np.tanh`` and others dispatch at run time to SIMD kernels (AVX2+FMA, AVX-512) whose results
differ from each other and from the scalar fallback in the last bit; and the C library's
``exp``/``sin``/``pow`` behind Python's ``math`` module and ``**`` pick FMA variants on CPUs
that have FMA. One bit in a dry sample becomes a different corpus, and a different study.

These versions use only IEEE-754 basic operations (+, -, *, /, ``floor``, ``ldexp``), each
correctly rounded by definition and so identical on any conforming CPU with any vector width
(x86-64 with or without AVX2/AVX-512, aarch64), evaluated in a fixed order. Accuracy is a few
float64 ulp (tested against NumPy), which is far below anything audible and below the float32
the audio is stored in; what matters is that it is the *same* few ulp everywhere.

Every function takes a float or an array of float64 and returns the same kind.

Methods: ``exp`` by Cody-Waite reduction ``x = n ln2 + r`` (``ln2`` split in two so ``n ln2``
is exact), a degree-13 Taylor polynomial on ``|r| <= ln2/2`` and ``ldexp``; ``log`` by
``frexp`` to ``m`` in ``[sqrt(1/2), sqrt(2))`` and the ``atanh`` series of
``s = (m - 1)/(m + 1)``; ``sin``/``cos`` by reduction modulo ``pi/2`` (three-part constant,
accurate for ``|x| < 2^20 pi/2``, beyond any phase the synthesizer makes) and Taylor
polynomials on ``[-pi/4, pi/4]``; ``pow`` as ``exp(y log b)``; ``tanh`` from ``exp``.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np

_LN2_HI = 6.93147180369123816490e-01  # ln 2 with its low 32 bits zero: n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634
_LN10 = 2.302585092994046
_SQRT_HALF = 0.7071067811865476
# pi/2 in three parts (33 + 33 + 53 bits): n * part is exact for |n| < 2^20.
_PIO2_1 = 1.57079632673412561417e00
_PIO2_2 = 6.07710050650619224932e-11
_PIO2_3 = 2.02226624879595063154e-21
_TWO_OVER_PI = 0.6366197723675814
#: |x| above which sin/cos would lose accuracy in the reduction.
TRIG_LIMIT = (2.0**20) * np.pi / 2
#: exp overflows above this and is 0 below its negative (subnormals flushed to 0).
_EXP_LIMIT = 708.0

# Taylor coefficients from exact integers (Python's int / float division rounds correctly).
_EXP_COEFFS = [1.0 / math.factorial(k) for k in range(14)]
# sin(r) = r + r^3 S(r^2), cos(r) = 1 - r^2/2 + r^4 C(r^2)
_SIN_COEFFS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(1, 10)]
_COS_COEFFS = [(-1) ** k / math.factorial(2 * k) for k in range(2, 11)]


def _horner(x: np.ndarray, coeffs: list[float]) -> np.ndarray:
    """``sum(coeffs[k] * x**k)`` by Horner's rule (highest degree first), a fixed order."""
    acc = np.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * x + c
    return acc


def _as_array(x: float | np.ndarray) -> tuple[np.ndarray, bool]:
    arr = np.asarray(x, dtype=np.float64)
    return np.atleast_1d(arr).astype(np.float64, copy=True), arr.ndim == 0


def _out(y: np.ndarray, scalar: bool) -> float | np.ndarray:
    return float(y[0]) if scalar else y


@overload
def exp(x: float) -> float: ...
@overload
def exp(x: np.ndarray) -> np.ndarray: ...
def exp(x):  # type: ignore[no-untyped-def]
    """``e^x``; ``inf`` above 708, 0 below -708 (no subnormal results)."""
    a, scalar = _as_array(x)
    clipped = np.clip(np.where(np.isnan(a), 0.0, a), -_EXP_LIMIT, _EXP_LIMIT)
    n = np.floor(clipped * _LOG2E + 0.5)
    r = (clipped - n * _LN2_HI) - n * _LN2_LO
    y = np.ldexp(_horner(r, _EXP_COEFFS), n.astype(np.int64))
    y[a > _EXP_LIMIT] = np.inf
    y[a < -_EXP_LIMIT] = 0.0
    y[np.isnan(a)] = np.nan
    return _out(y, scalar)


@overload
def log(x: float) -> float: ...
@overload
def log(x: np.ndarray) -> np.ndarray: ...
def log(x):  # type: ignore[no-untyped-def]
    """Natural logarithm for ``x > 0`` (``nan`` for ``x < 0``, ``-inf`` at 0)."""
    a, scalar = _as_array(x)
    safe = np.where((a > 0.0) & np.isfinite(a), a, 1.0)
    m, e = np.frexp(safe)  # safe = m 2^e, m in [0.5, 1)
    low = m < _SQRT_HALF
    m = np.where(low, m * 2.0, m)  # m in [sqrt(1/2), sqrt(2)): exact scaling
    e = (e - low).astype(np.float64)
    s = (m - 1.0) / (m + 1.0)  # |s| <= 0.1716
    z = s * s
    # log(m) = 2 atanh(s) = 2 s (1 + z/3 + z^2/5 + ... + z^11/23)
    series = _horner(z, [1.0 / (2 * k + 1) for k in range(12)])
    y = e * _LN2_HI + (2.0 * s * series + e * _LN2_LO)
    y[a == 0.0] = -np.inf
    y[a < 0.0] = np.nan
    y[np.isnan(a)] = np.nan
    y[np.isposinf(a)] = np.inf
    return _out(y, scalar)


def log10(x: float | np.ndarray) -> float | np.ndarray:
    """Base-10 logarithm (``log(x) / ln 10``)."""
    y = log(x)
    return y / _LN10


def power(base: float | np.ndarray, exponent: float | np.ndarray) -> float | np.ndarray:
    """``base ** exponent`` for ``base > 0``, as ``exp(exponent * log(base))``.

    The relative error grows with ``|exponent * log(base)|`` (about that many ulp), which is
    tiny for the level and pitch conversions it is used for (dB, semitones).
    """
    b = np.asarray(base, dtype=np.float64)
    if np.any(b <= 0.0):
        raise ValueError("portable_math.power: base must be > 0")
    scalar = np.ndim(base) == 0 and np.ndim(exponent) == 0
    y = exp(np.atleast_1d(np.asarray(exponent, dtype=np.float64) * log(np.atleast_1d(b))))
    return float(y[0]) if scalar else y


def db_to_amplitude(level_db: float | np.ndarray) -> float | np.ndarray:
    """Amplitude ratio of a level in dB: ``10^(level/20)``."""
    return (
        power(10.0, np.asarray(level_db, dtype=np.float64) / 20.0)
        if np.ndim(level_db)
        else power(10.0, float(level_db) / 20.0)
    )


def _sin_cos_reduced(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if np.any(np.abs(a[np.isfinite(a)]) > TRIG_LIMIT):
        raise ValueError(f"portable_math: |x| must stay below {TRIG_LIMIT:.6g} rad for sin/cos")
    n = np.floor(np.where(np.isfinite(a), a, 0.0) * _TWO_OVER_PI + 0.5)
    r = ((a - n * _PIO2_1) - n * _PIO2_2) - n * _PIO2_3  # |r| <= pi/4 (+ rounding)
    z = r * r
    s = r + r * z * _horner(z, _SIN_COEFFS)
    c = (1.0 - 0.5 * z) + z * z * _horner(z, _COS_COEFFS)
    quadrant = np.mod(n, 4.0)
    return s, c, quadrant


def _sine_shifted(x: float | np.ndarray, quarter_turns: int) -> float | np.ndarray:
    """``sin(x + quarter_turns * pi/2)`` from one reduction: ``[s, c, -s, -c]`` by quadrant."""
    a, scalar = _as_array(x)
    s, c, q = _sin_cos_reduced(a)
    quadrant = np.mod(q + quarter_turns, 4.0)
    y = np.select([quadrant == 0.0, quadrant == 1.0, quadrant == 2.0], [s, c, -s], -c)
    y[~np.isfinite(a)] = np.nan
    return _out(y, scalar)


@overload
def sin(x: float) -> float: ...
@overload
def sin(x: np.ndarray) -> np.ndarray: ...
def sin(x):  # type: ignore[no-untyped-def]
    """Sine of ``x`` radians, ``|x| < TRIG_LIMIT``."""
    return _sine_shifted(x, 0)


@overload
def cos(x: float) -> float: ...
@overload
def cos(x: np.ndarray) -> np.ndarray: ...
def cos(x):  # type: ignore[no-untyped-def]
    """Cosine of ``x`` radians (``sin(x + pi/2)``), ``|x| < TRIG_LIMIT``."""
    return _sine_shifted(x, 1)


@overload
def tanh(x: float) -> float: ...
@overload
def tanh(x: np.ndarray) -> np.ndarray: ...
def tanh(x):  # type: ignore[no-untyped-def]
    """Hyperbolic tangent: a series near 0 (exact 0 at 0), ``(1 - e)/(1 + e)``, ``e = exp(-2|x|)``."""
    a, scalar = _as_array(x)
    u = np.minimum(np.abs(a), 20.0)  # tanh(20) rounds to 1 in float64
    z = u * u
    # tanh(u) = u - u^3/3 + 2u^5/15 - 17u^7/315 + ... for |u| < 0.125
    small = u + u * z * _horner(
        z, [-1.0 / 3, 2.0 / 15, -17.0 / 315, 62.0 / 2835, -1382.0 / 155925, 21844.0 / 6081075, -929569.0 / 638512875]
    )
    e = exp(-2.0 * u)
    large = (1.0 - e) / (1.0 + e)
    y = np.copysign(np.where(u < 0.125, small, large), a)
    y[np.isnan(a)] = np.nan
    return _out(y, scalar)


def kaiser_lowpass_fir(numtaps: int, cutoff: float, beta: float = 5.0) -> np.ndarray:
    """Linear-phase low-pass FIR, shape ``(numtaps,)``: ``scipy.signal.firwin(numtaps, cutoff,
    window=("kaiser", beta))`` computed with the functions above (within a few ulp of SciPy's).

    ``cutoff`` is relative to Nyquist (0..1); the taps sum to 1 (unit gain at DC, summed
    exactly with :func:`math.fsum`).
    """
    if numtaps < 1 or not 0.0 < cutoff < 1.0:
        raise ValueError(f"kaiser_lowpass_fir: need numtaps >= 1 and 0 < cutoff < 1, got {numtaps}, {cutoff}")
    m = np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2.0
    arg = np.pi * cutoff * m
    safe = np.where(arg == 0.0, 1.0, arg)
    h = cutoff * np.where(arg == 0.0, 1.0, sin(safe) / safe)
    # Kaiser window I0(beta sqrt(1 - (2n/(N-1) - 1)^2)) / I0(beta); I0 by its power series.
    ratio = 2.0 * np.arange(numtaps, dtype=np.float64) / max(numtaps - 1, 1) - 1.0
    window = _bessel_i0(beta * np.sqrt(np.maximum(1.0 - ratio * ratio, 0.0))) / _bessel_i0(np.array([beta]))[0]
    h = h * window
    return h / math.fsum(h.tolist())


def _bessel_i0(x: np.ndarray) -> np.ndarray:
    """Modified Bessel function I0 by ``sum_k ((x/2)^k / k!)^2`` (60 terms: exact to float64 for
    ``x < 30``, far beyond the Kaiser betas in use)."""
    if np.any(x >= 30.0):
        raise ValueError("portable_math: Kaiser beta must be < 30")
    q = (x / 2.0) ** 2
    term = np.ones_like(x)
    total = np.ones_like(x)
    for k in range(1, 60):
        term = term * q / float(k * k)
        total = total + term
    return total
