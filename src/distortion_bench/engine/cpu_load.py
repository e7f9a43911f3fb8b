"""Configurable CPU load in other processes, to see which processors glitch first under stress.

Each load process spins (pure Python arithmetic) for ``duty`` of every 10 ms and sleeps the
rest, until stopped. Processes, not threads: they compete for cores the way another program
on the machine would, without holding this process's GIL.
"""

from __future__ import annotations

import subprocess
import sys
from types import TracebackType

_SPIN = """
import time
duty, period = {duty}, 0.01
while True:
    t = time.perf_counter()
    x = 0
    while time.perf_counter() - t < duty * period:
        x += 1
    if duty < 1.0:
        time.sleep((1.0 - duty) * period)
"""


class CpuLoad:
    """Context manager: ``processes`` spinning processes at ``duty`` (0..1]; 0 processes = none."""

    def __init__(self, processes: int = 0, duty: float = 1.0) -> None:
        if processes < 0 or not 0.0 < duty <= 1.0:
            raise ValueError(f"cpu load: expected processes >= 0 and 0 < duty <= 1, got {processes}, {duty}")
        self.processes, self.duty = int(processes), float(duty)
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> CpuLoad:
        code = _SPIN.format(duty=self.duty)
        self._procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.processes)]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for p in self._procs:
            p.kill()
        for p in self._procs:
            p.wait()
        self._procs = []

    def describe(self) -> dict[str, float]:
        return {"processes": self.processes, "duty": self.duty}
