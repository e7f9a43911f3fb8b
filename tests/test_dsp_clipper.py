"""The circuit-modelled diode clipper: against an independent ODE solver, its physics, streaming,
the two implementations, bad config."""

from __future__ import annotations

import numpy as np
import pytest

from distortion_bench.data.reference_check import guitar_like
from distortion_bench.dsp.clipper_reference import band_limited_reference
from distortion_bench.dsp.diode_clipper import BOLTZMANN, CHARGE, KELVIN, DiodeClipperNumba, DiodeClipperNumpy
from distortion_bench.dsp.oversampling import FACTORS
from distortion_bench.dsp.params import DiodeClipperParams, diode_clipper_params_from_config
from distortion_bench.errors import ConfigError

SR = 48000


def esr(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sum((y - ref) ** 2) / np.sum(ref**2))


# (signal, drive volts): a low, a mid and a high sine, each where the diodes conduct hard, and a
# note whose harmonics reach 1.1 kHz. Measured ESR at factor 8: 5e-11, 3e-9, 3e-7 (the
# trapezoidal rule's error grows as (f / fs_hi)^2: at factor 16 it is 16x smaller), 1e-12.
CASES = {
    "100 Hz, 20 V": (lambda t: 0.9 * np.sin(2 * np.pi * 100 * t), 20.0),
    "1 kHz, 4 V": (lambda t: 0.9 * np.sin(2 * np.pi * 1000 * t), 4.0),
    "5 kHz, 4 V": (lambda t: 0.9 * np.sin(2 * np.pi * 5000 * t), 4.0),
    "guitar-like, 8 V": (guitar_like, 8.0),
}
#: the stated bound: at oversampling 8 the DSP is within this ESR of the solve_ivp reference
#: (after the first 3.75 ms, the start-up of the filters and of the reference's sudden input)
REFERENCE_ESR_BOUND = 1e-6


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_dsp_matches_the_solve_ivp_reference_at_oversampling_8(case):
    signal, drive = CASES[case]
    n, skip = 360, 180
    params = DiodeClipperParams(oversampling=8, drive_v=drive)
    x = signal(np.arange(n) / SR).astype(np.float32)
    y = DiodeClipperNumba(params, SR).process_signal(x)
    ref = band_limited_reference(signal, n, SR, params, rtol=1e-9, atol=1e-11)
    assert np.max(np.abs(ref[skip:])) > 0.3  # the diodes conduct: a clipped signal, not a linear one
    assert esr(y[skip:], ref[skip:]) <= REFERENCE_ESR_BOUND
    # without oversampling the same solver is far off at 5 kHz (aliases, and the warped
    # trapezoidal rule at 48 kHz): against the factor-8 output, 23 samples of latency earlier
    if case.startswith("5 kHz"):
        plain = DiodeClipperNumba(DiodeClipperParams(oversampling=1, drive_v=drive), SR).process_signal(x)
        assert esr(plain[skip - 23 : n - 23], y[skip:]) > 100 * REFERENCE_ESR_BOUND


@pytest.mark.parametrize("factor", [1, 8])
def test_newton_converges_on_a_full_scale_square_at_maximum_drive(factor):
    """The stiff case: 1000 V edges. Every sample converges within the cap, nothing is NaN, and
    the node stays under the diodes' voltage at the largest current the resistor can pass."""
    params = DiodeClipperParams(oversampling=factor, drive_v=1000.0)
    effect = DiodeClipperNumba(params, SR)
    x = np.sign(np.sin(2 * np.pi * 100 * np.arange(9600) / SR)).astype(np.float32)
    state = effect.initial_state()
    y, _ = effect.process(x, state)
    stats = effect.solver_stats(state)
    assert stats["not_converged"] == 0 and stats["iterations_max"] < params.max_iterations
    assert stats["iterations_mean"] < 5
    assert np.all(np.isfinite(y))
    vt = BOLTZMANN * (params.temperature_c + KELVIN) / CHARGE
    i_max = 2 * params.drive_v / params.resistance_ohm
    up = params.forward_diodes * params.diode_n * vt * np.log1p(i_max / params.diode_is)
    down = params.reverse_diodes * params.diode_n * vt * np.log1p(i_max / params.diode_is)
    # the decimation filter rings on the edges as a band-limited square does (Gibbs: 9 % of the
    # swing for an ideal low-pass, 11 % measured here): within 15 % of the swing
    margin = 0.15 * (up + down)
    assert y.max() / params.output_gain <= up + margin and -y.min() / params.output_gain <= down + margin
    # a sine has no edges to ring on: within 1 % of the bound
    sine = np.sin(2 * np.pi * 100 * np.arange(9600) / SR).astype(np.float32)
    z = DiodeClipperNumba(params, SR).process_signal(sine) / params.output_gain
    assert z.max() <= 1.01 * up and -z.min() <= 1.01 * down
    assert z.max() > 0.8 * up  # and it does clip near the bound


