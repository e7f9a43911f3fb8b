"""Bitcrusher: clip to [-1, 1], N-bit mid-tread quantization, optional sample-and-hold.

Quantization is that of an N-bit two's-complement converter (mid-tread: zero is a level):

    code = clip(floor(x * 2^(N-1) + 0.5), -2^(N-1), 2^(N-1) - 1),   y = code / 2^(N-1)

so there are exactly 2^N levels from -1 to 1 - 2^(1-N); with N = 1 the two levels are -1 and 0
(the step is 1: nothing divides by zero). Every operation is exact in float64 (the scale is a
power of two), so both implementations agree bit for bit.

Sample-rate reduction by an integer factor D holds every D-th quantized sample for D samples.
The hold counter and held value are state: the D-sample grid continues across buffers.

Knob (:mod:`.knobs`): ``bits``, an integer, changes at the next sample (between buffers with
:meth:`~.base.Effect.set_knobs`, or per sample with :meth:`~.base.Effect.process_trajectory`);
there is nothing between two word lengths to smooth through.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np

from distortion_bench.dsp.base import Effect, check_buffers
from distortion_bench.dsp.knobs import KnobSpace, KnobSpec
from distortion_bench.dsp.params import BitcrusherParams

#: the knob space a bitcrusher accepts unless its config gives one (``effects.<name>.knobs``)
DEFAULT_BITCRUSH_KNOBS = KnobSpace((KnobSpec("bits", 4.0, 12.0, "integer", "bits"),))


@dataclass
class BitcrushState:
    """Sample-and-hold state.

    Attributes:
        counter: int64 array of shape ``(1,)``: samples since the last held sample, 0..D-1
            (0 means the next sample is taken).
        held: float64 array of shape ``(1,)``: the quantized value being held.
        bits: int64 array of shape ``(1,)``: the word length now (the ``bits`` knob).
        quantizer: its :func:`quantizer` constants (read per buffer without touching the array).
    """

    counter: np.ndarray
    held: np.ndarray
    bits: np.ndarray
    quantizer: tuple[float, float, float] = (128.0, -128.0, 127.0)

    def copy(self) -> BitcrushState:
        return BitcrushState(self.counter.copy(), self.held.copy(), self.bits.copy(), self.quantizer)


def quantizer(bits: int) -> tuple[float, float, float]:
    """``(scale, code_min, code_max)`` of an N-bit mid-tread quantizer (exact in float64)."""
    scale = float(2 ** (int(bits) - 1))
    return scale, -scale, scale - 1.0


class _BitcrusherBase(Effect[BitcrushState]):
    kind = "bitcrusher"
    knob_units = {"bits": "bits"}

    def __init__(
        self, params: BitcrusherParams, sample_rate: int, knobs: KnobSpace | None = None, smoothing_s: float = 0.0
    ) -> None:
        # smoothing_s is accepted for a uniform constructor and unused: bits are discrete
        self.params = params
        self.sample_rate = int(sample_rate)
        self.knobs = knobs if knobs is not None else DEFAULT_BITCRUSH_KNOBS
        self.scale, self.code_min, self.code_max = quantizer(params.bits)
        self.downsample = int(params.downsample)

    def initial_state(self) -> BitcrushState:
        return BitcrushState(
            np.zeros(1, dtype=np.int64),
            np.zeros(1, dtype=np.float64),
            np.array([self.params.bits], np.int64),
            (self.scale, self.code_min, self.code_max),
        )

    def _set_targets(self, state: BitcrushState, values: dict[str, float], at_once: bool = False) -> None:
        if "bits" in values:
            state.bits[0] = int(values["bits"])
            state.quantizer = quantizer(int(values["bits"]))

    def knob_values(self, state: BitcrushState) -> dict[str, float]:
        return {"bits": float(state.bits[0])}

    def _process_targets(
        self, buffer: np.ndarray, targets: dict[str, np.ndarray], state: BitcrushState, out: np.ndarray
    ) -> tuple[np.ndarray, BitcrushState]:
        """Runs of constant ``bits``, each processed as a buffer of its own (exact: the hold grid
        and held value carry over)."""
        if "bits" not in targets:
            return self.process(buffer, state, out)
        bits = targets["bits"].astype(np.int64)
        cuts = np.flatnonzero(np.diff(bits)) + 1
        for start, stop in zip(np.r_[0, cuts], np.r_[cuts, bits.shape[0]]):
            self._set_targets(state, {"bits": float(bits[start])})
            self.process(buffer[start:stop], state, out[start:stop])
        return out, state

    def describe(self) -> dict[str, object]:
        return {**super().describe(), **asdict(self.params)}


class BitcrusherNumpy(_BitcrusherBase):
    """NumPy implementation (vectorized, including the sample-and-hold)."""

    implementation = "numpy"

    def process(
        self, buffer: np.ndarray, state: BitcrushState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, BitcrushState]:
        out = check_buffers(buffer, out)
        n = buffer.shape[0]
        if n == 0:
            return out, state
        scale, code_min, code_max = state.quantizer
        x = np.clip(buffer.astype(np.float64), -1.0, 1.0)
        levels = np.clip(np.floor(x * scale + 0.5), code_min, code_max) / scale
        if self.downsample == 1:
            out[...] = levels
            state.held[0] = levels[-1]
            return out, state
        counter = int(state.counter[0])
        taken = ((counter + np.arange(n)) % self.downsample) == 0
        # Index of the most recent taken sample at each position; -1 before the first one.
        last_taken = np.maximum.accumulate(np.where(taken, np.arange(n), -1))
        held = np.where(last_taken >= 0, levels[np.maximum(last_taken, 0)], state.held[0])
        out[...] = held
        state.held[0] = held[-1]
        state.counter[0] = (counter + n) % self.downsample
        return out, state


@numba.njit(
    "void(float32[::1], float32[::1], float64, float64, float64, int64, int64[::1], float64[::1])",
    cache=True,
    nogil=True,
)
def _bitcrush_kernel(x, out, scale, code_min, code_max, downsample, counter, held):  # pragma: no cover
    c = counter[0]
    h = held[0]
    for i in range(x.shape[0]):
        if c == 0:
            v = min(max(np.float64(x[i]), -1.0), 1.0)
            code = min(max(np.floor(v * scale + 0.5), code_min), code_max)
            h = code / scale
        out[i] = h
        c += 1
        if c == downsample:
            c = 0
    counter[0] = c
    held[0] = h


class BitcrusherNumba(_BitcrusherBase):
    """Numba implementation: one compiled per-sample loop (the fast path)."""

    implementation = "numba"

    def process(
        self, buffer: np.ndarray, state: BitcrushState, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, BitcrushState]:
        out = check_buffers(buffer, out)
        scale, code_min, code_max = state.quantizer
        _bitcrush_kernel(buffer, out, scale, code_min, code_max, self.downsample, state.counter, state.held)
        return out, state
