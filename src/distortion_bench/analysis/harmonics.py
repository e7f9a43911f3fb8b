"""Harmonic fingerprint, THD and aliasing of a processor's response to a sine.

Harmonics 2..max in dB re the fundamental.

Method: the test sine has a whole number of cycles in the analysis window (frequency a multiple
of ``sample_rate / window``), so a steady-state nonlinear response is periodic in the window and
every partial, harmonic or aliased, sits exactly on an FFT bin. With a Hann window a line's
power spreads over its bin and the two neighbours only; summing those three bins gives the
line's power with the same window gain for every line, so ratios of lines are exact. Noise
summed over bins scales by the same window energy (Parseval), so aliasing levels read in the
same units.

- ``harmonic k`` level: power of the line at ``k f0`` relative to the fundamental, in dB
  (None when ``k f0`` is at or above Nyquist: that partial has aliased), floored at
  :data:`FLOOR_DB`;
- THD = sqrt(sum of harmonic powers k = 2..K below Nyquist / fundamental power), a ratio
  (also in dB);
- aliasing level: power in every bin that is not DC, the fundamental or a harmonic below
  Nyquist (each +-2 bins), relative to the fundamental, in dB. For a memoryless nonlinearity at
  a low frequency this is the noise floor; for a high sine it is dominated by harmonics above
  Nyquist folded back (aliased partials).

Harmonics and aliasing are only told apart when no aliased partial folds back *onto* a harmonic
bin. A sine whose frequency divides the sample rate (1000 Hz at 48 kHz) folds every partial above
Nyquist exactly onto a harmonic: a bitcrusher's staircase (partials falling only as 1/k) then
reads 10-40 dB wrong on its quieter harmonics and shows no aliasing at all.
:func:`alias_collisions` finds, for a test sine and an analysis length, the partial orders up to
a stated order that land within :data:`COLLISION_BINS` of a harmonic bin; the configured test
sines must have none (``bench.quality.sines.alias_free_order``). Partials beyond that order
still fold somewhere: their power sets each fingerprint's *measurement floor*
(``floor_db``: the level a line made of the surrounding non-harmonic power would read), and a
harmonic less than :data:`MEASURED_MARGIN_DB` above it is reported as *bounded by the floor*, not
measured (``measured``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_GUARD = 2  # bins either side of a line that belong to it (Hann: 1, plus 1 for safety)
#: Levels below this (dB re fundamental) are reported as this: the numerical floor of a float32
#: response, where "how much quieter" no longer means anything (a missing harmonic, e.g. the
#: 2nd of a symmetric clipper, would otherwise read -300 dB).
FLOOR_DB = -120.0
#: an aliased partial this close (bins) to a harmonic bin corrupts it: the line's 3 Hann bins
#: overlap the harmonic's 3, or fall in the +-2 bins a harmonic owns
COLLISION_BINS = 3
#: a harmonic at least this far above the fingerprint's measurement floor is *measured*: the
#: floor's power, added coherently in the worst case, moves it by at most 2.4 dB
MEASURED_MARGIN_DB = 10.0


@dataclass(frozen=True)
class SineSpec:
    """A test sine: ``level_dbfs`` peak, analysed over ``window_seconds`` after ``settle_seconds``."""

    freq_hz: float
    level_dbfs: float
    window_seconds: float = 1.0
    settle_seconds: float = 0.25

    def check(self, sample_rate: int) -> None:
        """Raise ValueError unless the sine has a whole number of cycles in the window."""
        n = round(self.window_seconds * sample_rate)
        cycles = self.freq_hz * n / sample_rate
        if abs(cycles - round(cycles)) > 1e-9 or not 0 < self.freq_hz < sample_rate / 2:
            raise ValueError(
                f"sine {self.freq_hz} Hz: expected a frequency below Nyquist with a whole number of "
                f"cycles in {self.window_seconds} s at {sample_rate} Hz (a multiple of "
                f"{sample_rate / n:g} Hz)"
            )


def make_sine(spec: SineSpec, sample_rate: int) -> np.ndarray:
    """The settle part followed by the analysis window, float32 ``(time,)``."""
    spec.check(sample_rate)
    n = round((spec.settle_seconds + spec.window_seconds) * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    amp = 10.0 ** (spec.level_dbfs / 20.0)
    return (amp * np.sin(2.0 * np.pi * spec.freq_hz * t)).astype(np.float32)


def alias_collisions(spec: SineSpec, sample_rate: int, max_order: int) -> list[int]:
    """Partial orders ``k <= max_order`` of the test sine that fold onto a harmonic bin.

    The window of ``n`` samples puts the fundamental on bin ``c``; partial ``k`` sits on bin
    ``k c mod n``, folded into ``[0, n/2]``. It collides when it lands within
    :data:`COLLISION_BINS` of a multiple of ``c`` (DC, the fundamental or any harmonic below
    Nyquist). Orders below Nyquist are harmonics themselves and never collide.
    """
    spec.check(sample_rate)
    n = round(spec.window_seconds * sample_rate)
    c = round(spec.freq_hz * n / sample_rate)
    k = np.arange(2, int(max_order) + 1, dtype=np.int64)
    k = k[k * c > n // 2]
    folded = (k * c) % n
    folded = np.where(folded > n // 2, n - folded, folded)
    rest = folded % c
    distance = np.minimum(rest, c - rest)
    return [int(v) for v in k[distance <= COLLISION_BINS]]


def first_exact_collision(spec: SineSpec, sample_rate: int) -> int:
    """The lowest partial order that folds *exactly* onto a harmonic bin (or DC).

    With the fundamental on bin ``c`` of ``n``, partial ``m`` lands on harmonic ``j``'s bin when
    ``(m -+ j) c`` is a multiple of ``n``, i.e. ``m = P -+ j`` with ``P = n / gcd(c, n)``; the
    first is ``P - j_max``, ``j_max`` the highest harmonic below Nyquist. Where ``gcd(c, n) >= 4``
    every fold lands on a multiple of ``gcd`` bins, so nothing comes within
    :data:`COLLISION_BINS` of a harmonic before this order.
    """
    spec.check(sample_rate)
    n = round(spec.window_seconds * sample_rate)
    c = round(spec.freq_hz * n / sample_rate)
    return n // int(np.gcd(c, n)) - (n // 2) // c


def check_alias_free(spec: SineSpec, sample_rate: int, max_order: int) -> None:
    """Raise ValueError naming the first colliding partial and the nearest clean frequencies."""
    hits = alias_collisions(spec, sample_rate, max_order)
    if not hits:
        return
    n = round(spec.window_seconds * sample_rate)
    step = sample_rate / n
    clean = []
    for offset in range(1, 200):
        for sign in (-1, 1):
            f = spec.freq_hz + sign * offset * step
            candidate = SineSpec(f, spec.level_dbfs, spec.window_seconds, spec.settle_seconds)
            if 0 < f < sample_rate / 2 and not alias_collisions(candidate, sample_rate, max_order):
                clean.append(f)
        if len(clean) >= 2:
            break
    raise ValueError(
        f"sine {spec.freq_hz:g} Hz: its partial {hits[0]} (and {len(hits) - 1} more up to order "
        f"{max_order}) folds back onto a harmonic bin at {n} samples, so harmonics and aliasing "
        f"would be confused; nearest clean frequencies: {', '.join(f'{f:g} Hz' for f in clean)}"
    )


def analysis_window(y: np.ndarray, spec: SineSpec, sample_rate: int) -> np.ndarray:
    """The last ``window_seconds`` of a response (after the settle part)."""
    n = round(spec.window_seconds * sample_rate)
    return np.asarray(y, dtype=np.float64)[-n:]


def line_powers(window: np.ndarray) -> np.ndarray:
    """Hann-windowed power per bin, ``(bins,)`` (bin k = k / window duration Hz)."""
    w = np.hanning(window.size + 1)[:-1]  # periodic Hann: exact 3-bin spread for integer bins
    return np.abs(np.fft.rfft(window * w)) ** 2


def _line(power: np.ndarray, b: int) -> float:
    return float(power[max(b - 1, 0) : b + 2].sum())


@dataclass(frozen=True)
class Fingerprint:
    """Harmonics ``2..max_harmonic`` in dB re the fundamental (None above Nyquist), THD, aliasing.

    ``floor_db``: the measurement floor in dB re the fundamental, the larger of :data:`FLOOR_DB`
    and the level a line of the non-harmonic power around it would read (3 bins of its mean per
    bin); ``measured[i]`` is True when ``harmonics_db[i]`` stands :data:`MEASURED_MARGIN_DB` above
    it (None above Nyquist). A harmonic that is not measured is only known to be below about
    ``floor_db + MEASURED_MARGIN_DB``.
    """

    freq_hz: float
    level_dbfs: float
    fundamental_dbfs: float | None
    harmonics_db: list[float | None]
    thd: float | None
    thd_db: float | None
    aliasing_db: float | None
    floor_db: float = FLOOR_DB
    measured: tuple[bool | None, ...] = ()


def _db(ratio: float) -> float:
    return max(float(10.0 * np.log10(max(ratio, 1e-30))), FLOOR_DB)


def fingerprint(y: np.ndarray, spec: SineSpec, sample_rate: int, max_harmonic: int = 10) -> Fingerprint:
    """Harmonic fingerprint of the response ``y`` (``(time,)``) to :func:`make_sine` ``(spec)``."""
    spec.check(sample_rate)
    window = analysis_window(y, spec, sample_rate)
    power = line_powers(window)
    n = window.size
    f0_bin = round(spec.freq_hz * n / sample_rate)
    nyquist_bin = n // 2
    p1 = _line(power, f0_bin)
    if p1 <= 0.0:
        return Fingerprint(spec.freq_hz, spec.level_dbfs, None, [None] * (max_harmonic - 1), None, None, None)
    owned = np.zeros(power.size, dtype=bool)
    owned[: _GUARD + 1] = True  # DC
    harmonics: list[float | None] = []
    harmonic_power = 0.0
    for k in range(1, max_harmonic + 1):
        b = k * f0_bin
        if b >= nyquist_bin:
            if k > 1:
                harmonics.append(None)
            continue
        owned[max(b - _GUARD, 0) : b + _GUARD + 1] = True
        if k > 1:
            pk = _line(power, b)
            harmonics.append(_db(pk / p1))
            harmonic_power += pk
    # below Nyquist, harmonics beyond max_harmonic are still harmonics, not aliasing
    for b in range((max_harmonic + 1) * f0_bin, nyquist_bin, f0_bin):
        owned[max(b - _GUARD, 0) : b + _GUARD + 1] = True
    rest = float(power[~owned].sum())
    free_bins = int((~owned[: nyquist_bin + 1]).sum())
    floor = _db(3.0 * rest / free_bins / p1) if free_bins and rest > 0 else FLOOR_DB
    measured = tuple(None if h is None else h >= floor + MEASURED_MARGIN_DB for h in harmonics)
    # Hann's coherent power gain: the fundamental's 3 bins hold (n/2 * amp * 0.5)^2 * 1.5
    amp = np.sqrt(p1 / 1.5) / (n / 4.0)
    thd = float(np.sqrt(harmonic_power / p1))
    return Fingerprint(
        freq_hz=spec.freq_hz,
        level_dbfs=spec.level_dbfs,
        fundamental_dbfs=float(20.0 * np.log10(amp)) if amp > 0 else None,
        harmonics_db=harmonics,
        thd=thd,
        thd_db=_db(thd**2) if thd > 0 else None,
        aliasing_db=_db(rest / p1) if rest > 0 else None,
        floor_db=floor,
        measured=measured,
    )


def difference_db(model: Fingerprint, reference: Fingerprint) -> list[float | None]:
    """Per harmonic, model level minus reference level in dB (None where either is undefined)."""
    return [None if m is None or r is None else m - r for m, r in zip(model.harmonics_db, reference.harmonics_db)]


def difference_measured(model: Fingerprint, reference: Fingerprint) -> list[bool | None]:
    """Per harmonic, whether :func:`difference_db` is a measurement (both levels measured).

    False: at least one level is at its floor, so the difference is a bound (the true one may be
    smaller or larger by how far that level's true value lies below its floor); None: undefined.
    """
    out: list[bool | None] = []
    for i, (m, r) in enumerate(zip(model.harmonics_db, reference.harmonics_db)):
        if m is None or r is None:
            out.append(None)
            continue
        mm = model.measured[i] if i < len(model.measured) else m > FLOOR_DB
        rm = reference.measured[i] if i < len(reference.measured) else r > FLOOR_DB
        out.append(bool(mm and rm))
    return out
