"""LLVM options for compiling a few short-loop kernels, set for their compilation only.

LLVM treats a loop of fewer than 16 iterations as too short to vectorize unless it needs no
run-time alias checks, and Numba cannot tell it that two arrays do not overlap. A generated
GRU-8's unit loop (8 iterations, a literal) then runs scalar: 2.3x slower (measured: 93 vs 40 ns
per sample). :func:`short_loops_vectorized` lowers LLVM's
``vectorizer-min-trip-count`` while the kernels that need it compile (a decorator with an
explicit signature compiles on the spot) and restores LLVM's default after, so no other kernel
is compiled differently. Loaded from Numba's on-disk cache, a kernel is not compiled at all.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

#: LLVM's default for ``vectorizer-min-trip-count``
LLVM_MIN_TRIP_DEFAULT = 16
#: what the short-loop kernels are compiled with
SHORT_LOOP_MIN_TRIP = 4
_LOCK = threading.Lock()


@contextlib.contextmanager
def short_loops_vectorized(min_trip: int = SHORT_LOOP_MIN_TRIP) -> Iterator[None]:
    """Compile the kernels defined (or imported) in this block with LLVM vectorizing loops of
    ``min_trip`` iterations and more."""
    import llvmlite.binding as llvm

    with _LOCK:
        llvm.set_option("", f"-vectorizer-min-trip-count={min_trip}")
        try:
            yield
        finally:
            llvm.set_option("", f"-vectorizer-min-trip-count={LLVM_MIN_TRIP_DEFAULT}")
