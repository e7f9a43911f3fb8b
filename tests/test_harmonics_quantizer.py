"""The fingerprint of a quantizer against the alias-free truth: test sines chosen so that no
aliased partial lands on a harmonic bin, and harmonics below the floor reported as bounds."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import compose
from distortion_bench.analysis.harmonics import (
    SineSpec,
    alias_collisions,
    check_alias_free,
    difference_measured,
    fingerprint,
    first_exact_collision,
    make_sine,
)
from distortion_bench.analysis.quantizer_reference import staircase_sine_harmonics, staircase_sine_harmonics_db
from distortion_bench.bench.comparison import _harmonic_cell
from distortion_bench.bench.measure import sine_specs
from distortion_bench.dsp.bitcrush import BitcrusherNumba
from distortion_bench.dsp.params import BitcrusherParams
from distortion_bench.errors import ConfigError

SR = 48000


def crushed_fingerprint(freq: float, level: float, bits: int):
    spec = SineSpec(freq, level, window_seconds=1.0, settle_seconds=0.05)
    x = make_sine(spec, SR)
    effect = BitcrusherNumba(BitcrusherParams(bits=bits, downsample=1), SR)
    y, _ = effect.process(x, effect.initial_state())
    truth = staircase_sine_harmonics_db(float(np.float32(10 ** (level / 20))), bits, 10)
    return fingerprint(y, spec, SR), truth


def test_the_analytic_staircase_matches_brute_force_oversampling():
    # 2^22 points per period of the continuous staircase: its DFT is the Fourier series, with
    # partials above 2^21 folding back at a level far below the ones compared
    n = 2**22
    phase = 2 * np.pi * (np.arange(n) + 0.5) / n
    for amplitude, bits in ((0.3, 4), (0.5, 8), (1.0, 4)):
        scale = 2.0 ** (bits - 1)
        y = np.clip(np.floor(amplitude * np.sin(phase) * scale + 0.5), -scale, scale - 1) / scale
        brute = 2 * np.abs(np.fft.rfft(y)[1:8]) / n
        np.testing.assert_allclose(staircase_sine_harmonics(amplitude, bits, 7), brute, rtol=2e-4, atol=1e-7)
    # a symmetric staircase has no even harmonics; the clipped 0 dBFS one has
    assert staircase_sine_harmonics(0.5, 8, 4)[1] < 1e-12
    assert staircase_sine_harmonics(1.0, 8, 4)[1] > 1e-4


def test_a_frequency_that_divides_the_sample_rate_folds_every_partial_onto_a_harmonic():
    spec = SineSpec(1000.0, -24.0)
    assert len(alias_collisions(spec, SR, 10_000)) > 9000
    with pytest.raises(
        ValueError, match=r"sine 1000 Hz: its partial 25 .* nearest clean frequencies: 1004 Hz, 1006 Hz"
    ):
        check_alias_free(spec, SR, 10_000)
    for freq in (116.0, 436.0, 1004.0, 5003.0):  # 1 s windows: clean up to 10,000 ...
        assert alias_collisions(SineSpec(freq, -6.0), SR, 10_000) == []
    # ... but only just: 116 Hz collides exactly from order 12,000 - 206 on (onto H206)
    assert first_exact_collision(SineSpec(116.0, -6.0), SR) == 11_794
    assert alias_collisions(SineSpec(116.0, -6.0), SR, 12_000)[0] == 11_794


def test_the_configured_sines_collide_far_above_the_alias_free_order():
    specs, alias = sine_specs(compose())
    order = int(compose().bench.quality.sines.alias_free_order)
    for spec in [*specs, alias]:
        first = first_exact_collision(spec, SR)
        assert first >= 4 * order, (spec.freq_hz, first)
        # nothing comes within the collision distance before the first exact collision
        assert alias_collisions(spec, SR, first - 1) == []


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("freq", [116.0, 436.0, 1004.0])
@pytest.mark.parametrize("level", [-24.0, -12.0, -6.0])
def test_measured_harmonics_of_the_dsp_equal_the_alias_free_truth(bits, freq, level):
    fp, truth = crushed_fingerprint(freq, level, bits)
    measured = [(k + 2, got, want) for k, (got, want, m) in enumerate(zip(fp.harmonics_db, truth, fp.measured)) if m]
    if bits == 4 or level == -24.0:
        assert len(measured) >= 2  # the odd harmonics of a coarse staircase stand well above its floor
    for k, got, want in measured:
        # the floor's power, added in the worst phase, is all that may move a measured level
        bound = 20 * np.log10(1 + 10 ** ((fp.floor_db - got) / 20)) + 0.05
        assert abs(got - want) <= bound, f"H{k}: {got:.2f} vs {want:.2f} dB, floor {fp.floor_db:.1f}"
    for want, m in zip(truth, fp.measured):
        if m is False:  # a level at the floor is only known to lie below it
            assert min(want, -120.0) < fp.floor_db + 10.0 + 3.0


def test_the_old_1000_hz_sine_misread_the_quantizer():
    """The defect this replaces, kept visible: at 1000 Hz the aliased partials sit on the harmonic
    bins (8 bits, -24 dBFS: H7 read ~25 dB too loud, H3 read as the floor) and no aliasing shows."""
    spec = SineSpec(1000.0, -24.0, window_seconds=1.0, settle_seconds=0.05)
    effect = BitcrusherNumba(BitcrusherParams(bits=8, downsample=1), SR)
    y, _ = effect.process(make_sine(spec, SR), effect.initial_state())
    fp = fingerprint(y, spec, SR)
    truth = staircase_sine_harmonics_db(float(np.float32(10 ** (-24 / 20))), 8, 10)
    assert fp.harmonics_db[5] - truth[5] > 20.0  # H7
    assert fp.harmonics_db[1] == -120.0 and truth[1] > -60.0  # H3
    assert fp.aliasing_db == -120.0


def test_the_configured_sines_are_checked():
    cfg = compose("bench.quality.sines.freqs_hz=[1000.0]", "bench.quality.plot_freq_hz=1000.0")
    with pytest.raises(ConfigError, match=r"bench\.quality \(alias_free_order 10000\): sine 1000 Hz"):
        sine_specs(cfg)
    # the harmonics plot's sine must be one of them (else the plot would silently not be drawn)
    with pytest.raises(ConfigError, match=r"bench\.quality\.plot_freq_hz: 440 Hz is not one of the fingerprint sines"):
        sine_specs(compose("bench.quality.plot_freq_hz=440.0"))
    specs, alias = sine_specs(compose())
    assert {s.freq_hz for s in specs} == {113.0, 439.0, 1009.0} and alias.freq_hz == 5003.0
    assert {s.window_seconds for s in specs} == {4.0}


def test_differences_at_the_floor_are_bounds_not_measurements():
    fine, _ = crushed_fingerprint(436.0, -24.0, 8)  # 8 bits: H3 and H9 measured, H5 and H7 at the floor
    coarse, _ = crushed_fingerprint(436.0, -24.0, 4)  # 4 bits: every odd harmonic measured
    assert difference_measured(coarse, fine) == [False, True, False, False, False, False, False, True, False]
    assert _harmonic_cell(4.0, None) == "4.0 dB"
    assert _harmonic_cell(4.0, 30.0) == "4.0 dB (floor-bounded: 30.0 dB)"
    assert _harmonic_cell(None, 12.5) == "n/a (floor-bounded: 12.5 dB)"
    assert _harmonic_cell(8.0, 3.0) == "8.0 dB"
