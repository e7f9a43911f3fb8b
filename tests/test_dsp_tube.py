"""Tube saturator: independent reference, NumPy vs Numba, silence, extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfilt, sosfreqz

from conftest import SAMPLE_RATE, noise, sine
from distortion_bench.dsp import TubeSaturatorNumba, TubeSaturatorNumpy, TubeSaturatorParams

PARAMS = [
    TubeSaturatorParams(),  # default: 12 dB, bias 0.2, 4 kHz, order 2
    TubeSaturatorParams(gain_db=24.0, bias=-0.5, lowpass_hz=2000.0, lowpass_order=4),
    TubeSaturatorParams(gain_db=0.0, bias=0.0, lowpass_hz=8000.0, lowpass_order=3),  # odd order
    TubeSaturatorParams(gain_db=-6.0, bias=1.0, lowpass_hz=500.0, lowpass_order=1),
]
SIGNALS = {"noise": noise(), "sine": sine(220.0, 0.8), "quiet_sine": sine(1000.0, 0.01)}


def reference_tube(x: np.ndarray, p: TubeSaturatorParams) -> np.ndarray:
    """Written from the definition, independently of the library: float64 throughout."""
    k = 10.0 ** (p.gain_db / 20.0)
    shaped = np.tanh(k * x.astype(np.float64) + p.bias) - np.tanh(p.bias)
    sos = butter(p.lowpass_order, p.lowpass_hz, btype="low", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, shaped)


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: f"g{p.gain_db}_b{p.bias}_o{p.lowpass_order}")
@pytest.mark.parametrize("signal", sorted(SIGNALS))
@pytest.mark.parametrize("cls", [TubeSaturatorNumpy, TubeSaturatorNumba])
def test_matches_independent_reference(cls, signal, params):
    x = SIGNALS[signal]
    y = cls(params, SAMPLE_RATE).process_signal(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, reference_tube(x, params), rtol=0, atol=1e-5)


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: f"g{p.gain_db}_b{p.bias}_o{p.lowpass_order}")
@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_numpy_and_numba_agree(signal, params):
    x = SIGNALS[signal]
    a = TubeSaturatorNumpy(params, SAMPLE_RATE).process_signal(x)
    b = TubeSaturatorNumba(params, SAMPLE_RATE).process_signal(x)
    assert np.max(np.abs(a - b)) <= 1e-6


@pytest.mark.parametrize("cls", [TubeSaturatorNumpy, TubeSaturatorNumba])
def test_silence_in_gives_silence_out(cls):
    effect = cls(TubeSaturatorParams(bias=0.7), SAMPLE_RATE)
    y = effect.process_signal(np.zeros(4096, dtype=np.float32))
    assert np.all(y == 0.0)  # exactly: the bias offset tanh(bias) is removed before filtering


@pytest.mark.parametrize("cls", [TubeSaturatorNumpy, TubeSaturatorNumba])
def test_extreme_input_stays_finite_and_bounded(cls):
    x = np.concatenate([np.linspace(-100, 100, 4096), noise(4096, 100.0)]).astype(np.float32)
    x[::97] = 100.0
    x[1::89] = -100.0
    p = TubeSaturatorParams(gain_db=30.0, bias=0.5, lowpass_order=4)
    y = cls(p, SAMPLE_RATE).process_signal(x)
    assert np.isfinite(y).all()
    # tanh(.) - tanh(bias) lies in (-1 - tanh b, 1 - tanh b); a Butterworth low-pass overshoots
    # a step by well under 50 %, so the output stays inside 1.5x that range.
    assert np.abs(y).max() < 1.5 * (1.0 + np.tanh(0.5))


def test_bias_adds_even_harmonics():
    """Asymmetry from the bias: the 2nd harmonic of a 500 Hz sine is strong only with bias."""
    x = sine(500.0, 0.5, n=SAMPLE_RATE)

    def h2_db(bias: float) -> float:
        y = TubeSaturatorNumba(TubeSaturatorParams(bias=bias), SAMPLE_RATE).process_signal(x)
        spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
        return 20 * np.log10(spectrum[1000] / spectrum[500])  # 1 Hz bins: 1 kHz vs 500 Hz

    assert h2_db(0.0) < -80.0
    assert h2_db(0.3) > -40.0


def test_lowpass_attenuates_above_cutoff():
    """A quiet (nearly linear) 12 kHz sine through a 4 kHz order-2 low-pass loses > 15 dB."""
    p = TubeSaturatorParams(gain_db=0.0, bias=0.0)
    x = sine(12000.0, 0.001, n=SAMPLE_RATE)
    y = TubeSaturatorNumba(p, SAMPLE_RATE).process_signal(x)
    # RMS over whole periods after the transient (4 samples per period: peaks depend on phase).
    gain_db = 20 * np.log10(np.sqrt(np.mean(y[4800:] ** 2) / np.mean(x[4800:].astype(np.float64) ** 2)))
    _, h = sosfreqz(butter(2, 4000.0, fs=SAMPLE_RATE, output="sos"), worN=[12000.0], fs=SAMPLE_RATE)
    assert gain_db < -15.0
    assert abs(gain_db - 20 * np.log10(np.abs(h[0]))) < 0.1
