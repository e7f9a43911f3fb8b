"""The CPU's float32 multiply-add peak, for "what fraction of the machine does a kernel use".

An upper bound stated openly, not a measurement: ``clock x FMA units x float32 lanes per unit``,
with

- the clock from ``/proc/cpuinfo`` (``cpu MHz``: what the kernel reports, usually the base or
  current clock, not the boost clock);
- 2 FMA units per core (every x86 core with FMA since Intel Haswell and AMD Zen 2);
- the ISA from the flags: AVX-512 (``avx512f``), AVX2 (``avx2`` and ``fma``), else SSE;
- lanes per unit from the width of the FMA units, which is not the ISA's width: AMD Zen 4
  (family 0x19 with AVX-512) runs a 512-bit instruction as two halves on 256-bit units, so its
  AVX-512 peak is its AVX2 peak, 8 float32 lanes per unit; Intel cores with AVX-512 and AMD
  Zen 5 (family 0x1a) have 512-bit units, 16 lanes; AVX2 machines 8, SSE 4.

So the fraction a report states is of what the machine's units can do, whichever ISA it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FMA_PER_CYCLE = 2


@dataclass(frozen=True)
class VectorPeak:
    """``macs_per_ns`` = ``ghz * FMA_PER_CYCLE * lanes`` (float32 multiply-adds per nanosecond);
    ``lanes``: float32 lanes per FMA unit (the units' width, see the module docstring), ``isa``
    the widest vector ISA the CPU has, ``datapath`` a note when the two differ."""

    ghz: float
    lanes: int
    isa: str
    datapath: str = ""

    @property
    def macs_per_ns(self) -> float:
        return self.ghz * FMA_PER_CYCLE * self.lanes

    def describe(self) -> str:
        note = f", {self.datapath}" if self.datapath else ""
        return (
            f"{self.isa}{note}: {self.ghz:.2f} GHz x {FMA_PER_CYCLE} FMA units x {self.lanes} float32 lanes = "
            f"{self.macs_per_ns:.0f} multiply-adds per ns"
        )


def vector_peak(cpuinfo: str | None = None) -> VectorPeak | None:
    """The bound for this machine (or for the text of a ``/proc/cpuinfo``); None where unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    mhz, flags, vendor, family = None, set(), "", -1
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
        elif key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "cpu family" and family < 0:
            try:
                family = int(value)
            except ValueError:
                pass
    if not mhz:
        return None
    if "avx512f" in flags:
        if vendor == "AuthenticAMD" and family <= 0x19:
            return VectorPeak(mhz / 1000.0, 8, "AVX-512", "256-bit FMA units (AMD Zen 4 splits 512-bit operations)")
        return VectorPeak(mhz / 1000.0, 16, "AVX-512")
    if "avx2" in flags and "fma" in flags:
        return VectorPeak(mhz / 1000.0, 8, "AVX2")
    return VectorPeak(mhz / 1000.0, 4, "SSE")
