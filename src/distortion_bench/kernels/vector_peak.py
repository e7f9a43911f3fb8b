"""The CPU's float32 multiply-add peak, for "what fraction of the machine does a kernel use".

An upper bound stated openly, not a measurement: ``clock x FMA instructions per cycle x float32
lanes per instruction``, with

- the clock from ``/proc/cpuinfo`` (``cpu MHz``: what the kernel reports, usually the base or
  current clock, not the boost clock);
- 2 FMA instructions per cycle (every x86 core with FMA since Intel Haswell and AMD Zen 2);
- lanes from the widest vector extension the CPU lists: 16 with AVX-512F, 8 with AVX2, else 4.

AMD Zen 4 executes 512-bit instructions in two 256-bit halves, so its real peak is half this
bound; the reports say "of the stated peak".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FMA_PER_CYCLE = 2


@dataclass(frozen=True)
class VectorPeak:
    """``macs_per_ns`` = ``ghz * FMA_PER_CYCLE * lanes`` (float32 multiply-adds per nanosecond)."""

    ghz: float
    lanes: int
    isa: str

    @property
    def macs_per_ns(self) -> float:
        return self.ghz * FMA_PER_CYCLE * self.lanes

    def describe(self) -> str:
        return (
            f"{self.ghz:.2f} GHz x {FMA_PER_CYCLE} FMA/cycle x {self.lanes} float32 lanes ({self.isa}) = "
            f"{self.macs_per_ns:.0f} multiply-adds per ns"
        )


def vector_peak(cpuinfo: str | None = None) -> VectorPeak | None:
    """The bound for this machine (or for the text of a ``/proc/cpuinfo``); None where unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    mhz, flags = None, set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "cpu MHz" and mhz is None:
            try:
                mhz = float(value)
            except ValueError:
                pass
        elif key == "flags" and not flags:
            flags = set(value.split())
    if not mhz:
        return None
    if "avx512f" in flags:
        lanes, isa = 16, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        lanes, isa = 8, "AVX2+FMA"
    else:
        lanes, isa = 4, "SSE"
    return VectorPeak(mhz / 1000.0, lanes, isa)
