"""The one interface every DSP effect implements: ``process(buffer, state) -> (output, state)``.

An effect object holds only its (immutable) parameters; everything that evolves from buffer to
buffer lives in a separate state object, so one effect can drive several streams and a stream
can be rewound by keeping a copy of its state. Running a signal in buffers of any sizes, with
the state carried, gives bit-for-bit the output of running it whole.

Buffers are 1-D float32 arrays of shape ``(time,)`` (mono, samples in [-1, 1] nominally).

Knobs (:mod:`.knobs`) are turned on the state too: :meth:`Effect.set_knobs` between buffers,
:meth:`Effect.process_trajectory` with a target per sample.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar

import numpy as np

from distortion_bench.dsp.knobs import KnobError, KnobSpace

StateT = TypeVar("StateT")


class Effect(abc.ABC, Generic[StateT]):
    """A stateful effect processing mono float32 buffers.

    Attributes:
        kind: the effect's config name, e.g. ``"tube_saturator"``.
        implementation: ``"numpy"`` or ``"numba"``.
        sample_rate: in Hz.
    """

    kind: str
    implementation: str
    sample_rate: int
    #: the knobs this kind of effect has and their units (see :mod:`.knobs`); ``knobs`` is the
    #: space (ranges) this instance accepts
    knob_units: dict[str, str] = {}
    knobs: KnobSpace = KnobSpace(())

    @abc.abstractmethod
    def initial_state(self) -> StateT:
        """The state of a stream that has seen only silence."""

    @abc.abstractmethod
    def process(self, buffer: np.ndarray, state: StateT, out: np.ndarray | None = None) -> tuple[np.ndarray, StateT]:
        """Process one buffer.

        Args:
            buffer: shape ``(time,)``, float32, C-contiguous.
            state: from :meth:`initial_state` or the previous call; updated in place.
            out: optional shape ``(time,)`` float32 array to write into (no allocation then).

        Returns:
            ``(output, state)``: output of shape ``(time,)`` float32 (``out`` when given) and the
            state to pass with the next buffer (the same object, updated).
        """

    def process_signal(self, signal: np.ndarray) -> np.ndarray:
        """Process a whole signal (shape ``(time,)``) from the initial state."""
        output, _ = self.process(as_buffer(signal), self.initial_state())
        return output

    def latency_samples(self) -> int:
        """Samples by which the output lags the input by construction (0 unless the effect
        filters, e.g. to oversample)."""
        return 0

    def process_aligned(self, signal: np.ndarray) -> np.ndarray:
        """A whole signal from the initial state, aligned with it: followed by
        :meth:`latency_samples` of silence, the first that many output samples dropped (the
        same length as ``signal``; equal to :meth:`process_signal` for an effect without latency)."""
        lag = self.latency_samples()
        if lag == 0:
            return self.process_signal(signal)
        x = as_buffer(signal)
        return self.process_signal(np.concatenate([x, np.zeros(lag, np.float32)]))[lag:]

    def process_in_blocks(self, signal: np.ndarray, block_sizes: Iterable[int]) -> np.ndarray:
        """Process ``signal`` buffer by buffer, cycling through ``block_sizes`` (samples).

        Used to check that streaming equals whole-signal processing.
        """
        x = as_buffer(signal)
        out = np.empty_like(x)
        state = self.initial_state()
        for start, stop in blocks(x.shape[0], block_sizes):
            self.process(x[start:stop], state, out[start:stop])
        return out

    def set_knobs(self, state: StateT, *, at_once: bool = False, **values: float) -> None:
        """Turn knobs between buffers: the targets change now, the sound follows through the
        smoother from the next sample processed (``at_once``: no glide, for a setting made
        before a stream starts). Values are checked against :attr:`knobs`
        (:class:`~.knobs.KnobError` names the knob and its range)."""
        self._set_targets(state, self.knobs.check(values), at_once)

    def process_trajectory(
        self, buffer: np.ndarray, targets: Mapping[str, np.ndarray], state: StateT, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, StateT]:
        """Process one buffer with per-sample knob targets (``{knob: (time,)}``, same length as
        the buffer; a knob not given keeps its target). Afterwards each target is the last
        sample's. Streaming a trajectory in buffers of any size equals processing it whole."""
        out = check_buffers(buffer, out)
        n = buffer.shape[0]
        checked = {}
        for name, values in targets.items():
            spec = self.knobs.spec(name, "trajectory")
            v = np.asarray(values, np.float64)
            if v.shape != (n,):
                raise ValueError(f"trajectory {name!r}: expected shape ({n},) like the buffer, got {v.shape}")
            if n and not (np.all(v >= spec.minimum) and np.all(v <= spec.maximum)):  # NaN fails both
                bad = v[~((v >= spec.minimum) & (v <= spec.maximum))][0]
                raise KnobError(f"trajectory {name!r}: expected {spec.describe()}, got {float(bad)!r}")
            if spec.scale == "integer" and n and not np.all(v == np.round(v)):
                raise KnobError(f"trajectory {name!r}: expected {spec.describe()}, got a fractional value")
            checked[name] = v
        if n == 0:
            return out, state
        return self._process_targets(buffer, checked, state, out)

    def process_automation(
        self, signal: np.ndarray, trajectory: Mapping[str, np.ndarray], block_sizes: Iterable[int] = (4096,)
    ) -> np.ndarray:
        """A whole signal ``(time,)`` with per-sample knob targets, from the initial state,
        streamed in buffers cycling through ``block_sizes``."""
        x = as_buffer(signal)
        out = np.empty_like(x)
        state = self.initial_state()
        for start, stop in blocks(x.shape[0], block_sizes):
            part = {name: np.asarray(v)[start:stop] for name, v in trajectory.items()}
            self.process_trajectory(x[start:stop], part, state, out[start:stop])
        return out

    def knob_values(self, state: StateT) -> dict[str, float]:
        """The knobs' values now (smoothed), in their units."""
        return {}

    def _set_targets(self, state: StateT, values: dict[str, float], at_once: bool = False) -> None:
        raise KnobError(f"{self.kind} has no knobs; got {sorted(values)}")

    def _process_targets(
        self, buffer: np.ndarray, targets: dict[str, np.ndarray], state: StateT, out: np.ndarray
    ) -> tuple[np.ndarray, StateT]:
        raise KnobError(f"{self.kind} has no knobs; got a trajectory of {sorted(targets)}")

    def describe(self) -> dict[str, object]:
        """Parameters for manifests and reports (JSON-serializable)."""
        return {"kind": self.kind, "implementation": self.implementation, "sample_rate": self.sample_rate}


