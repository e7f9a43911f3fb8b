"""Real-time scheduling: permission found by trying, the fallback, FIFO really in force, and
every glitch attributed to the processor or the scheduler."""

from __future__ import annotations

import logging
import subprocess

import numpy as np
import pytest

from conftest import REPO, compose
from distortion_bench.analysis.stream_summary import summarize_stream
from distortion_bench.bench import realtime as realtime_stage
from distortion_bench.engine import realtime
from distortion_bench.engine.audio_backends import audio_host, run_stream
from distortion_bench.engine.audio_engine import CallbackEngine, StreamStats
from distortion_bench.engine.processor import Processor, ProcessorFacts
from distortion_bench.errors import ConfigError

SR = 48000
MS = 1_000_000  # ns


class PassThrough(Processor):
    def __init__(self) -> None:
        self.out = np.zeros(8192, np.float32)

    def process_buffer(self, x):
        out = self.out[: x.shape[0]]
        out[:] = x
        return out

    def reset(self):
        pass

    def facts(self):
        return ProcessorFacts("pass", "test", "none", 0, 0, 0, 0.0)


def chrt_permits(priority: int) -> bool:
    """An independent check: can a child process of ours run SCHED_FIFO at ``priority``?"""
    return subprocess.run(["chrt", "-f", str(priority), "true"], capture_output=True).returncode == 0


@pytest.fixture
def forbidden(monkeypatch):
    """Pretend this process may not use SCHED_FIFO."""
    monkeypatch.setattr(realtime, "fifo_permitted", lambda priority: (False, "forced for the test"))
    monkeypatch.setattr(realtime, "_warned_fallback", False)


def test_permission_detection_agrees_with_chrt_on_this_machine():
    permitted, why = realtime.fifo_permitted(70)
    assert permitted == chrt_permits(70), why
    assert "70" in why
    # the probe ran in a throwaway thread: this thread's scheduling is untouched
    assert realtime.current_thread_scheduling()[0] in ("other", "batch")


def test_decisions_auto_on_off(forbidden, caplog):
    with caplog.at_level(logging.WARNING, logger="distortion_bench.engine.realtime"):
        first = realtime.decide("auto", 70)
        second = realtime.decide("auto", 70)
    assert not first.enabled and not second.enabled and "forced for the test" in first.reason
    warnings = [r for r in caplog.records if "not permitted" in r.getMessage()]
    assert len(warnings) == 1  # said once, clearly
    with pytest.raises(realtime.RealtimeError, match="audio.realtime=on .*forced for the test.*rtprio"):
        realtime.decide("on", 70)
    assert realtime.decide("off", 70) == realtime.RealtimeDecision(False, 0, "audio.realtime=off")


@pytest.mark.parametrize(
    "setting, priority, match",
    [
        ("yes", 70, r"audio\.realtime: expected one of \['auto', 'on', 'off'\], got 'yes'"),
        ("auto", 0, r"audio\.rt_priority: expected an integer in 1\.\.99, got 0"),
        ("on", 120, r"audio\.rt_priority: expected an integer in 1\.\.99, got 120"),
    ],
)
def test_bad_settings_are_refused_with_the_key(setting, priority, match):
    with pytest.raises(ConfigError, match=match):
        realtime.decide(setting, priority)


@pytest.mark.stream
def test_fallback_streams_as_an_ordinary_thread(forbidden):
    decision = realtime.decide("auto", 70)
    with audio_host("jack_dummy", SR, 256, decision) as host:
        assert host.realtime is False and host.memory_locked is False
        engine = CallbackEngine(PassThrough(), 256, np.zeros(4096, np.float32), max_callbacks=400)
        stats = run_stream(host, engine, SR, 0.5)
    assert stats.scheduling == "other" and stats.priority == 0 and stats.callbacks > 50


def test_the_stage_drops_the_realtime_mode_when_not_permitted(forbidden, caplog):
    cfg = compose("experiment=smoke", "bench.realtime.scheduling=[realtime,normal]")
    with caplog.at_level(logging.WARNING):
        modes = realtime_stage.scheduling_modes(cfg)
    assert list(modes) == ["normal"] and not modes["normal"].enabled
    assert any("skipping 'realtime'" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError, match="bench.realtime.scheduling: no mode left"):
        realtime_stage.scheduling_modes(compose("experiment=smoke", "bench.realtime.scheduling=[realtime]"))
    with pytest.raises(ConfigError, match=r"bench\.realtime\.scheduling: expected .* got \['fast'\]"):
        realtime_stage.scheduling_modes(compose("experiment=smoke", "bench.realtime.scheduling=[fast]"))


