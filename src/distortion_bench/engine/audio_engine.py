"""The real-time engine: PyAudio (PortAudio) in callback mode, on a real audio clock.

:class:`CallbackEngine` is the callback and what it records; :func:`run_stream` opens a stream
on a backend (:mod:`.audio_backends`), lets the audio clock drive the callback for a duration,
and returns a :class:`~distortion_bench.analysis.stream_summary.StreamStats` (what happened;
:func:`~distortion_bench.analysis.stream_summary.summarize_stream` says what it means).

The callback reads the next input buffer (from a signal, looped, or from the capture device),
runs the processor, writes the output to the stream and to a recording, and records when it
was entered, its processing time and PortAudio's status flags (and, in the first callback, the
callback thread's scheduling policy and priority: what was really in force). It never
raises into PortAudio: an exception from the processor is counted as a fault and the buffer is
silent. Everything it writes is pre-allocated; the only allocation per callback is the
``bytes`` object PyAudio requires as the return value.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from distortion_bench.analysis.stream_summary import StreamStats
from distortion_bench.engine.processor import Processor
from distortion_bench.engine.realtime import current_thread_scheduling

# PortAudio status flags (portaudio.h), as PyAudio passes them to the callback
INPUT_UNDERFLOW, INPUT_OVERFLOW, OUTPUT_UNDERFLOW, OUTPUT_OVERFLOW, PRIMING_OUTPUT = 1, 2, 4, 8, 16
CONTINUE, COMPLETE = 0, 1  # pyaudio.paContinue, pyaudio.paComplete

#: ``tap(dry, wet)``: called in the callback with *copies* of the buffers (for an analyzer thread)
Tap = Callable[[np.ndarray, np.ndarray], None]


def record_capacity(seconds: float, sample_rate: int, buffer_size: int) -> int:
    """Callbacks to pre-allocate records for, for a stream of ``seconds``: half as many again as
    the clock owes (PortAudio may call with fewer frames), plus slack for start and stop."""
    return math.ceil(seconds * sample_rate / buffer_size * 1.5) + 64


class CallbackEngine:
    """The PortAudio callback for one processor, with pre-allocated records.

    Args:
        processor: any :class:`~distortion_bench.engine.processor.Processor` (reset here).
        buffer_size: frames per callback (PortAudio may pass fewer; handled).
        source: the input signal ``(time,)``, looped; None = the capture device (duplex stream).
        max_callbacks: capacity of the records (callbacks beyond it are processed, not recorded).
        tap: optional ``tap(dry, wet)`` given copies of each buffer (runs in the callback: keep it cheap).
    """

    def __init__(
        self,
        processor: Processor,
        buffer_size: int,
        source: np.ndarray | None,
        max_callbacks: int,
        tap: Tap | None = None,
    ) -> None:
        self.processor = processor
        self.buffer_size = int(buffer_size)
        self.source = None if source is None else np.ascontiguousarray(source, dtype=np.float32)
        if self.source is not None and self.source.size == 0:
            raise ValueError("source: expected a non-empty signal")
        self.tap = tap
        self.capacity = int(max_callbacks)
        self.process_ns = np.zeros(self.capacity, dtype=np.int64)
        self.cpu_ns = np.zeros(self.capacity, dtype=np.int64)
        self.enter_ns = np.zeros(self.capacity, dtype=np.int64)
        self.done_ns = np.zeros(self.capacity, dtype=np.int64)
        self.flagged = np.zeros(self.capacity, dtype=bool)
        self.scheduling: str | None = None
        self.priority: int | None = None
        self.recording = np.zeros(self.capacity * self.buffer_size, dtype=np.float32)
        self.dry = np.zeros(self.capacity * self.buffer_size, dtype=np.float32)
        self._in = np.zeros(max(self.buffer_size, 1), dtype=np.float32)
        self.silence = np.zeros(self.buffer_size, dtype=np.float32)
        self.callbacks = self.underruns = self.overruns = self.faults = 0
        self.recorded_samples = 0
        self.position = 0
        self.first_fault: str | None = None
        processor.reset()

    def _next_input(self, in_data: bytes | None, frames: int) -> np.ndarray:
        if self.source is None:
            return np.frombuffer(in_data, dtype=np.float32)[:frames] if in_data else self.silence[:frames]
        x = self._in if frames <= self._in.size else np.zeros(frames, np.float32)
        x = x[:frames]
        n, pos, src = 0, self.position, self.source
        while n < frames:  # loop the source
            take = min(frames - n, src.size - pos)
            x[n : n + take] = src[pos : pos + take]
            n += take
            pos = (pos + take) % src.size
        self.position = pos
        return x

    def callback(self, in_data: bytes | None, frame_count: int, time_info: Any, status: int) -> tuple[bytes, int]:
        """PyAudio's ``stream_callback``: never raises."""
        t_enter = time.perf_counter_ns()
        i = self.callbacks
        self.callbacks += 1
        if i == 0:  # what is really in force for this thread (two cheap syscalls, once)
            try:
                self.scheduling, self.priority = current_thread_scheduling()
            except OSError:
                self.scheduling = "unknown"
        underflow = bool(status & OUTPUT_UNDERFLOW)
        if underflow:
            self.underruns += 1
        if self.source is None and status & INPUT_OVERFLOW:  # meaningful only when capturing
            self.overruns += 1
        try:
            x = self._next_input(in_data, frame_count)
            # the thread's CPU clock beside the wall clock: a preempted call advances only the latter
            c0 = time.thread_time_ns()
            t0 = time.perf_counter_ns()
            try:
                y = self.processor.process_buffer(x)
                t1 = time.perf_counter_ns()
                c1 = time.thread_time_ns()
            except Exception as exc:  # a processor failure: count it, play silence, carry on
                t1 = time.perf_counter_ns()
                c1 = time.thread_time_ns()
                self.faults += 1
                if self.first_fault is None:
                    self.first_fault = f"{type(exc).__name__}: {exc}"
                y = self.silence[:frame_count]
            if i < self.capacity:
                self.enter_ns[i] = t_enter
                self.done_ns[i] = t1
                self.process_ns[i] = t1 - t0
                self.cpu_ns[i] = c1 - c0
                self.flagged[i] = underflow
                s = self.recorded_samples
                if s + frame_count <= self.recording.size:
                    self.recording[s : s + frame_count] = y
                    self.dry[s : s + frame_count] = x
                    self.recorded_samples = s + frame_count
            if self.tap is not None:
                self.tap(x.copy(), np.array(y, dtype=np.float32, copy=True))
            return y.tobytes(), CONTINUE
        except Exception as exc:  # the engine itself must not take PortAudio down either
            self.faults += 1
            if self.first_fault is None:
                self.first_fault = f"engine: {type(exc).__name__}: {exc}"
            return self.silence[:frame_count].tobytes(), CONTINUE

    def stats(
        self,
        backend: str,
        sample_rate: int,
        seconds: float,
        xruns: int | None,
        output_latency_s: float | None,
        input_latency_s: float | None,
        xrun_ns: list[int] | None = None,
    ) -> StreamStats:
        n = min(self.callbacks, self.capacity)
        enter = self.enter_ns[:n].copy()
        return StreamStats(
            backend=backend,
            buffer_size=self.buffer_size,
            sample_rate=int(sample_rate),
            seconds=seconds,
            callbacks=self.callbacks,
            underruns=self.underruns,
            overruns=self.overruns,
            xruns=xruns,
            faults=self.faults,
            process_ns=self.process_ns[:n].copy(),
            cpu_ns=self.cpu_ns[:n].copy(),
            interval_ns=np.diff(enter) if n > 1 else np.zeros(0, np.int64),
            output_latency_s=output_latency_s,
            input_latency_s=input_latency_s,
            first_fault=self.first_fault,
            enter_ns=enter,
            done_ns=self.done_ns[:n].copy(),
            flagged=self.flagged[:n].copy(),
            xrun_ns=np.asarray(xrun_ns or [], np.int64),
            scheduling=self.scheduling,
            priority=self.priority,
        )