def test_small_signals_pass_through_the_rc_low_pass():
    """Diodes off (4 mV): the RC low-pass, |H| = 1 / sqrt(1 + (f / fc)^2), fc = 1 / (2 pi R C)."""
    params = DiodeClipperParams(oversampling=8)
    fc = 1.0 / (2 * np.pi * params.resistance_ohm * params.capacitance_f)
    t = np.arange(9600) / SR
    for f in (200.0, 1000.0, 5000.0):
        x = (1e-3 * np.sin(2 * np.pi * f * t)).astype(np.float32)
        y = DiodeClipperNumba(params, SR).process_signal(x)[4800:]
        gain = np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x[4800:] ** 2)) / (params.drive_v * params.output_gain)
        assert gain == pytest.approx(1 / np.sqrt(1 + (f / fc) ** 2), rel=2e-3), f


def harmonic_db(y: np.ndarray, f0: float, k: int) -> float:
    """Level of harmonic ``k`` re the fundamental, dB (a whole number of periods, Hann window)."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.shape[0])))
    freqs = np.fft.rfftfreq(y.shape[0], 1 / SR)
    at = [spectrum[np.argmin(np.abs(freqs - f0 * m))] for m in (1, k)]
    return float(20 * np.log10(at[1] / at[0]))


def test_the_asymmetry_shows_as_even_harmonics():
    t = np.arange(SR) / SR
    x = (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    asym = DiodeClipperNumba(DiodeClipperParams(drive_v=4.0), SR).process_signal(x)[24000:]
    sym = DiodeClipperNumba(DiodeClipperParams(drive_v=4.0, forward_diodes=1), SR).process_signal(x)[24000:]
    assert harmonic_db(asym, 200, 2) > -30  # two diodes up, one down: a strong 2nd harmonic
    assert harmonic_db(sym, 200, 2) < -80  # one each way: odd harmonics only
    assert harmonic_db(sym, 200, 3) > -30


@pytest.mark.parametrize("factor", FACTORS)
def test_chunked_equals_whole_and_numpy_equals_numba(factor):
    params = DiodeClipperParams(oversampling=factor, drive_v=8.0)
    x = np.random.default_rng(factor).uniform(-1, 1, 3000).astype(np.float32)
    effect = DiodeClipperNumba(params, SR)
    whole = effect.process_signal(x)
    rng = np.random.default_rng(0)
    for sizes in ([1], [32], [512], rng.integers(1, 700, 20).tolist()):
        np.testing.assert_array_equal(effect.process_in_blocks(x, sizes), whole, err_msg=str(sizes[:3]))
    reference = DiodeClipperNumpy(params, SR).process_in_blocks(x, [1000])
    # the same solver arithmetic; the filters sum in a different order (lfilter)
    np.testing.assert_allclose(reference, whole, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"resistance_ohm": -2200}, r"effects\.clipper\.resistance_ohm: expected a positive value"),
        ({"oversampling": 3}, r"effects\.clipper\.oversampling: expected one of \[1, 2, 4, 8, 16\], got 3"),
        ({"tolerance_v": 0}, r"effects\.clipper\.tolerance_v: expected a positive value"),
        ({"max_iterations": 0}, r"effects\.clipper\.max_iterations: expected an integer in 1\.\.1000"),
        ({"capacitance": 1e-8}, r"effects\.clipper: unknown parameter\(s\) \['capacitance'\]"),
    ],
)
def test_bad_config_is_refused_naming_the_key(cfg, message):
    with pytest.raises(ConfigError, match=message):
        diode_clipper_params_from_config(cfg, "effects.clipper")


def test_the_clipper_is_an_effect_and_each_oversampling_factor_a_processor():
    """``kind: diode_clipper`` builds from config (conf/effect/clipper.yaml); ``numba:<e>-os<N>``
    runs it at factor N; pedalboard has no peer and knobs are refused, each naming why."""
    from omegaconf import OmegaConf

    from distortion_bench.dsp import build_effect
    from distortion_bench.engine.registry import build_processor

    effect_cfg = OmegaConf.to_container(OmegaConf.load("conf/effect/clipper.yaml"))
    cfg = OmegaConf.create({"audio": {"sample_rate": SR}, "effects": {"clipper": effect_cfg}, "paths": {}})
    effect = build_effect(effect_cfg, SR, "numba", "effects.clipper")
    assert isinstance(effect, DiodeClipperNumba) and effect.params.oversampling == 16
    x = (0.5 * np.sin(2 * np.pi * 300 * np.arange(2048) / SR)).astype(np.float32)
    for factor in (2, 16):
        processor = build_processor(f"numba:clipper-os{factor}", cfg)
        assert processor.facts().name == f"numba:clipper-os{factor}"
        direct = DiodeClipperNumba(diode_clipper_params_from_config({**effect_cfg, "oversampling": factor}), SR)
        expected = direct.process_in_blocks(x, [256])
        got = np.concatenate([processor.process_buffer(x[s : s + 256]).copy() for s in range(0, 2048, 256)])
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ConfigError, match=r"pedalboard has no diode_clipper"):
        build_processor("pedalboard:clipper", cfg)
    with pytest.raises(ConfigError, match=r"effects\.clipper\.knobs: a diode_clipper takes no knobs yet"):
        build_effect({**effect_cfg, "knobs": {"drive_v": {"min": 1, "max": 10}}}, SR, "numba", "effects.clipper")


def test_the_latency_is_reported_and_aligned_output_lines_up_with_the_input():
    """Factors above 1 lag by 23 samples; ``process_aligned`` (what the targets and the quality
    figures use) removes it, so every factor lines up with the unfiltered factor 1, and a
    processor streaming in buffers gives the effect's aligned output."""
    from distortion_bench.engine.dsp_processors import DspProcessor

    x = (0.5 * np.sin(2 * np.pi * 220 * np.arange(4800) / SR)).astype(np.float32)
    plain = DiodeClipperNumba(DiodeClipperParams(oversampling=1), SR)
    assert plain.latency_samples() == 0
    np.testing.assert_array_equal(plain.process_aligned(x), plain.process_signal(x))
    base = plain.process_signal(x)
    for factor in (2, 16):
        effect = DiodeClipperNumba(DiodeClipperParams(oversampling=factor), SR)
        assert effect.latency_samples() == 23
        aligned = effect.process_aligned(x)
        assert aligned.shape == x.shape
        assert esr(aligned[480:], base[480:]) < 1e-4 < esr(effect.process_signal(x)[480:], base[480:])
        processor = DspProcessor(effect, "clipper")
        np.testing.assert_array_equal(processor.process_aligned(x, 64), aligned)


