"""What one real-time stream's records mean: glitch counts by cause, processing-time statistics.

The engine (:mod:`distortion_bench.engine.audio_engine`) records into a :class:`StreamStats`;
this module defines that record and summarises it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distortion_bench.analysis.glitches import (
    DEFAULT_BUDGET_FRACTION,
    attribute,
    supported_percentile,
    tail_statistic,
)


@dataclass
class StreamStats:
    """What one stream did. Times in nanoseconds (arrays, ``perf_counter_ns``) or seconds.

    ``underruns``: callbacks flagged output underflow (the device ran out of output: a
    glitch the listener hears); ``overruns``: flagged input overflow (capture streams only:
    PortAudio's JACK host flags both on every xrun, also for output-only streams); ``xruns``: reported by the
    JACK server (None on other backends); ``faults``: processor exceptions. Per recorded
    callback: ``enter_ns`` (entry), ``done_ns`` (processing finished), ``process_ns`` (its wall
    time), ``cpu_ns`` (its CPU time on the callback thread: what the processor itself computed,
    preemption excluded), ``flagged`` (output underflow on entry); ``xrun_ns``: when each server
    xrun was read.
    ``scheduling``/``priority``: the callback thread's policy (``fifo``, ``other``, ...) and
    priority, read inside the first callback.
    """

    backend: str
    buffer_size: int
    sample_rate: int
    seconds: float
    callbacks: int
    underruns: int
    overruns: int
    xruns: int | None
    faults: int
    process_ns: np.ndarray
    interval_ns: np.ndarray
    output_latency_s: float | None
    input_latency_s: float | None
    first_fault: str | None = None
    enter_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    done_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    flagged: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    cpu_ns: np.ndarray | None = None
    xrun_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scheduling: str | None = None
    priority: int | None = None

    @property
    def period_ns(self) -> float:
        return 1e9 * self.buffer_size / self.sample_rate

    @property
    def expected_callbacks(self) -> int:
        """Callbacks the audio clock owed over the window they were recorded in: from the first
        recorded callback's entry to the last's, one per period, both ends included (stream
        start and stop are outside it, so a glitch-free stream owes exactly what it got)."""
        if self.enter_ns.size < 2:
            return int(self.enter_ns.size)
        return int(round((int(self.enter_ns[-1]) - int(self.enter_ns[0])) / self.period_ns)) + 1


def summarize_stream(stats: StreamStats, budget_fraction: float = DEFAULT_BUDGET_FRACTION) -> dict[str, Any]:
    """Counts, glitches by cause (:mod:`.glitches`, budget = ``budget_fraction``
    of the period), and processing time statistics in microseconds with RTF (mean and worst).

    Percentiles are given only where the number of callbacks supports them (p99 from 1,000,
    p99.9 from 10,000; NaN below); ``tail_stat``/``tail_us`` is the highest supported tail
    statistic under its honest name (``"max of 625"`` where there are 625 callbacks).
    Xruns are counted over the recorded callbacks' window (``xruns``); those the server
    reported outside it (stream start and stop) are ``xruns_outside``."""
    deadline_us = 1e6 * stats.buffer_size / stats.sample_rate
    us = stats.process_ns.astype(np.float64) / 1e3
    have = us.size > 0
    mean = float(us.mean()) if have else float("nan")
    worst = float(us.max()) if have else float("nan")
    cpu = stats.process_ns if stats.cpu_ns is None else stats.cpu_ns
    causes = attribute(
        stats.enter_ns,
        stats.done_ns,
        stats.process_ns,
        cpu,
        stats.flagged,
        stats.xrun_ns,
        stats.period_ns,
        budget_fraction,
    )
    tail_stat, tail_us = tail_statistic(us)
    cpu_us = cpu.astype(np.float64) / 1e3
    xruns = None if stats.xruns is None else causes.processor_xruns + causes.scheduler_xruns
    return {
        "backend": stats.backend,
        "buffer_size": stats.buffer_size,
        "seconds": round(stats.seconds, 3),
        "scheduling": stats.scheduling,
        "priority": stats.priority,
        "callbacks": stats.callbacks,
        "expected_callbacks": stats.expected_callbacks,
        "underruns": stats.underruns,
        "overruns": stats.overruns,
        "xruns": xruns,
        "xruns_outside": causes.xruns_outside if stats.xruns is not None else None,
        "faults": stats.faults,
        "processor_glitches": causes.processor_glitches,
        "scheduler_glitches": causes.scheduler_glitches,
        "processor_xruns": causes.processor_xruns if stats.xruns is not None else None,
        "scheduler_xruns": causes.scheduler_xruns if stats.xruns is not None else None,
        "processor_misses": causes.processor_misses,
        "over_budget": causes.over_budget,
        "preempted": causes.preempted,
        "budget_us": causes.budget_us,
        "mean_us": mean,
        "p99_us": supported_percentile(us, 99.0),
        "p999_us": supported_percentile(us, 99.9),
        "max_us": worst,
        "tail_stat": tail_stat,
        "tail_us": tail_us,
        "cpu_mean_us": float(cpu_us.mean()) if have else float("nan"),
        "cpu_max_us": float(cpu_us.max()) if have else float("nan"),
        "rtf": mean / deadline_us,
        "rtf_worst": worst / deadline_us,
        "interval_p99_us": float(np.percentile(stats.interval_ns / 1e3, 99)) if stats.interval_ns.size else None,
        "interval_max_us": float(stats.interval_ns.max() / 1e3) if stats.interval_ns.size else None,
        "output_latency_s": stats.output_latency_s,
        "input_latency_s": stats.input_latency_s,
    }
