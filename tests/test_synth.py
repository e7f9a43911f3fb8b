"""The dry-corpus synthesizer: seeded, level-spanning, pitched where it should be, silent tails."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLE_RATE, compose
from distortion_bench.config import plain
from distortion_bench.errors import ConfigError
from distortion_bench.synth import synthesize_corpus
from distortion_bench.synth.guitar import loss_for_t60, midi_to_hz
from distortion_bench.synth.karplus_strong import pluck
from distortion_bench.synth.measurement import log_sweep, noise_bursts, tone


@pytest.fixture(scope="module")
def default_corpus():
    return list(synthesize_corpus(plain(compose().data.synth), SAMPLE_RATE, seed=7))


def peak_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(x).max()))


def test_same_seed_same_audio_other_seed_other_audio():
    synth = plain(compose("experiment=smoke").data.synth)
    a = list(synthesize_corpus(synth, SAMPLE_RATE, seed=1))
    b = list(synthesize_corpus(synth, SAMPLE_RATE, seed=1))
    c = list(synthesize_corpus(synth, SAMPLE_RATE, seed=2))
    assert [t.name for t in a] == [t.name for t in b]
    assert all(np.array_equal(x.samples, y.samples) for x, y in zip(a, b))
    guitar = [i for i, t in enumerate(a) if t.category == "pluck"]
    assert not any(np.array_equal(a[i].samples, c[i].samples) for i in guitar)


def test_default_corpus_covers_every_material_and_level(default_corpus):
    categories = {t.category for t in default_corpus}
    assert categories == {"pluck", "chord", "palm_mute", "slide", "bass", "sweep", "tone", "noise"}
    for category in ("pluck", "chord", "palm_mute", "slide", "bass"):
        peaks = sorted(peak_db(t.samples) for t in default_corpus if t.category == category)
        # Stratified over [-40, 0] dBFS: the quietest and the hottest slices are both present.
        assert -40.0 <= peaks[0] < -32.0 and -8.0 < peaks[-1] <= 0.0
    all_peaks = [peak_db(t.samples) for t in default_corpus]
    assert min(all_peaks) == pytest.approx(-40.0, abs=0.01) and max(all_peaks) == pytest.approx(0.0, abs=0.01)
    total = sum(t.samples.size for t in default_corpus) / SAMPLE_RATE
    assert 240.0 < total < 420.0  # about five minutes of material


def test_takes_are_float32_finite_and_end_in_silence(default_corpus):
    for take in default_corpus:
        assert take.samples.dtype == np.float32 and np.isfinite(take.samples).all()
        assert np.abs(take.samples[-48:]).max() < 1e-4, take.name  # last millisecond below -80 dBFS


def spectral_centroid_hz(x: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    return float((np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE) * power).sum() / power.sum())


def test_registers_are_guitar_and_bass_like(default_corpus):
    """A DI guitar is centred around 1-2 kHz; the bass takes sit clearly lower."""
    guitar = [spectral_centroid_hz(t.samples) for t in default_corpus if t.category == "pluck"]
    bass = [spectral_centroid_hz(t.samples) for t in default_corpus if t.category == "bass"]
    assert 800.0 < np.median(guitar) < 2500.0
    assert max(bass) < 1200.0 and np.median(bass) < 0.7 * np.median(guitar)


@pytest.mark.parametrize("midi", [28, 40, 57, 76])
def test_karplus_strong_sounds_at_its_pitch_and_decays(midi):
    f0 = midi_to_hz(midi)
    n, period = SAMPLE_RATE, SAMPLE_RATE / f0
    excitation = np.zeros(n)
    excitation[: int(period)] = np.random.default_rng(0).uniform(-1, 1, int(period))
    y = pluck(np.full(n, period), excitation, loss_for_t60(0.5, f0), 0.5)
    # The period is the lag of the strongest autocorrelation peak (searching 0.5..1.5 periods);
    # the averaging loop filter adds half a sample of delay.
    seg = y[: n // 4]
    lags = np.arange(int(period * 0.5), int(period * 1.5))
    ac = np.array([np.dot(seg[:-lag], seg[lag:]) for lag in lags])
    assert abs(lags[np.argmax(ac)] - (period + 0.5)) <= 1.0
    # T60 = 0.5 s: about 60 dB down after half a second (the loop low-pass adds some loss).
    drop = 20 * np.log10(np.abs(y[:4800]).max() / np.abs(y[24000:28800]).max())
    assert 55.0 < drop < 90.0


def test_measurement_signals():
    sweep = log_sweep(1.0, 100.0, 10000.0, -6.0, SAMPLE_RATE)
    assert peak_db(sweep) == pytest.approx(-6.0, abs=0.01)

    # Instantaneous frequency from zero crossings near the start and the end of the sweep.
    def freq_at(x: np.ndarray) -> float:
        crossings = np.nonzero(np.diff(np.signbit(x)))[0]
        return SAMPLE_RATE / (2 * np.mean(np.diff(crossings)))

    assert freq_at(sweep[1000:3000]) == pytest.approx(100 * 100 ** (2000 / 48000), rel=0.05)
    assert freq_at(sweep[46000:47000]) == pytest.approx(100 * 100 ** (46500 / 48000), rel=0.05)
    t = tone(1000.0, -20.0, 0.5, SAMPLE_RATE)
    assert peak_db(t) == pytest.approx(-20.0, abs=0.01)
    assert np.all(t[-int(0.05 * SAMPLE_RATE) :] == 0.0)  # silent tail
    burst = noise_bursts(np.random.default_rng(0), -10.0, 0.5, SAMPLE_RATE)
    assert peak_db(burst) == pytest.approx(-10.0, abs=0.01)
    assert np.mean(burst == 0.0) > 0.05  # gaps between bursts


def test_bad_synth_config_names_the_key():
    synth = plain(compose("experiment=smoke").data.synth)
    synth["guitar"]["takes"]["banjo"] = 2
    with pytest.raises(ConfigError, match=r"data\.synth\.guitar\.takes\.banjo: unknown material"):
        list(synthesize_corpus(synth, SAMPLE_RATE, 1))
    synth = plain(compose("experiment=smoke").data.synth)
    synth["guitar"]["take_seconds"] = [3.0, 1.0]
    with pytest.raises(ConfigError, match=r"data\.synth\.guitar\.take_seconds: expected low <= high"):
        list(synthesize_corpus(synth, SAMPLE_RATE, 1))
