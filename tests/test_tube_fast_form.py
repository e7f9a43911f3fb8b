"""The tube's fast form (float32 shaper, block low-pass) against the exact sample-by-sample
kernel the targets are rendered with: within the stated bound, chunked equal to whole bit for
bit, knobs alike, and what ``numba:tube`` builds (the quality references stay exact)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import compose, noise, sine
from distortion_bench.dsp.filters import butter_lowpass_sos
from distortion_bench.dsp.params import TubeSaturatorParams
from distortion_bench.dsp.tube import TubeSaturatorNumba
from distortion_bench.engine.dsp_processors import dsp_processor
from distortion_bench.engine.registry import build_processor
from distortion_bench.kernels.block_biquad import block_arena, block_filter_chunk, initial_block_state
from distortion_bench.kernels.tube_block import MAX_ABS_DIFFERENCE, TubeSaturatorBlock

SR = 48000
SQUARE = np.where(np.sin(2 * np.pi * 100.0 * np.arange(9600) / SR) >= 0, 1.0, -1.0).astype(np.float32)
SIGNALS = {
    "sines": sine(110.0, 0.9, 12000) + sine(3000.0, 0.05, 12000),
    "noise": noise(12000, 1.0, seed=2),
    "square": SQUARE,
}
CUTS = [1, 32, 512, 0]  # 0: random sizes


def _stream(effect, x, cut, seed=5):
    state, parts, start = effect.initial_state(), [], 0
    rng = np.random.default_rng(seed)
    while start < x.shape[0]:
        size = cut or int(rng.integers(1, 700))
        y, state = effect.process(x[start : start + size], state)
        parts.append(y.copy())
        start += size
    return np.concatenate(parts)


@pytest.fixture(scope="module", params=[(12.0, 0.2, 2), (24.0, 0.5, 4)], ids=["default", "hot-4th-order"])
def pair(request):
    gain_db, bias, order = request.param
    params = TubeSaturatorParams(gain_db=gain_db, bias=bias, lowpass_hz=4000.0, lowpass_order=order)
    exact = TubeSaturatorNumba(params, SR)
    return exact, TubeSaturatorBlock.from_exact(exact)


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_fast_form_within_the_bound_of_the_exact_one_at_every_cut(pair, signal):
    exact, fast = pair
    x = SIGNALS[signal]
    reference = _stream(exact, x, x.shape[0])
    whole = _stream(fast, x, x.shape[0])
    diff = float(np.max(np.abs(whole - reference)))
    assert diff <= MAX_ABS_DIFFERENCE, diff
    assert np.max(np.abs(reference)) > 0.1  # a real signal went through
    for cut in CUTS:
        assert _stream(fast, x, cut).tobytes() == whole.tobytes(), f"cut {cut}"


def test_block_filter_is_the_recursion_to_float64_rounding():
    """The filter alone, float64 in, against the transposed direct form II recursion
    (the exact form's filter), across block boundaries and a buffer ending mid-block."""
    sos = butter_lowpass_sos(4000.0, 4, SR)
    v = np.random.default_rng(0).uniform(-1, 1, 1000)
    z = np.zeros((sos.shape[0], 2))
    want = np.empty_like(v)
    for t, s in enumerate(v):  # scipy's sosfilt, written out
        for i, (b0, b1, b2, _, a1, a2) in enumerate(sos):
            y = b0 * s + z[i, 0]
            z[i, 0] = b1 * s - a1 * y + z[i, 1]
            z[i, 1] = b2 * s - a2 * y
            s = y
        want[t] = s
    arena, bstate = block_arena(sos), initial_block_state(sos.shape[0])
    got = np.zeros(v.shape[0], np.float32)
    for start, stop in ((0, 13), (13, 500), (500, 1000)):  # 13: ends inside a block
        work = v[start:stop].copy()
        block_filter_chunk(work, stop - start, got, start, arena, bstate)
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=0, atol=1e-7)


def test_knobs_turning_glide_like_the_exact_form(pair):
    exact, fast = pair
    x = noise(6000, 0.8, seed=3)
    out = []
    for effect in (exact, fast):
        state = effect.initial_state()
        y1, state = effect.process(x[:2000], state)
        effect.set_knobs(state, gain_db=6.0, bias=0.1)
        y2, state = effect.process(x[2000:], state)
        out.append(np.concatenate([y1.copy(), y2.copy()]))
    assert float(np.max(np.abs(out[0] - out[1]))) <= MAX_ABS_DIFFERENCE


def test_numba_tube_streams_the_fast_form_and_references_stay_exact():
    cfg = compose()
    proc = build_processor("numba:tube", cfg)
    assert isinstance(proc.effect, TubeSaturatorBlock)
    exact = dsp_processor(dict(cfg.effects.tube), "tube", SR, "numba", exact=True)
    assert type(exact.effect) is TubeSaturatorNumba
    x = noise(4000, 0.9, seed=8)
    diff = np.max(np.abs(proc.process_signal(x, 256) - exact.process_signal(x, 256)))
    assert 0.0 < diff <= MAX_ABS_DIFFERENCE
