"""Harmonic fingerprint, THD and aliasing of a processor's response to a sine (DESIGN section 5).

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_GUARD = 2  # bins either side of a line that belong to it (Hann: 1, plus 1 for safety)
#: Levels below this (dB re fundamental) are reported as this: the numerical floor of a float32
#: response, where "how much quieter" no longer means anything (a missing harmonic, e.g. the
#: 2nd of a symmetric clipper, would otherwise read -300 dB).
FLOOR_DB = -120.0


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
                f"{sample_rate / n:g} Hz)")


def make_sine(spec: SineSpec, sample_rate: int) -> np.ndarray:
    """The settle part followed by the analysis window, float32 ``(time,)``."""
    spec.check(sample_rate)
    n = round((spec.settle_seconds + spec.window_seconds) * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    amp = 10.0 ** (spec.level_dbfs / 20.0)
    return (amp * np.sin(2.0 * np.pi * spec.freq_hz * t)).astype(np.float32)


def analysis_window(y: np.ndarray, spec: SineSpec, sample_rate: int) -> np.ndarray:
    """The last ``window_seconds`` of a response (after the settle part)."""
    n = round(spec.window_seconds * sample_rate)
    return np.asarray(y, dtype=np.float64)[-n:]


def line_powers(window: np.ndarray) -> np.ndarray:
    """Hann-windowed power per bin, ``(bins,)`` (bin k = k / window duration Hz)."""
    w = np.hanning(window.size + 1)[:-1]  # periodic Hann: exact 3-bin spread for integer bins
    return np.abs(np.fft.rfft(window * w)) ** 2


def _line(power: np.ndarray, b: int) -> float:
    return float(power[max(b - 1, 0): b + 2].sum())


@dataclass(frozen=True)
class Fingerprint:
    """Harmonics ``2..max_harmonic`` in dB re the fundamental (None above Nyquist), THD, aliasing."""

    freq_hz: float
    level_dbfs: float
    fundamental_dbfs: float | None
    harmonics_db: list[float | None]
    thd: float | None
    thd_db: float | None
    aliasing_db: float | None


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
    owned[:_GUARD + 1] = True  # DC
    harmonics: list[float | None] = []
    harmonic_power = 0.0
    for k in range(1, max_harmonic + 1):
        b = k * f0_bin
        if b >= nyquist_bin:
            if k > 1:
                harmonics.append(None)
            continue
        owned[max(b - _GUARD, 0): b + _GUARD + 1] = True
        if k > 1:
            pk = _line(power, b)
            harmonics.append(_db(pk / p1))
            harmonic_power += pk
    # below Nyquist, harmonics beyond max_harmonic are still harmonics, not aliasing
    for b in range((max_harmonic + 1) * f0_bin, nyquist_bin, f0_bin):
        owned[max(b - _GUARD, 0): b + _GUARD + 1] = True
    rest = float(power[~owned].sum())
    # Hann's coherent power gain: the fundamental's 3 bins hold (n/2 * amp * 0.5)^2 * 1.5
    amp = np.sqrt(p1 / 1.5) / (n / 4.0)
    thd = float(np.sqrt(harmonic_power / p1))
    return Fingerprint(
        freq_hz=spec.freq_hz, level_dbfs=spec.level_dbfs,
        fundamental_dbfs=float(20.0 * np.log10(amp)) if amp > 0 else None,
        harmonics_db=harmonics, thd=thd, thd_db=_db(thd ** 2) if thd > 0 else None,
        aliasing_db=_db(rest / p1) if rest > 0 else None,
    )


def difference_db(model: Fingerprint, reference: Fingerprint) -> list[float | None]:
    """Per harmonic, model level minus reference level in dB (None where either is undefined)."""
    return [None if m is None or r is None else m - r
            for m, r in zip(model.harmonics_db, reference.harmonics_db)]
