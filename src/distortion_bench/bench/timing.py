"""Per-buffer timing of processors: processors interleaved in blocks, warm-up excluded, percentiles of per-buffer times.

- ``time.perf_counter_ns`` around the processing call only;
- every buffer pre-allocated (one C-contiguous ``(buffers, buffer_size)`` float32 matrix), and
  processors write into their own reused outputs, so nothing is allocated while timing;
- the first call after ``reset()`` is reported on its own (``first_call_us``), then warm-up
  buffers run untimed;
- the garbage collector is off while timing;
- processors take turns in blocks of ``block_buffers`` consecutive buffers, in a rotating
  order, so machine drift (another job, frequency scaling) hits all of them alike, while each
  runs a stretch of buffers the way it would in a stream. Turn by turn per buffer
  (``block_buffers: 1``) measures something else: every call then starts with caches and branch
  predictors full of the other processors' code and data, and PyTorch's kernels left the core
  slow for whatever ran next (measured with all eight tube processors at 32 samples: Numba's
  saturator 9.4 us a buffer turn by turn, 1.7 us in blocks of 32, 1.75 us alone).

Statistics (times in microseconds, ``deadline`` = one buffer's duration):
``rtf = mean / deadline``, ``rtf_worst = max / deadline``, ``jitter = p99 - p50`` (and ``std``),
``throughput = samples / total processing time`` (samples per second of CPU time),
``deadline_misses`` = buffers that took longer than their duration.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from distortion_bench.engine.processor import Processor


@dataclass(frozen=True)
class TimingConfig:
    """How much to time per buffer size.

    Attributes:
        seconds: audio timed per buffer size (the input is looped when shorter).
        min_buffers: at least this many timed buffers (p99.9 needs ~1000 to differ from max).
        warmup_buffers: buffers run after the first call and before timing, not counted.
        block_buffers: consecutive buffers a processor runs before the next one takes its turn.
    """

    seconds: float = 4.0
    min_buffers: int = 200
    warmup_buffers: int = 20
    block_buffers: int = 32

    def buffers(self, buffer_size: int, sample_rate: int) -> int:
        """Timed buffers for one buffer size."""
        return max(int(self.min_buffers), math.ceil(self.seconds * sample_rate / buffer_size))


@dataclass(frozen=True)
class TimingStats:
    """Timing of one processor at one buffer size; times in microseconds."""

    buffer_size: int
    sample_rate: int
    buffers: int
    mean_us: float
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float
    std_us: float
    jitter_us: float
    rtf: float
    rtf_worst: float
    throughput_sps: float
    deadline_misses: int
    first_call_us: float | None

    @property
    def deadline_us(self) -> float:
        return 1e6 * self.buffer_size / self.sample_rate

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    times_ns: np.ndarray, buffer_size: int, sample_rate: int, first_call_ns: int | None = None
) -> TimingStats:
    """Statistics of per-buffer times ``times_ns`` (``(buffers,)``, nanoseconds)."""
    t = np.asarray(times_ns, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times_ns: expected a non-empty 1-D array, got shape {t.shape}")
    us = t / 1e3
    deadline_us = 1e6 * buffer_size / sample_rate
    mean = float(us.mean())
    p50, p99, p999 = (float(v) for v in np.percentile(us, [50.0, 99.0, 99.9]))
    worst = float(us.max())
    return TimingStats(
        buffer_size=int(buffer_size),
        sample_rate=int(sample_rate),
        buffers=int(us.size),
        mean_us=mean,
        p50_us=p50,
        p99_us=p99,
        p999_us=p999,
        max_us=worst,
        std_us=float(us.std()),
        jitter_us=p99 - p50,
        rtf=mean / deadline_us,
        rtf_worst=worst / deadline_us,
        throughput_sps=buffer_size * us.size / (float(us.sum()) * 1e-6),
        deadline_misses=int(np.count_nonzero(us > deadline_us)),
        first_call_us=None if first_call_ns is None else first_call_ns / 1e3,
    )


def buffer_matrix(signal: np.ndarray, buffer_size: int, buffers: int) -> np.ndarray:
    """``signal`` (``(time,)``) looped and cut into a C-contiguous ``(buffers, buffer_size)`` float32 matrix."""
    x = np.asarray(signal, dtype=np.float32).ravel()
    if x.size == 0:
        raise ValueError("signal: expected at least one sample")
    need = buffers * buffer_size
    reps = -(-need // x.size)
    return np.ascontiguousarray(np.tile(x, reps)[:need].reshape(buffers, buffer_size))


class AudioBenchmark:
    """Times several processors on the same input, interleaved buffer by buffer.

    Args:
        processors: name -> processor (each keeps its own state).
        sample_rate: in Hz, for the deadline of a buffer.
        config: how long to time.
    """

    def __init__(
        self, processors: Mapping[str, Processor], sample_rate: int, config: TimingConfig | None = None
    ) -> None:
        if not processors:
            raise ValueError("AudioBenchmark: no processors to time")
        self.processors = dict(processors)
        self.sample_rate = int(sample_rate)
        self.config = config or TimingConfig()
        #: raw per-buffer times (ns) of the last run, per processor
        self.times: dict[str, np.ndarray] = {}

    def run(self, signal: np.ndarray, buffer_size: int) -> dict[str, TimingStats]:
        """Time every processor streaming ``signal`` in buffers of ``buffer_size`` samples."""
        cfg = self.config
        timed = cfg.buffers(buffer_size, self.sample_rate)
        warm = 1 + int(cfg.warmup_buffers)  # the first call, then the warm-up
        inputs = buffer_matrix(signal, buffer_size, warm + timed)
        names = list(self.processors)
        procs = [self.processors[n] for n in names]
        clock = time.perf_counter_ns
        first: dict[str, int] = {}
        for name, proc in zip(names, procs):
            proc.reset()
            t0 = clock()
            proc.process_buffer(inputs[0])
            first[name] = clock() - t0
        for i in range(1, warm):
            for proc in procs:
                proc.process_buffer(inputs[i])
        times = np.zeros((len(procs), timed), dtype=np.int64)
        count = len(procs)
        gc.collect()
        was_enabled = gc.isenabled()
        gc.disable()
        block = max(1, int(cfg.block_buffers))
        try:
            for turn, start in enumerate(range(0, timed, block)):
                stop = min(start + block, timed)
                for k in range(count):
                    j = (turn + k) % count  # rotating order: nobody always goes first
                    proc = procs[j]
                    row_times = times[j]
                    for i in range(start, stop):
                        row = inputs[warm + i]
                        t0 = clock()
                        proc.process_buffer(row)
                        row_times[i] = clock() - t0
        finally:
            if was_enabled:
                gc.enable()
        self.times = {name: times[j] for j, name in enumerate(names)}
        return {name: summarize(times[j], buffer_size, self.sample_rate, first[name]) for j, name in enumerate(names)}
