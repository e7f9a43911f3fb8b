"""Harmonic fingerprint, THD and aliasing on analytic cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from distortion_bench.analysis.harmonics import FLOOR_DB, SineSpec, difference_db, fingerprint, make_sine

SR = 48000
SPEC = SineSpec(1000.0, -6.0, window_seconds=1.0, settle_seconds=0.1)


def tanh_sine_harmonic(amplitude: float, k: int) -> float:
    """k-th Fourier sine coefficient of tanh(A sin t), by numerical integration (independent of FFTs)."""
    return 2.0 / np.pi * quad(lambda t: np.tanh(amplitude * np.sin(t)) * np.sin(k * t), 0.0, np.pi, limit=200)[0]


def test_identity_has_no_harmonics_and_the_right_level():
    fp = fingerprint(make_sine(SPEC, SR), SPEC, SR)
    assert fp.fundamental_dbfs == pytest.approx(-6.0, abs=1e-3)
    assert all(h == FLOOR_DB for h in fp.harmonics_db)
    assert fp.thd < 1e-5 and fp.aliasing_db <= -110.0


def test_pure_gain_moves_the_fundamental_only():
    fp = fingerprint(0.5 * make_sine(SPEC, SR), SPEC, SR)
    assert fp.fundamental_dbfs == pytest.approx(-6.0 - 6.0206, abs=1e-3)
    assert fp.thd < 1e-5


@pytest.mark.parametrize("drive", [1.0, 4.0])
def test_tanh_of_a_sine_matches_its_fourier_series(drive):
    x = make_sine(SPEC, SR).astype(np.float64)
    amplitude = drive * 10 ** (-6.0 / 20)
    fp = fingerprint(np.tanh(drive * x), SPEC, SR)
    b1 = tanh_sine_harmonic(amplitude, 1)
    for k in (3, 5, 7):
        want = 20 * np.log10(abs(tanh_sine_harmonic(amplitude, k)) / b1)
        if want > -100:
            assert fp.harmonics_db[k - 2] == pytest.approx(want, abs=0.05), k
    for k in (2, 4, 6, 8, 10):  # odd-symmetric: no even harmonics
        assert fp.harmonics_db[k - 2] < -100
    want_thd = np.sqrt(sum(tanh_sine_harmonic(amplitude, k) ** 2 for k in range(2, 11))) / abs(b1)
    assert fp.thd == pytest.approx(want_thd, rel=1e-3)


def test_planted_alias_is_measured_and_harmonics_are_not():
    t = np.arange(round(1.1 * SR)) / SR
    # a 3rd harmonic at -40 dB (a harmonic, not aliasing) and a partial at 7777 Hz at -60 dB,
    # where the 9th harmonic of 1 kHz would fold to if the sample rate were 16777 Hz
    y = np.sin(2 * np.pi * 1000 * t) + 0.01 * np.sin(2 * np.pi * 3000 * t) + 0.001 * np.sin(2 * np.pi * 7777 * t)
    fp = fingerprint(y, SPEC, SR)
    assert fp.harmonics_db[1] == pytest.approx(-40.0, abs=0.01)
    assert fp.aliasing_db == pytest.approx(-60.0, abs=0.05)


def test_harmonics_above_nyquist_are_none():
    spec = SineSpec(9000.0, -6.0)
    fp = fingerprint(np.tanh(3 * make_sine(spec, SR)), spec, SR)
    assert fp.harmonics_db[0] is not None  # 18 kHz
    assert fp.harmonics_db[1:] == [None] * 8  # 27 kHz and up have aliased
    assert fp.aliasing_db > -100  # and they fold back as aliasing (tanh is computed at 48 kHz)


def test_difference_and_bad_frequency():
    a = fingerprint(np.tanh(2 * make_sine(SPEC, SR)), SPEC, SR)
    b = fingerprint(np.tanh(3 * make_sine(SPEC, SR)), SPEC, SR)
    d = difference_db(a, b)
    assert d[1] == pytest.approx(a.harmonics_db[1] - b.harmonics_db[1])
    with pytest.raises(ValueError, match="whole number of cycles"):
        SineSpec(1000.5, -6.0).check(SR)
