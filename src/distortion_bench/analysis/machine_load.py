"""How busy the machine was while a benchmark ran, so that a reader knows when not to trust timings.

A benchmark on a shared machine measures the neighbours too. Like pyperf's "system load" and
Google Benchmark's "CPU scaling is enabled" warnings, every benchmark run records what it can read
of the machine's state, from Linux's ``/proc`` (elsewhere the fields are None):

- load average (1 min) at the start and the end (``/proc/loadavg``);
- the CPU time of *other* processes as a share of the machine's capacity over the run: all
  non-idle time of ``/proc/stat`` minus this process's own (and its children's) CPU time;
- steal time (a hypervisor giving the virtual CPUs to other guests), as a share of the capacity;
- the CPU frequency governor (``/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor``).

A run is flagged **busy** when other processes used more than :data:`BUSY_OTHERS_SHARE` of the
machine, or steal exceeded :data:`BUSY_STEAL_SHARE`; a governor other than ``performance`` is
noted (frequency scaling makes short calls slower) but does not flag the run.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Other processes' CPU share of the machine above which a run counts as measured on a busy machine.
BUSY_OTHERS_SHARE = 0.10
#: Steal share above which a run counts as busy (the hypervisor ran other guests on our CPUs).
BUSY_STEAL_SHARE = 0.05

_PROC_STAT = Path("/proc/stat")
_LOADAVG = Path("/proc/loadavg")
_GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")


def _read_cpu_ticks(path: Path = _PROC_STAT) -> dict[str, int] | None:
    """The aggregate ``cpu`` line of ``/proc/stat`` in clock ticks, or None where unreadable."""
    try:
        first = path.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if first[0] != "cpu":
        return None
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    values = [int(v) for v in first[1 : 1 + len(names)]]
    return dict(zip(names, values + [0] * (len(names) - len(values))))


def _loadavg(path: Path = _LOADAVG) -> float | None:
    try:
        return float(path.read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def _governor(path: Path = _GOVERNOR) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _own_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class MachineLoad:
    """What the machine did while a benchmark ran (see the module docstring). Shares are of the
    whole machine's capacity (``cpus`` x wall time), 0..1."""

    seconds: float
    cpus: int
    loadavg_start: float | None
    loadavg_end: float | None
    others_cpu_share: float | None
    steal_share: float | None
    governor: str | None
    busy: bool
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for reports: ``"quiet machine: ..."`` or ``"BUSY machine (...): ..."``."""

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{100 * v:.0f} %"

        facts = (
            f"other processes used {pct(self.others_cpu_share)} of {self.cpus} CPUs, steal {pct(self.steal_share)}, "
            f"load average {self.loadavg_start if self.loadavg_start is not None else 'n/a'} -> "
            f"{self.loadavg_end if self.loadavg_end is not None else 'n/a'}, "
            f"governor {self.governor or 'n/a'}, over {self.seconds:.0f} s"
        )
        if self.busy:
            return f"BUSY machine ({'; '.join(self.reasons)}): timing figures are not to be trusted. {facts}"
        return f"quiet machine: {facts}"


def classify(others: float | None, steal: float | None) -> tuple[bool, list[str]]:
    """Whether a run was measured on a busy machine, and why (see the thresholds above)."""
    reasons = []
    if others is not None and others > BUSY_OTHERS_SHARE:
        reasons.append(f"other processes used {100 * others:.0f} % of the machine (> {100 * BUSY_OTHERS_SHARE:.0f} %)")
    if steal is not None and steal > BUSY_STEAL_SHARE:
        reasons.append(f"steal time {100 * steal:.0f} % (> {100 * BUSY_STEAL_SHARE:.0f} %)")
    return bool(reasons), reasons


class LoadMonitor:
    """Context manager: ``with LoadMonitor() as m: ...`` then ``m.result`` (a :class:`MachineLoad`)."""

    def __init__(
        self, stat_path: Path = _PROC_STAT, loadavg_path: Path = _LOADAVG, governor_path: Path = _GOVERNOR
    ) -> None:
        self._paths = (stat_path, loadavg_path, governor_path)
        self.result: MachineLoad | None = None

    def __enter__(self) -> LoadMonitor:
        stat, load, _ = self._paths
        self._t0 = time.monotonic()
        self._ticks0 = _read_cpu_ticks(stat)
        self._own0 = _own_cpu_seconds()
        self._load0 = _loadavg(load)
        return self

    def __exit__(self, *exc: object) -> None:
        stat, load, governor = self._paths
        seconds = max(time.monotonic() - self._t0, 1e-9)
        ticks1 = _read_cpu_ticks(stat)
        own = _own_cpu_seconds() - self._own0
        cpus = os.cpu_count() or 1
        others = steal = None
        if self._ticks0 is not None and ticks1 is not None:
            hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
            delta = {k: ticks1[k] - self._ticks0[k] for k in ticks1}
            capacity = seconds * cpus
            busy_seconds = sum(v for k, v in delta.items() if k not in ("idle", "iowait", "steal")) / hz
            others = min(1.0, max(0.0, (busy_seconds - own) / capacity))
            steal = min(1.0, max(0.0, delta["steal"] / hz / capacity))
        flag, reasons = classify(others, steal)
        self.result = MachineLoad(
            round(seconds, 3),
            cpus,
            self._load0,
            _loadavg(load),
            None if others is None else round(others, 4),
            None if steal is None else round(steal, 4),
            _governor(governor),
            flag,
            reasons,
        )
