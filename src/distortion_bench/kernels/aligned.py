"""Arrays whose data starts on a 64-byte boundary (a cache line, one AVX-512 register).

NumPy allocates through ``malloc``, which aligns to 16 bytes: where an array happens to start
decides whether the kernels' vector loads split cache lines. Measured on a generated LSTM-24
kernel (AVX-512): 77.5 ns per sample with its weights on a 64-byte boundary, 99 ns with them 4,
16 or 32 bytes off, the same code and the same weights. The Numba network kernels' arrays are
therefore allocated here, so a benchmark measures the kernel, not the allocator's luck.
"""

from __future__ import annotations

import numpy as np

#: bytes: a cache line, and the width of an AVX-512 register
ALIGNMENT = 64


def aligned_zeros(shape: int | tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """A C-contiguous zeroed array of ``shape`` whose data starts on an :data:`ALIGNMENT` boundary."""
    shape_t = (shape,) if isinstance(shape, int) else tuple(shape)
    itemsize = np.dtype(dtype).itemsize
    count = int(np.prod(shape_t, dtype=np.int64))
    buffer = np.zeros(count + ALIGNMENT // itemsize, dtype)
    start = ((-buffer.ctypes.data) % ALIGNMENT) // itemsize
    return buffer[start : start + count].reshape(shape_t)


def aligned_copy(array: np.ndarray) -> np.ndarray:
    """``array`` copied into an :func:`aligned_zeros` array of its shape and dtype."""
    out = aligned_zeros(array.shape, array.dtype.type)
    out[...] = array
    return out
