"""Bitcrusher: clip to [-1, 1], N-bit mid-tread quantization, optional sample-and-hold.

Quantization is that of an N-bit two's-complement converter (mid-tread: zero is a level):

    code = clip(floor(x * 2^(N-1) + 0.5), -2^(N-1), 2^(N-1) - 1),   y = code / 2^(N-1)

so there are exactly 2^N levels from -1 to 1 - 2^(1-N); with N = 1 the two levels are -1 and 0
(the step is 1: nothing divides by zero). Every operation is exact in float64 (the scale is a
power of two), so both implementations agree bit for bit.

Sample-rate reduction by an integer factor D holds every D-th quantized sample for D samples.
The hold counter and held value are state: the D-sample grid continues across buffers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np

from distortion_bench.dsp.base import Effect, check_buffers
from distortion_bench.dsp.params import BitcrusherParams


@dataclass
class BitcrushState:
    """Sample-and-hold state.

    Attributes:
        counter: int64 array of shape ``(1,)``: samples since the last held sample, 0..D-1
            (0 means the next sample is taken).
        held: float64 array of shape ``(1,)``: the quantized value being held.
    """

    counter: np.ndarray
    held: np.ndarray

    def copy(self) -> BitcrushState:
        return BitcrushState(self.counter.copy(), self.held.copy())


class _BitcrusherBase(Effect[BitcrushState]):
    kind = "bitcrusher"

    def __init__(self, params: BitcrusherParams, sample_rate: int) -> None:
        self.params = params
        self.sample_rate = int(sample_rate)
        self.scale = float(2 ** (params.bits - 1))
        self.code_min = -self.scale
        self.code_max = self.scale - 1.0
        self.downsample = int(params.downsample)

    def initial_state(self) -> BitcrushState:
        return BitcrushState(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.float64))

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
        x = np.clip(buffer.astype(np.float64), -1.0, 1.0)
        levels = np.clip(np.floor(x * self.scale + 0.5), self.code_min, self.code_max) / self.scale
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
        _bitcrush_kernel(
            buffer, out, self.scale, self.code_min, self.code_max, self.downsample, state.counter, state.held
        )
        return out, state
