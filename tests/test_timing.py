"""The timing harness: statistics arithmetic and a processor of known cost."""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

from distortion_bench.bench.timing import AudioBenchmark, TimingConfig, buffer_matrix, summarize
from distortion_bench.engine.processor import Processor, ProcessorFacts


class Spin(Processor):
    """Busy-waits ``cost_us`` per buffer (a processor of known cost); ``first_us`` on the first call."""

    def __init__(self, cost_us: float, first_us: float = 0.0) -> None:
        self.cost_ns, self.first_ns = int(cost_us * 1e3), int(first_us * 1e3)
        self.calls, self.gc_seen = 0, set()
        self.out = np.zeros(4096, np.float32)

    def process_buffer(self, x):
        end = time.perf_counter_ns() + (self.first_ns if self.calls == 0 and self.first_ns else self.cost_ns)
        self.calls += 1
        self.gc_seen.add(gc.isenabled())
        while time.perf_counter_ns() < end:
            pass
        return self.out[: x.shape[0]]

    def reset(self):
        self.calls = 0

    def facts(self):
        return ProcessorFacts("spin", "test", "none", 0, 0, 0, 0.0)


def test_summary_arithmetic_by_hand():
    # 4 buffers of 480 samples at 48 kHz: deadline 10 ms = 10000 us
    times_ns = np.array([100_000, 200_000, 300_000, 12_000_000])
    s = summarize(times_ns, 480, 48000, first_call_ns=5_000_000)
    assert s.deadline_us == 10_000.0
    assert s.mean_us == pytest.approx((100 + 200 + 300 + 12_000) / 4)
    assert s.rtf == pytest.approx(3150.0 / 10_000.0)
    assert s.rtf_worst == pytest.approx(1.2)
    assert s.max_us == 12_000.0 and s.deadline_misses == 1
    assert s.p50_us == pytest.approx(250.0)
    assert s.p99_us == pytest.approx(300 + 0.97 * (12_000 - 300))  # numpy's linear interpolation
    assert s.jitter_us == pytest.approx(s.p99_us - s.p50_us)
    assert s.std_us == pytest.approx(np.std([100, 200, 300, 12_000]))
    assert s.throughput_sps == pytest.approx(4 * 480 / 12.6e-3)  # samples / total seconds
    assert s.first_call_us == 5000.0 and s.buffers == 4


def test_summary_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        summarize(np.array([]), 64, 48000)


def test_buffer_matrix_loops_the_signal_into_contiguous_rows():
    m = buffer_matrix(np.arange(5, dtype=np.float32), 3, 4)
    assert m.shape == (4, 3) and m.flags.c_contiguous and m.dtype == np.float32
    np.testing.assert_array_equal(m.ravel(), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1])


def test_known_costs_land_where_they_should():
    # buffer of 8 samples at 48 kHz: deadline 166.7 us; one spinner under it, one over it
    slow, fast = Spin(250.0, first_us=3000.0), Spin(40.0)
    bench = AudioBenchmark(
        {"slow": slow, "fast": fast}, 48000, TimingConfig(seconds=0.0, min_buffers=200, warmup_buffers=5)
    )
    stats = bench.run(np.zeros(1000, np.float32), 8)
    s, f = stats["slow"], stats["fast"]
    assert s.buffers == f.buffers == 200
    # what the harness controls, whatever else the machine runs: a spin never finishes early, the
    # slower spinner has the higher median, and every statistic is computed from the timed buffers
    assert min(bench.times["slow"]) >= 250_000 and min(bench.times["fast"]) >= 40_000
    assert s.p50_us > f.p50_us
    for name, st in stats.items():
        times = np.asarray(bench.times[name])
        assert times.size == 200
        assert st.p50_us == pytest.approx(np.median(times) / 1e3)
        assert st.max_us == pytest.approx(times.max() / 1e3)
        assert st.deadline_misses == int(np.sum(times / 1e3 > 1e6 * 8 / 48000))
        assert st.rtf == pytest.approx(st.mean_us / (1e6 * 8 / 48000))
    assert s.deadline_misses == 200  # every buffer of the slow one is late
    # the first call (3 ms of set-up in the slow spinner) is reported apart, not among the timed
    assert s.first_call_us >= 3000.0
    assert slow.calls == fast.calls == 1 + 5 + 200  # first call, warm-up, timed
    assert False in slow.gc_seen  # the collector was off while timing


def test_buffer_count_follows_seconds_and_minimum():
    cfg = TimingConfig(seconds=1.0, min_buffers=100, warmup_buffers=0)
    assert cfg.buffers(32, 48000) == 1500
    assert cfg.buffers(4096, 48000) == 100