def blocks(n: int, block_sizes: Iterable[int]) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive buffers over ``n`` samples, cycling ``block_sizes``."""
    sizes = [int(b) for b in block_sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"block sizes must be positive integers, got {sizes}")
    start, i = 0, 0
    while start < n:
        stop = min(start + sizes[i % len(sizes)], n)
        yield start, stop
        start, i = stop, i + 1


def as_buffer(x: np.ndarray) -> np.ndarray:
    """Return ``x`` as a C-contiguous 1-D float32 array (copying only if needed)."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (time,), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_buffers(buffer: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """Validate a buffer (and the optional output buffer); return the output array to fill.

    Cheap checks only: they run on every call of the real-time path.
    """
    if not isinstance(buffer, np.ndarray) or buffer.dtype != np.float32 or buffer.ndim != 1:
        raise TypeError(
            "buffer must be a 1-D float32 numpy array of shape (time,), got "
            f"{type(buffer).__name__} {getattr(buffer, 'dtype', '')} "
            f"{getattr(buffer, 'shape', '')}"
        )
    if not buffer.flags.c_contiguous:
        raise TypeError("buffer must be C-contiguous (use np.ascontiguousarray)")
    if out is None:
        return np.empty_like(buffer)
    if (
        not isinstance(out, np.ndarray)
        or out.dtype != np.float32
        or out.shape != buffer.shape
        or not out.flags.c_contiguous
    ):
        raise TypeError(
            f"out must be a C-contiguous float32 array of shape {buffer.shape}, got "
            f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
        )
    return out
