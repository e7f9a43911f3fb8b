"""The real-time engine on a real audio clock: a private JACK server with the dummy driver."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

from conftest import compose, noise
from distortion_bench.analysis.stream_summary import summarize_stream
from distortion_bench.bench.spectrum_analyzer import SpectrumAnalyzer
from distortion_bench.engine import jack_server
from distortion_bench.engine.audio_backends import audio_host, run_stream
from distortion_bench.engine.audio_engine import CallbackEngine
from distortion_bench.engine.cpu_load import CpuLoad
from distortion_bench.engine.jack_server import JackDummyServer, JackError
from distortion_bench.engine.processor import Processor, ProcessorFacts
from distortion_bench.engine.realtime import decide
from distortion_bench.engine.registry import build_processor

pytestmark = pytest.mark.stream  # every test here opens a JACK server and streams on its clock

SR = 48000
SIGNAL = noise(SR, 0.3, seed=4)


class Scripted(Processor):
    """Pass-through, optionally sleeping ``sleep_s`` or raising on every ``raise_every``-th call,
    or computing: busy-waiting on its thread's CPU clock for ``cpu_s`` per call and ``heavy_s`` on
    every ``heavy_every``-th call (CPU time, unlike sleeping, is the processor's own)."""

    def __init__(
        self, sleep_s: float = 0.0, raise_every: int = 0, cpu_s: float = 0.0, heavy_s: float = 0.0, heavy_every: int = 0
    ) -> None:
        self.sleep_s, self.raise_every, self.calls = sleep_s, raise_every, 0
        self.cpu_ns, self.heavy_ns, self.heavy_every = int(cpu_s * 1e9), int(heavy_s * 1e9), heavy_every
        self.out = np.zeros(8192, np.float32)

    def process_buffer(self, x):
        self.calls += 1
        if self.raise_every and self.calls % self.raise_every == 0:
            raise RuntimeError("scripted failure")
        if self.sleep_s:
            time.sleep(self.sleep_s)
        heavy = self.heavy_every and self.calls % self.heavy_every == 0
        burn = self.heavy_ns if heavy else self.cpu_ns
        if burn:
            until = time.thread_time_ns() + burn
            while time.thread_time_ns() < until:
                pass
        out = self.out[: x.shape[0]]
        out[:] = x
        return out

    def reset(self):
        self.calls = 0

    def facts(self):
        return ProcessorFacts("scripted", "test", "none", 0, 0, 0, 0.0)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is not running either
        return f.read().split()[2] != "Z"


def stream(processor: Processor, buffer_size: int, seconds: float, source=SIGNAL):
    # the product's default scheduling (real time where permitted): a late wake-up of an
    # ordinary thread on a busy test machine is not what these tests are about
    with audio_host("jack_dummy", SR, buffer_size, decide("auto", 70)) as host:
        pid = host.server.pid
        engine = CallbackEngine(processor, buffer_size, source, max_callbacks=int(seconds * SR / buffer_size * 2))
        stats = run_stream(host, engine, SR, seconds)
    assert not alive(pid), "the JACK server must be stopped when the stream is done"
    return stats, engine


def test_pass_through_is_driven_by_the_clock_and_never_charged_a_glitch():
    # what the code controls, on a quiet machine or a busy one: the audio clock drives the
    # callback, and a pass-through never misses a deadline of its own (a busy machine may still
    # wake it late: those glitches are counted, and charged to the scheduler)
    stats, _ = stream(Scripted(), 256, 2.0)
    assert stats.expected_callbacks == pytest.approx(2.0 * SR / 256, rel=0.05)
    assert stats.callbacks >= 0.5 * stats.expected_callbacks and stats.faults == 0
    s = summarize_stream(stats)
    assert (s["processor_glitches"], s["processor_xruns"], s["processor_misses"]) == (0, 0, 0)
    assert s["scheduler_glitches"] == stats.underruns
    assert stats.output_latency_s > 0
    # callbacks arrive on the audio clock: one period (5.33 ms) apart, give or take
    assert np.median(stats.interval_ns) == pytest.approx(1e9 * 256 / SR, rel=0.1)


def test_a_processor_slower_than_the_period_underruns():
    stats, _ = stream(Scripted(sleep_s=0.008), 256, 1.0)  # 8 ms of work per 5.33 ms period
    assert stats.underruns > 10 and stats.xruns > 10
    assert stats.callbacks < 0.9 * stats.expected_callbacks  # the clock kept going, we did not
    assert summarize_stream(stats)["rtf_worst"] > 1.0


def test_a_raising_processor_is_counted_and_the_stream_carries_on():
    stats, engine = stream(Scripted(raise_every=3), 256, 1.0)
    assert stats.faults == pytest.approx(stats.callbacks / 3, abs=1)
    assert stats.first_fault == "RuntimeError: scripted failure"
    assert abs(stats.callbacks - stats.expected_callbacks) <= 0.05 * stats.expected_callbacks
    n = engine.recorded_samples
    third = engine.recording[2 * 256 : 3 * 256]  # the 3rd callback failed: silence was played
    assert np.all(third == 0.0) and np.any(engine.recording[:256] != 0.0) and n > 0


def test_recorded_output_equals_offline_processing():
    proc = build_processor("numba:tube", compose())
    stats, engine = stream(proc, 128, 1.0, source=SIGNAL[:20_000])  # the source loops
    n = engine.recorded_samples
    assert n == 128 * min(stats.callbacks, engine.capacity) and n > 20_000
    looped = np.tile(SIGNAL[:20_000], 1 + n // 20_000)[:n]
    np.testing.assert_array_equal(engine.dry[:n], looped)  # no buffer dropped or repeated
    offline = build_processor("numba:tube", compose()).process_signal(looped, 128)
    np.testing.assert_array_equal(engine.recording[:n], offline)  # bit-exact


def test_server_is_stopped_on_error_and_a_missing_jackd_says_what_to_install(monkeypatch):
    with pytest.raises(RuntimeError, match="boom"):
        with JackDummyServer(SR, 256) as server:
            pid = server.pid
            assert alive(pid) and os.environ["JACK_DEFAULT_SERVER"] == server.name
            raise RuntimeError("boom")
    assert not alive(pid) and "JACK_DEFAULT_SERVER" not in os.environ
    monkeypatch.setattr(jack_server.shutil, "which", lambda name: None)
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "the_users_own")
    with pytest.raises(JackError, match="apt-get install jackd2"):
        JackDummyServer(SR, 256).start()
    assert os.environ["JACK_DEFAULT_SERVER"] == "the_users_own"  # a failed start changes nothing


def test_analyzer_renders_the_expected_number_of_frames(tmp_path):
    reference = build_processor("numba:tube", compose())
    analyzer = SpectrumAnalyzer(SR, reference, "wet", fft_size=2048)
    x = noise(2048 * 5 + 1000, 0.3, seed=1)
    for s in range(0, x.size, 256):  # what the audio callback's tap hands over
        analyzer.feed(x[s : s + 256].copy(), x[s : s + 256].copy())
    frames = analyzer.render(tmp_path / "spectrum.gif", fps=5)
    assert frames == 5
    with Image.open(tmp_path / "spectrum.gif") as gif:
        assert gif.n_frames == 5
    # the DSP panel is the reference run on the dry copies, with its state carried
    ref = build_processor("numba:tube", compose()).process_signal(x[:2048], 2048)
    want = 20 * np.log10(np.maximum(np.abs(np.fft.rfft(ref * np.hanning(2048))) / 512.0, 1e-12))
    np.testing.assert_allclose(analyzer.frames[0].spectra_db["DSP reference"], want, atol=1e-6)


def test_live_command_streams_a_file_and_writes_the_output(tmp_path, capsys):
    from conftest import REPO
    from distortion_bench.audio_io import read_audio, write_audio
    from distortion_bench.cli import main

    write_audio(tmp_path / "in.wav", SIGNAL[:24_000], SR)
    code = main(
        [
            "live",
            "--processor",
            "numba:tube",
            "--buffer",
            "256",
            "--input",
            str(tmp_path / "in.wav"),
            "--output",
            str(tmp_path / "out.wav"),
            "--config-dir",
            str(REPO / "conf"),
        ]
    )
    assert code == 0
    report = capsys.readouterr().out
    assert '"callbacks"' in report and '"underruns"' in report
    out = read_audio(tmp_path / "out.wav", SR).samples
    assert 0.4 * SR <= out.size <= 0.6 * SR  # 0.5 s of input, played for its length
    n = out.size
    np.testing.assert_array_equal(
        out, build_processor("numba:tube", compose()).process_signal(np.tile(SIGNAL[:24_000], 2)[:n], 256)
    )


def test_live_command_refuses_an_unknown_processor(capsys):
    from conftest import REPO
    from distortion_bench.cli import main

    assert main(["live", "--processor", "matlab:tube", "--config-dir", str(REPO / "conf")]) == 2
    assert "processor 'matlab:tube'" in capsys.readouterr().err


def burner_stream(processor: Processor, buffer_size: int, seconds: float, busy: int):
    """A stream on ordinary threads (the scheduler is free to preempt) beside ``busy`` busy loops."""
    with CpuLoad(busy, 1.0), audio_host("jack_dummy", SR, buffer_size, decide("off", 70)) as host:
        engine = CallbackEngine(processor, buffer_size, SIGNAL, max_callbacks=int(seconds * SR / buffer_size * 2))
        return run_stream(host, engine, SR, seconds)


def test_computing_below_the_budget_beside_busy_processes_is_never_the_processors():
    period = 256 / SR
    stats = burner_stream(Scripted(cpu_s=0.5 * period), 256, 2.0, busy=2)
    s = summarize_stream(stats)
    # whatever the busy loops did to the wake-ups, half a period of CPU never misses on its own
    assert (s["processor_glitches"], s["processor_xruns"], s["processor_misses"]) == (0, 0, 0)
    assert stats.cpu_ns.min() >= 0.5 * period * 1e9
    assert s["scheduler_glitches"] == s["underruns"]


def test_computing_past_the_deadline_is_the_processors():
    period = 256 / SR
    stats = burner_stream(Scripted(cpu_s=0.05 * period, heavy_s=1.5 * period, heavy_every=50), 256, 2.0, busy=0)
    s = summarize_stream(stats)
    heavy = int(np.count_nonzero(stats.cpu_ns >= 1.5 * period * 1e9))
    assert heavy >= 5 and s["processor_misses"] == heavy  # each heavy call misses, and only it
    assert s["processor_glitches"] + s["processor_xruns"] >= 1  # the server noticed them, and they are charged
    assert s["processor_glitches"] <= 2 * heavy  # only the callbacks just after a heavy one


def test_live_command_sets_knobs_before_it_plays(tmp_path):
    from conftest import REPO
    from distortion_bench.audio_io import read_audio, write_audio
    from distortion_bench.cli import main

    write_audio(tmp_path / "in.wav", SIGNAL[:12_000], SR)
    args = ["live", "--processor", "numba:tube", "--buffer", "256", "--input", str(tmp_path / "in.wav")]
    knobs = ["--knob", "gain_db=3", "--knob", "bias=0.05"]
    assert main([*args, *knobs, "--output", str(tmp_path / "out.wav"), "--config-dir", str(REPO / "conf")]) == 0
    out = read_audio(tmp_path / "out.wav", SR).samples
    proc = build_processor("numba:tube", compose())
    proc.set_knobs(at_once=True, gain_db=3.0, bias=0.05)  # the stream starts at the setting, no glide
    np.testing.assert_array_equal(out, proc.process_signal(np.tile(SIGNAL[:12_000], 2)[: out.size], 256, reset=False))
