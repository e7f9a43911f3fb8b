"""One interface for every way of producing an effect: DSP, ONNX Runtime, PyTorch, Numba kernels.

A :class:`Processor` keeps its own state: ``process_buffer(x) -> y`` takes the next buffer of a
stream (1-D float32, shape ``(time,)``) and returns the processed buffer; ``reset()`` returns to
the state after silence. Benchmarks and the audio engine drive processors without knowing
which backend they are.

The returned array belongs to the processor and is overwritten by the next call (outputs are
pre-allocated and reused so the real-time path does not allocate): copy it to keep it.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from distortion_bench.dsp.knobs import KnobError, KnobSpace


@dataclass(frozen=True)
class ProcessorFacts:
    """What reports say about a processor.

    Attributes:
        name: registry name, e.g. ``"onnx:tube-lstm"``.
        backend: ``numpy``, ``numba``, ``torch``, ``onnxruntime`` or ``pedalboard``.
        effect: the effect it produces (a key of ``effects``).
        parameters: learned parameters (0 for DSP).
        weight_bytes: bytes of weights or coefficients.
        state_bytes: bytes of the state carried between buffers.
        tolerance: max abs difference allowed between buffered and whole-signal output
            (0.0 = bit-exact).
        notes: e.g. how an approximation differs from the reference definition.
    """

    name: str
    backend: str
    effect: str
    parameters: int
    weight_bytes: int
    state_bytes: int
    tolerance: float
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Processor(abc.ABC):
    """A stateful effect on a mono float32 stream."""

    @abc.abstractmethod
    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        """Process the next buffer ``x`` (shape ``(time,)``, float32); returns ``(time,)`` float32.

        The result is a view of a reused buffer, valid until the next call.
        """

    @abc.abstractmethod
    def reset(self) -> None:
        """Return to the initial state (the state after silence)."""

    @abc.abstractmethod
    def facts(self) -> ProcessorFacts:
        """Facts for reports."""

    def knob_space(self) -> KnobSpace:
        """The knobs this processor takes (names, ranges, units); empty if none."""
        return KnobSpace(())

    def set_knobs(self, *, at_once: bool = False, **values: float) -> None:
        """Turn knobs for the buffers that follow (names and ranges: the processor's knob space);
        a processor without knobs refuses, naming them."""
        raise KnobError(f"{type(self).__name__} has no knobs; got {sorted(values)}")

    def latency_samples(self) -> int:
        """How many samples the output lags the input by construction (an oversampling effect's
        filters), as a plugin reports it to its host for delay compensation; 0 for most."""
        return 0

    def process_aligned(self, x: np.ndarray, buffer_size: int, reset: bool = True) -> np.ndarray:
        """``x`` (``(time,)``) from the initial state in buffers of ``buffer_size``, followed by
        :meth:`latency_samples` of silence, and the output from there on: what a host that
        compensates the reported latency hears, aligned with ``x`` (the same length).

        ``reset``: start from the initial state (default), else from the current one (e.g. knobs
        set beforehand)."""
        lag = self.latency_samples()
        x = np.ascontiguousarray(x, dtype=np.float32)
        if lag == 0:
            return self.process_signal(x, buffer_size, reset)
        padded = np.concatenate([x, np.zeros(lag, np.float32)])
        return self.process_signal(padded, buffer_size, reset)[lag:]

    def process_signal(self, x: np.ndarray, buffer_size: int, reset: bool = True) -> np.ndarray:
        """Process ``x`` (``(time,)``) in buffers of ``buffer_size``; return a copy.

        ``reset``: start from the initial state (default), else carry on from the current one.
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        if reset:
            self.reset()
        out = np.empty_like(x)
        for start in range(0, x.shape[0], buffer_size):
            out[start : start + buffer_size] = self.process_buffer(x[start : start + buffer_size])
        return out


class GrowingBuffer:
    """A float32 output array reused across calls; grows (rarely) to the largest size seen."""

    def __init__(self, capacity: int = 4096) -> None:
        self.array = np.zeros(capacity, dtype=np.float32)

    def view(self, n: int) -> np.ndarray:
        """A C-contiguous ``(n,)`` view of the reused array."""
        if n > self.array.shape[0]:
            self.array = np.zeros(max(n, 2 * self.array.shape[0]), dtype=np.float32)
        return self.array[:n]


def check_input(x: np.ndarray) -> None:
    """Cheap validation of a stream buffer (runs on every call)."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 1 or not x.flags.c_contiguous:
        raise TypeError(
            "process_buffer expects a C-contiguous 1-D float32 array of shape (time,), got "
            f"{type(x).__name__} {getattr(x, 'dtype', '')} {getattr(x, 'shape', '')}"
        )
