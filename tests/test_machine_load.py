"""Machine load while a benchmark runs: other processes' CPU share and steal from /proc/stat."""

from __future__ import annotations

import os
from pathlib import Path

from distortion_bench.analysis import machine_load
from distortion_bench.analysis.machine_load import LoadMonitor, MachineLoad, classify

HZ = os.sysconf("SC_CLK_TCK")


def _stat(path: Path, user: int, idle: int, steal: int) -> None:
    path.write_text(f"cpu  {user} 0 0 {idle} 0 0 0 {steal} 0 0\ncpu0 1 2 3 4\n")


def test_others_share_and_steal_from_proc_stat(tmp_path, monkeypatch):
    stat, load, gov = tmp_path / "stat", tmp_path / "loadavg", tmp_path / "governor"
    _stat(stat, 0, 0, 0)
    load.write_text("0.50 0.40 0.30 1/100 4242\n")
    gov.write_text("performance\n")
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(machine_load.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(machine_load.os, "cpu_count", lambda: 2)
    own = iter([1.0, 3.0])  # this process used 2 s of CPU
    monkeypatch.setattr(machine_load, "_own_cpu_seconds", lambda: next(own))
    with LoadMonitor(stat, load, gov) as monitor:
        # 10 s on 2 CPUs = 20 CPU-seconds: 8 busy (2 ours, 6 others'), 2 stolen, 10 idle
        _stat(stat, 8 * HZ, 10 * HZ, 2 * HZ)
        load.write_text("1.75 0.40 0.30 1/100 4242\n")
    got = monitor.result
    assert got is not None and got.cpus == 2 and got.seconds == 10.0
    assert got.others_cpu_share == 0.3 and got.steal_share == 0.1
    assert (got.loadavg_start, got.loadavg_end, got.governor) == (0.5, 1.75, "performance")
    assert got.busy and len(got.reasons) == 2
    assert got.describe().startswith(
        "BUSY machine (other processes used 30 % of the machine (> 10 %); steal time 10 % (> 5 %))"
    )


def test_a_quiet_machine_and_an_unreadable_proc(tmp_path):
    assert classify(0.05, 0.0) == (False, [])
    assert classify(None, None) == (False, [])
    with LoadMonitor(tmp_path / "missing", tmp_path / "missing", tmp_path / "missing") as monitor:
        pass
    got = monitor.result
    assert got is not None and got.others_cpu_share is None and got.busy is False and got.governor is None
    assert "quiet machine: other processes used n/a" in got.describe()
    assert MachineLoad(**got.as_dict()) == got  # round-trips through the JSON summaries


def test_this_machine_is_read(tmp_path):
    with LoadMonitor() as monitor:
        sum(i * i for i in range(200_000))
    got = monitor.result
    assert got is not None and 0.0 <= got.others_cpu_share <= 1.0 and got.loadavg_start is not None