@pytest.mark.stream
@pytest.mark.skipif(not chrt_permits(70), reason="this machine does not permit SCHED_FIFO")
def test_on_runs_the_callback_thread_fifo_and_locks_memory():
    decision = realtime.decide("on", 70)
    assert decision.enabled
    with audio_host("jack_dummy", SR, 128, decision) as host:
        assert host.realtime is True and host.memory_locked is True
        engine = CallbackEngine(PassThrough(), 128, np.zeros(4096, np.float32), max_callbacks=2000)
        stats = run_stream(host, engine, SR, 0.5, min_callbacks=300)
    # read inside the callback: the audio thread really was SCHED_FIFO, below the server's priority
    assert stats.scheduling == "fifo" and 1 <= stats.priority < 70
    assert stats.callbacks >= 300
    assert realtime.current_thread_scheduling()[0] != "fifo"  # our own thread never was


@pytest.mark.stream
@pytest.mark.skipif(not chrt_permits(70), reason="this machine does not permit SCHED_FIFO")
def test_asked_for_realtime_but_not_fifo_is_an_error(monkeypatch):
    monkeypatch.setattr("distortion_bench.engine.audio_engine.current_thread_scheduling", lambda: ("other", 0))
    with audio_host("jack_dummy", SR, 256, realtime.decide("on", 70)) as host:
        engine = CallbackEngine(PassThrough(), 256, np.zeros(4096, np.float32), max_callbacks=400)
        with pytest.raises(realtime.RealtimeError, match="callback thread ran 'other'"):
            run_stream(host, engine, SR, 0.3)


# --- the stream summary ----------------------------------------------------------------------------

PERIOD = 64 / SR * 1e9  # 1.333 ms


def steady(n: int, process_us: float = 50.0):
    """``n`` callbacks one period apart, each processing ``process_us``."""
    enter = (np.arange(n) * PERIOD).astype(np.int64)
    proc = np.full(n, int(process_us * 1e3), np.int64)
    return enter, enter + proc, proc


def test_expected_callbacks_count_the_recorded_window_only():
    """A glitch-free stream owes exactly what it got, however long start and stop took."""
    enter, done, proc = steady(1000)
    stats = StreamStats(
        "jack_dummy",
        64,
        SR,
        seconds=1000 * 64 / SR + 0.25,
        callbacks=1000,
        underruns=0,
        overruns=0,
        xruns=0,
        faults=0,
        process_ns=proc,
        interval_ns=np.diff(enter),
        output_latency_s=None,
        input_latency_s=None,
        enter_ns=enter,
        done_ns=done,
        flagged=np.zeros(1000, bool),
    )
    assert stats.expected_callbacks == 1000
    summary = summarize_stream(stats)
    assert summary["expected_callbacks"] == 1000 and summary["processor_glitches"] == 0
    # 1,000 callbacks support a p99, not a p99.9 (that would be the largest value but one)
    assert summary["tail_stat"] == "p99" and summary["tail_us"] == pytest.approx(50.0)
    assert summary["p99_us"] == pytest.approx(50.0) and np.isnan(summary["p999_us"])
    # a 4-period hole in the clock (three callbacks never came) shows as callbacks owed
    holed = np.concatenate([enter[:500], enter[500:] + int(3 * PERIOD)])
    stats.enter_ns = holed
    assert stats.expected_callbacks == 1003


# --- the live command's arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args, match",
    [
        (["--buffer", "0"], r"--buffer: expected a number of frames in 1\.\.8192, got 0"),
        (["--buffer", "-5"], r"--buffer: expected a number of frames in 1\.\.8192, got -5"),
        (["--seconds", "-1"], r"--seconds: expected a positive number of seconds, got -1\.0"),
        (["--seconds", "nan"], r"--seconds: expected a positive number of seconds, got nan"),
        (["--knob", "gain_db=40"], r"--knob 'gain_db': expected a number in 0\.\.24 dB, got 40\.0"),
        (["--knob", "volume=3"], r"--knob 'volume': unknown knob; expected one of \['gain_db', 'bias'\]"),
        (["--knob", "gain_db"], r"--knob: expected NAME=VALUE with a number, got 'gain_db'"),
        (["--knob", "bias=nan"], r"--knob 'bias': expected a number in 0\.\.0\.5, got nan"),
    ],
)
def test_live_refuses_bad_arguments_with_the_option_named(args, match, capsys):
    from distortion_bench.cli import main

    code = main(["live", "--processor", "numba:tube", *args, "--config-dir", str(REPO / "conf")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert __import__("re").search(match, err), err


@pytest.mark.stream
def test_live_prints_the_scheduling_in_force(capsys, forbidden):
    from distortion_bench.cli import main

    code = main(
        ["live", "--processor", "numba:tube", "--buffer", "256", "--seconds", "0.3", "--config-dir", str(REPO / "conf")]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "scheduling in force: audio callback thread other priority 0 (auto fallback: forced for the test" in out
    assert '"scheduling": "other"' in out and '"processor_glitches"' in out
