"""Knobs on the DSP effects: changes between buffers and per-sample trajectories, smoothed, streamed
in any buffer sizes with the same result, refused with a clear error when out of range."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLE_RATE, noise
from distortion_bench.analysis.clicks import click_energy_db
from distortion_bench.dsp import build_effect
from distortion_bench.dsp.knobs import KnobError, KnobSpace, KnobSpec, knob_space_from_config, smoothing_coefficient
from distortion_bench.errors import ConfigError

TUBE = {"kind": "tube_saturator", "gain_db": 12.0, "bias": 0.2}
CRUSH = {"kind": "bitcrusher", "bits": 8}
N = 6000


def tone(level_dbfs: float = -30.0, freq: float = 110.0, n: int = SAMPLE_RATE) -> np.ndarray:
    return (10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * np.arange(n) / SAMPLE_RATE)).astype(np.float32)


def trajectory() -> dict[str, np.ndarray]:
    """A gain ramp 0 -> 24 dB with a step back to 6 dB, and a bias ramp 0.5 -> 0."""
    gain = np.concatenate([np.linspace(0.0, 24.0, N // 2), np.full(N - N // 2, 6.0)])
    return {"gain_db": gain, "bias": np.linspace(0.5, 0.0, N)}


def cuts(size: int, n: int = N, seed: int = 3) -> list[int]:
    if size:
        return [size]
    return np.random.default_rng(seed).integers(1, 700, size=n).tolist()


@pytest.mark.parametrize("implementation", ["numba", "numpy"])
@pytest.mark.parametrize("size", [1, 32, 512, 0], ids=["1", "32", "512", "random"])
def test_a_trajectory_streamed_in_buffers_equals_it_whole(implementation, size):
    effect = build_effect(TUBE, SAMPLE_RATE, implementation)
    x = noise(N, 0.5, seed=2)
    whole = effect.process_automation(x, trajectory(), [N])
    np.testing.assert_array_equal(effect.process_automation(x, trajectory(), cuts(size)), whole)
    # it follows the knobs: far from the fixed setting's output while the gain is near 0 dB
    fixed = effect.process_signal(x)
    assert np.max(np.abs(whole[:500] - fixed[:500])) > 0.1


@pytest.mark.parametrize("size", [1, 32, 512, 0], ids=["1", "32", "512", "random"])
def test_bits_trajectory_streamed_equals_whole_and_each_run_is_that_word_length(size):
    effect = build_effect(CRUSH, SAMPLE_RATE, "numba")
    x = noise(N, 0.6, seed=5)
    bits = np.repeat([4.0, 12.0, 6.0], [1000, 2500, N - 3500])
    whole = effect.process_automation(x, {"bits": bits}, [N])
    np.testing.assert_array_equal(effect.process_automation(x, {"bits": bits}, cuts(size)), whole)
    for value, span in ((4, slice(0, 1000)), (12, slice(1000, 3500)), (6, slice(3500, N))):
        crusher = build_effect({**CRUSH, "bits": value}, SAMPLE_RATE, "numba")
        np.testing.assert_array_equal(whole[span], crusher.process_signal(x)[span])


@pytest.mark.parametrize("implementation", ["numba", "numpy"])
def test_without_smoothing_a_change_equals_building_the_effect_anew_between_buffers(implementation):
    """Smoothing 0 is the old behaviour, bit for bit: the next buffer runs at the new setting."""
    x = noise(4000, 0.5, seed=1)
    effect = build_effect({**TUBE, "smoothing_ms": 0.0}, SAMPLE_RATE, implementation)
    state, out = effect.initial_state(), np.empty_like(x)
    effect.process(x[:1500], state, out[:1500])
    effect.set_knobs(state, gain_db=18.0, bias=0.1)
    effect.process(x[1500:], state, out[1500:])
    first = build_effect(TUBE, SAMPLE_RATE, implementation)
    second = build_effect({**TUBE, "gain_db": 18.0, "bias": 0.1}, SAMPLE_RATE, implementation)
    ref_state, ref = first.initial_state(), np.empty_like(x)
    first.process(x[:1500], ref_state, ref[:1500])
    carried = second.initial_state()
    carried.zi[...] = ref_state.zi  # the filter state carries over, the knobs are the new effect's
    second.process(x[1500:], carried, ref[1500:])
    np.testing.assert_array_equal(out, ref)


def test_knobs_never_moved_give_the_fixed_setting_and_a_smoothed_change_settles_on_it():
    x = noise(20000, 0.5, seed=7)
    effect = build_effect(TUBE, SAMPLE_RATE, "numba")
    state, out = effect.initial_state(), np.empty_like(x)
    effect.process(x, state, out)
    np.testing.assert_array_equal(out, build_effect(TUBE, SAMPLE_RATE, "numba").process_signal(x))
    effect.set_knobs(state, gain_db=6.0)
    effect.process(x, state, out)
    assert effect.knob_values(state)["gain_db"] == pytest.approx(6.0, abs=1e-9)
    assert effect._settled(state)  # exactly on the target: the fixed-setting kernel runs again


def test_numpy_and_numba_follow_the_same_trajectory():
    x = noise(N, 0.5, seed=2)
    a = build_effect(TUBE, SAMPLE_RATE, "numba").process_automation(x, trajectory(), [256])
    b = build_effect(TUBE, SAMPLE_RATE, "numpy").process_automation(x, trajectory(), [256])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_smoothing_takes_the_click_out_of_a_gain_step():
    """A 12 dB gain step of a quiet 110 Hz tone: with the default 10 ms smoothing the 10 ms after
    it hold <= -60 dB of energy above 2 kHz (re the signal); the same step unsmoothed, >= 25 dB more."""
    x, at = tone(), 24_050

    def stepped(smoothing_ms: float) -> np.ndarray:
        effect = build_effect({**TUBE, "gain_db": 0.0, "smoothing_ms": smoothing_ms}, SAMPLE_RATE, "numba")
        state, out = effect.initial_state(), np.empty_like(x)
        effect.process(x[:at], state, out[:at])
        effect.set_knobs(state, gain_db=12.0)
        effect.process(x[at:], state, out[at:])
        return out

    smooth, hard = click_energy_db(stepped(10.0), at, SAMPLE_RATE), click_energy_db(stepped(0.0), at, SAMPLE_RATE)
    steady = click_energy_db(stepped(10.0), at + 9600, SAMPLE_RATE)
    assert smooth <= -60.0 and hard >= smooth + 25.0 and steady < smooth, (smooth, hard, steady)


@pytest.mark.parametrize(
    "values, match",
    [
        ({"volume": 1.0}, r"knob 'volume': unknown knob; expected one of \['gain_db', 'bias'\]"),
        ({"gain_db": 30.0}, r"knob 'gain_db': expected a number in 0\.\.24 dB, got 30\.0"),
        ({"bias": float("nan")}, r"knob 'bias': expected a number in 0\.\.0\.5, got nan"),
        ({"gain_db": "loud"}, r"knob 'gain_db': expected a number in 0\.\.24 dB, got 'loud'"),
    ],
)
def test_bad_knob_values_are_refused_naming_the_knob_and_its_range(values, match):
    effect = build_effect(TUBE, SAMPLE_RATE, "numba")
    state = effect.initial_state()
    with pytest.raises(KnobError, match=match):
        effect.set_knobs(state, **values)
    assert effect._settled(state) and state.knob[0] == effect.gain  # nothing half-applied


def test_bad_trajectories_are_refused():
    effect = build_effect(CRUSH, SAMPLE_RATE, "numba")
    x = noise(100, 0.5)
    with pytest.raises(KnobError, match=r"trajectory 'bits': expected an integer in 4\.\.12 bits, got 3\.0"):
        effect.process_trajectory(x, {"bits": np.full(100, 3.0)}, effect.initial_state())
    with pytest.raises(KnobError, match=r"trajectory 'bits': expected an integer in 4\.\.12 bits, got a fractional"):
        effect.process_trajectory(x, {"bits": np.full(100, 6.5)}, effect.initial_state())
    with pytest.raises(ValueError, match=r"trajectory 'bits': expected shape \(100,\) like the buffer"):
        effect.process_trajectory(x, {"bits": np.full(99, 6.0)}, effect.initial_state())


def test_knob_space_from_config():
    space = knob_space_from_config(
        {"gain_db": {"min": 0, "max": 24}, "bias": {"min": 0.0, "max": 0.5, "scale": "linear"}},
        {"gain_db": "dB", "bias": ""},
        "effects.tube.knobs",
    )
    assert space == KnobSpace((KnobSpec("gain_db", 0.0, 24.0, "linear", "dB"), KnobSpec("bias", 0.0, 0.5)))
    effect = build_effect({**TUBE, "knobs": {"gain_db": {"min": 6, "max": 12}}}, SAMPLE_RATE, "numba")
    with pytest.raises(KnobError, match=r"expected a number in 6\.\.12 dB, got 3"):
        effect.set_knobs(effect.initial_state(), gain_db=3)
    for cfg, match in (
        ({"drive": {"min": 0, "max": 1}}, r"effects\.tube\.knobs\.drive: not a knob of this effect"),
        ({"gain_db": {"min": 5, "max": 5}}, r"effects\.tube\.knobs\.gain_db: expected min < max"),
        ({"gain_db": {"min": 0, "max": 24, "scale": "cubic"}}, r"\.scale: expected one of"),
        ({"gain_db": {"min": 0, "max": 24, "scale": "log"}}, r"a log scale needs min > 0"),
    ):
        with pytest.raises(ConfigError, match=match):
            build_effect({**TUBE, "knobs": cfg}, SAMPLE_RATE, "numba", key="effects.tube")
    with pytest.raises(ConfigError, match=r"effects\.tube\.smoothing_ms: expected a time constant in 0\.\.10000 ms"):
        build_effect({**TUBE, "smoothing_ms": -1}, SAMPLE_RATE, "numba", key="effects.tube")


def test_smoothing_coefficient():
    assert smoothing_coefficient(0.0, SAMPLE_RATE) == 0.0
    a = smoothing_coefficient(0.01, SAMPLE_RATE)
    assert a ** (0.01 * SAMPLE_RATE) == pytest.approx(np.exp(-1.0), rel=1e-9)  # 63 % of the way in tau


def test_processors_take_knobs_and_pedalboard_follows_where_it_can():
    from conftest import compose
    from distortion_bench.engine.registry import build_processor

    cfg = compose()
    x = noise(2048, 0.5, seed=4)
    numba = build_processor("numba:tube", cfg)
    numba.process_buffer(x[:1024])
    numba.set_knobs(gain_db=18.0)
    moved = numba.process_buffer(x[1024:]).copy()
    numba.reset()  # back to the configured setting
    numba.process_buffer(x[:1024])
    assert np.max(np.abs(numba.process_buffer(x[1024:]) - moved)) > 0.01
    pb = build_processor("pedalboard:tube", cfg)
    before = pb.process_signal(x, 512)
    pb.set_knobs(gain_db=0.0)
    assert pb.board[0].drive_db == 0.0
    assert np.max(np.abs(pb.process_signal(x, 512, reset=False) - before)) > 0.01
    with pytest.raises(KnobError, match=r"pedalboard: knob 'bias' cannot be set"):
        pb.set_knobs(bias=0.1)
    with pytest.raises(KnobError, match=r"knob 'gain_db': expected a number in 0\.\.24 dB, got 40"):
        pb.set_knobs(gain_db=40)
    crush = build_processor("pedalboard:bitcrush", cfg)
    crush.set_knobs(bits=6)
    assert crush.board[0].bit_depth == 5
    from distortion_bench.engine.processor import Processor

    class Wire(Processor):  # a processor that says nothing about knobs
        def process_buffer(self, x):
            return x

        def reset(self):
            pass

        def facts(self):
            raise NotImplementedError

    with pytest.raises(KnobError, match=r"Wire has no knobs; got \['gain_db'\]"):
        Wire().set_knobs(gain_db=1.0)


def test_the_training_design_covers_the_space_and_the_held_out_grid_is_disjoint():
    from distortion_bench.data.knob_design import corners, held_out_grid, training_settings
    from distortion_bench.dsp.tube import DEFAULT_TUBE_KNOBS

    space = DEFAULT_TUBE_KNOBS
    design = training_settings(space, 40, seed=7)
    assert design == training_settings(space, 40, seed=7)  # deterministic
    assert design != training_settings(space, 40, seed=8)
    assert design[:4] == corners(space) and len(design) == 40
    grid = held_out_grid(space)
    assert len(grid) == 25 and grid[0] == pytest.approx({"gain_db": 2.4, "bias": 0.05})
    assert grid[-1] == pytest.approx({"gain_db": 21.6, "bias": 0.45})
    assert not {tuple(s.values()) for s in design} & {tuple(g.values()) for g in grid}
    gains = np.array([s["gain_db"] for s in design])
    biases = np.array([s["bias"] for s in design])
    # space-filling: every fifth of each range holds some training settings
    assert all(np.any((gains >= 4.8 * i) & (gains <= 4.8 * (i + 1))) for i in range(5))
    assert all(np.any((biases >= 0.1 * i) & (biases <= 0.1 * (i + 1))) for i in range(5))
    assert gains.min() == 0.0 and gains.max() == 24.0


def test_integer_and_log_knobs_in_the_design():
    from distortion_bench.data.knob_design import held_out_grid, training_settings

    bits = KnobSpace((KnobSpec("bits", 4.0, 12.0, "integer", "bits"),))
    assert [g["bits"] for g in held_out_grid(bits)] == [float(b) for b in range(4, 13)]
    design = training_settings(bits, 20, seed=1)
    assert {s["bits"] for s in design} == set(map(float, range(4, 13)))  # every word length trained
    counts = np.bincount([int(s["bits"]) for s in training_settings(bits, 90, seed=1)], minlength=13)[4:]
    assert counts.min() >= 8 and counts.max() <= 12, counts  # each word length about equally (90 / 9)
    cutoff = KnobSpace((KnobSpec("lowpass_hz", 2000.0, 8000.0, "log", "Hz"),))
    centres = [g["lowpass_hz"] for g in held_out_grid(cutoff, 2)]
    assert centres == pytest.approx([2000.0 * 4**0.25, 2000.0 * 4**0.75])  # even in the logarithm


def test_the_configured_knob_spaces_are_the_effects_and_leave_the_fixed_setting_alone():
    from conftest import compose
    from distortion_bench.config import plain
    from distortion_bench.dsp.bitcrush import DEFAULT_BITCRUSH_KNOBS
    from distortion_bench.dsp.tube import DEFAULT_TUBE_KNOBS

    cfg = compose()
    tube = build_effect(plain(cfg.effects.tube), SAMPLE_RATE, "numba", key="effects.tube")
    crush = build_effect(plain(cfg.effects.bitcrush), SAMPLE_RATE, "numba", key="effects.bitcrush")
    assert tube.knobs == DEFAULT_TUBE_KNOBS and crush.knobs == DEFAULT_BITCRUSH_KNOBS
    assert tube.smoothing == smoothing_coefficient(0.01, SAMPLE_RATE)
    # the render manifest's parameters: the fixed setting only
    assert tube.describe()["gain_db"] == 12.0 and "knobs" not in tube.describe()
    x = noise(3000, 0.5, seed=9)
    np.testing.assert_array_equal(tube.process_signal(x), build_effect(TUBE, SAMPLE_RATE, "numba").process_signal(x))


def test_click_energy_refuses_a_window_outside_the_signal():
    y = tone(n=4800)
    with pytest.raises(ValueError, match=r"window \[4500, 4980\) is outside the signal of 4800 samples"):
        click_energy_db(y, 4500, SAMPLE_RATE)
    with pytest.raises(ValueError, match=r"window \[-1, 479\)"):
        click_energy_db(y, -1, SAMPLE_RATE)
