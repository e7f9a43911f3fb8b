"""ESR, pre-emphasised ESR and residual ESR on analytic cases (the definitions of analysis/metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import noise, sine
from distortion_bench.analysis.metrics import esr, esr_pre_emphasis, residual_esr, to_db

X = sine(440.0, 0.5, 4800).astype(np.float64)


def test_identity_scores_zero_esr_and_residual_one():
    y = np.tanh(3 * X)
    assert esr(y, y) == 0.0 and esr_pre_emphasis(y, y) == 0.0
    assert residual_esr(X, y, X) == pytest.approx(1.0)  # the dry signal misses all the effect adds
    assert residual_esr(X, y, y) == 0.0


@pytest.mark.parametrize("gain", [0.5, 0.9, 2.0])
def test_pure_gain(gain):
    # ESR of g*y against y is (1 - g)^2, whatever y is; pre-emphasis is linear, so the same
    y = noise(4800, 0.3, seed=3).astype(np.float64)
    assert esr(y, gain * y) == pytest.approx((1 - gain) ** 2, rel=1e-12)
    assert esr_pre_emphasis(y, gain * y) == pytest.approx((1 - gain) ** 2, rel=1e-12)
    # the effect is a gain of 2; an estimate with gain g misses (2 - g)^2 of the (2 - 1)^2 added
    assert residual_esr(y, 2 * y, gain * y) == pytest.approx((2 - gain) ** 2, rel=1e-12)


def test_undefined_cases_are_none_not_zero_or_huge():
    silent = np.zeros(100)
    assert esr(silent, np.ones(100)) is None
    assert residual_esr(X, X, X * 0.5) is None  # the effect added nothing
    assert to_db(None) is None and to_db(0.0) is None
    assert to_db(0.01) == pytest.approx(-20.0)
