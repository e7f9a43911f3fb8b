"""portable_math: within a few ulp of NumPy, exact where it must be, and of the same kind."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from distortion_bench import portable_math as pm

RNG = np.random.default_rng(7)


def ulp_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want) / np.spacing(np.abs(want))))


def test_exp_and_log_within_two_ulp():
    x = RNG.uniform(-700.0, 700.0, 100_000)
    assert ulp_error(pm.exp(x), np.exp(x)) <= 2.0
    y = np.exp(RNG.uniform(-700.0, 700.0, 100_000))
    assert ulp_error(pm.log(y), np.log(y)) <= 2.0


def test_sin_cos_tanh_within_a_few_ulp_of_unit_scale():
    x = RNG.uniform(-1e5, 1e5, 100_000)  # phases as large as a 4 s sweep's
    assert np.max(np.abs(pm.sin(x) - np.sin(x))) <= 4.5e-16
    assert np.max(np.abs(pm.cos(x) - np.cos(x))) <= 4.5e-16
    t = RNG.uniform(-20.0, 20.0, 100_000)
    assert ulp_error(pm.tanh(t), np.tanh(t)) <= 4.0


def test_exact_values_and_special_inputs():
    assert pm.exp(0.0) == 1.0 and pm.log(1.0) == 0.0 and pm.sin(0.0) == 0.0 and pm.cos(0.0) == 1.0
    assert pm.tanh(0.0) == 0.0 and pm.tanh(-30.0) == -1.0
    assert isinstance(pm.exp(1.0), float) and pm.exp(np.array([1.0])).shape == (1,)
    got = pm.exp(np.array([np.nan, np.inf, -np.inf, 800.0]))
    assert np.isnan(got[0]) and got[1] == np.inf and got[2] == 0.0 and got[3] == np.inf
    assert list(pm.log(np.array([0.0, np.inf]))) == [-np.inf, np.inf] and np.isnan(pm.log(-1.0))
    assert pm.db_to_amplitude(-6.0) == pytest.approx(10 ** (-6 / 20), rel=1e-15)
    with pytest.raises(ValueError, match="base must be > 0"):
        pm.power(-2.0, 0.5)
    with pytest.raises(ValueError, match="must stay below"):
        pm.sin(1e9)


def test_kaiser_fir_matches_scipy_firwin():
    for taps, cutoff in ((321, 1 / 160), (21, 0.5), (41, 1 / 2)):
        want = scipy.signal.firwin(taps, cutoff, window=("kaiser", 5.0))
        assert np.max(np.abs(pm.kaiser_lowpass_fir(taps, cutoff) - want)) <= 1e-15 * np.max(np.abs(want)) * 8