def test_the_render_stage_checks_the_target_against_the_reference_and_refuses_a_coarse_one():
    """``render_targets``' check (:mod:`distortion_bench.data.reference_check`): the configured
    16x target is within the bound of solve_ivp on every check signal; at 4x the 5 kHz sine is
    not, and the stage refuses it naming the keys to change. Effects without a reference pass."""
    from omegaconf import OmegaConf

    from distortion_bench.data.reference_check import ESR_BOUND, check_target

    effect_cfg = OmegaConf.to_container(OmegaConf.load("conf/effect/clipper.yaml"))
    record = check_target(effect_cfg, SR, "effects.clipper")
    assert record == {
        "reference": "scipy.integrate.solve_ivp (Radau)",
        "signals": ["100 Hz sine at 0.9", "5 kHz sine at 0.9", "plucked 110 Hz note"],
        "esr_bound": ESR_BOUND,
        "passed": True,
    }
    coarse = {**effect_cfg, "oversampling": 4}
    with pytest.raises(
        ConfigError,
        match=r"effects\.clipper: .* on the 5 kHz sine at 0\.9, above the bound 1e-06; "
        r"raise effects\.clipper\.oversampling",
    ):
        check_target(coarse, SR, "effects.clipper")
    assert check_target({"kind": "tube_saturator"}, SR, "effects.tube") is None
