"""Knobs turned by another thread while the audio callback runs: the mailbox and the live option."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from conftest import compose, noise
from distortion_bench.engine.knob_mailbox import KnobbedProcessor, KnobMailbox
from distortion_bench.engine.registry import build_processor

SR = 48000


def test_the_latest_post_is_applied_at_the_next_buffer_and_a_refusal_keeps_the_old_setting():
    mailbox = KnobMailbox()
    proc = KnobbedProcessor(build_processor("numba:tube", compose()), mailbox)
    x = noise(64, 0.5)
    proc.process_buffer(x)
    assert proc.applied == 0
    mailbox.post(gain_db=3.0)
    mailbox.post(gain_db=18.0, bias=0.1)  # superseded before the callback read it: the latest wins
    proc.process_buffer(x)
    proc.process_buffer(x)
    assert proc.applied == 1 and proc.refused is None
    state = proc.inner.state
    assert state.knob[1] == 0.1 and 0.1 < proc.inner.effect.knob_values(state)["bias"] < 0.2  # on its way
    mailbox.post(gain_db=99.0)  # a value the UI failed to check: refused in the callback, not raised
    proc.process_buffer(x)
    assert proc.applied == 1 and "expected a number in 0..24 dB, got 99.0" in proc.refused


@pytest.mark.stream
def test_a_ui_thread_turns_the_knobs_every_50_ms_while_the_stream_runs():
    """64 frames on the JACK dummy clock for 2 s; another thread posts a new gain and bias every
    50 ms, as a UI would. Every posted setting that the callback saw is applied in the audio
    thread, nothing is refused, no callback faults, and the output follows the knobs."""
    from distortion_bench.engine.audio_backends import audio_host, run_stream
    from distortion_bench.engine.audio_engine import CallbackEngine, record_capacity
    from distortion_bench.engine.realtime import decide

    mailbox = KnobMailbox()
    proc = KnobbedProcessor(build_processor("numba:tube", compose()), mailbox)
    source = (0.3 * np.sin(2 * np.pi * 220 * np.arange(SR) / SR)).astype(np.float32)
    engine = CallbackEngine(proc, 64, source, record_capacity(2.0, SR, 64))
    done = threading.Event()

    def ui() -> None:
        rng = np.random.default_rng(0)
        while not done.is_set():
            mailbox.post(gain_db=float(rng.uniform(0, 24)), bias=float(rng.uniform(0, 0.5)))
            time.sleep(0.05)

    turner = threading.Thread(target=ui, daemon=True)
    with audio_host("jack_dummy", SR, 64, decide("auto", 70)) as host:
        turner.start()
        try:
            stats = run_stream(host, engine, SR, 2.0)
        finally:
            done.set()
            turner.join()
    assert stats.faults == 0 and proc.refused is None
    assert proc.applied >= 10  # about 40 posted; each seen one applied once
    assert proc.applied <= mailbox.latest[0]
    recorded = engine.recording[: engine.recorded_samples]
    fixed = build_processor("numba:tube", compose()).process_signal(np.tile(source, 3)[: recorded.size], 64)
    assert np.max(np.abs(recorded - fixed)) > 0.05
