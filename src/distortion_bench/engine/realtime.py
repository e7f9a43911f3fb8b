"""Real-time scheduling for the audio thread: who may use it, and asking for it.

A musician's audio thread runs SCHED_FIFO: it preempts every ordinary thread the moment its
period starts. A benchmark whose audio thread is an ordinary (SCHED_OTHER) thread measures the
Linux scheduler as much as the processor: on a busy 2-core machine it wakes late whatever the
processor does. ``audio.realtime`` chooses:

- ``auto`` (default): real time where this process is permitted, else ``--no-realtime`` with
  one clear warning;
- ``on``: real time or a :class:`RealtimeError` that says how to get the permission;
- ``off``: never (ordinary threads).

Permission is found out by trying, not guessed from the user id: a throwaway thread asks the
kernel for SCHED_FIFO at the wanted priority (root, a positive ``RLIMIT_RTPRIO`` of at least that
priority, or CAP_SYS_NICE are the usual reasons it succeeds; a container's cgroup may still say
no). Where real time is in force the process's memory is also locked (``mlockall``), so a page
fault never stalls the callback; a refusal there is a warning, not an error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import resource
import threading
from dataclasses import dataclass

from distortion_bench.errors import ConfigError, DistortionBenchError

log = logging.getLogger(__name__)

SETTINGS = ("auto", "on", "off")
#: Names of the scheduling policies as the CSV reports them.
POLICY_NAMES = {
    os.SCHED_OTHER: "other",
    os.SCHED_FIFO: "fifo",
    os.SCHED_RR: "rr",
    getattr(os, "SCHED_BATCH", 3): "batch",
    getattr(os, "SCHED_IDLE", 5): "idle",
}
_MCL_CURRENT, _MCL_FUTURE = 1, 2  # <sys/mman.h> on Linux
_warned_fallback = False


class RealtimeError(DistortionBenchError):
    """Real-time scheduling was required (``audio.realtime=on``) but is not permitted, or a
    stream asked for it did not get it."""


@dataclass(frozen=True)
class RealtimeDecision:
    """What a stream will run with: ``enabled`` (SCHED_FIFO at ``priority``) and why."""

    enabled: bool
    priority: int
    reason: str


def policy_name(policy: int) -> str:
    """``os.SCHED_FIFO`` -> ``"fifo"``; unknown numbers as ``"policy<N>"``."""
    return POLICY_NAMES.get(policy, f"policy{policy}")


def current_thread_scheduling() -> tuple[str, int]:
    """The calling thread's scheduling policy name and priority (Linux: pid 0 = this thread)."""
    return policy_name(os.sched_getscheduler(0)), int(os.sched_getparam(0).sched_priority)


def fifo_permitted(priority: int) -> tuple[bool, str]:
    """Try SCHED_FIFO at ``priority`` in a throwaway thread; ``(permitted, explanation)``."""
    outcome: dict[str, str] = {}

    def attempt() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            outcome["ok"] = f"SCHED_FIFO priority {priority} granted"
        except OSError as exc:
            soft, _ = resource.getrlimit(resource.RLIMIT_RTPRIO)
            outcome["no"] = (
                f"SCHED_FIFO priority {priority} refused ({exc.strerror}; RLIMIT_RTPRIO {soft}, uid {os.getuid()})"
            )

    worker = threading.Thread(target=attempt, name="rt-permission-probe")
    worker.start()
    worker.join()
    return ("ok" in outcome), outcome.get("ok") or outcome.get("no", "unknown")


def validate(setting: str, priority: int) -> None:
    """Refuse a bad ``audio.realtime`` / ``audio.rt_priority`` with the key named."""
    if setting not in SETTINGS:
        raise ConfigError(f"audio.realtime: expected one of {list(SETTINGS)}, got {setting!r}")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 99:
        raise ConfigError(f"audio.rt_priority: expected an integer in 1..99, got {priority!r}")


def decide(setting: str, priority: int) -> RealtimeDecision:
    """Resolve ``audio.realtime`` (``auto``/``on``/``off``) for this process.

    ``auto`` without permission warns once per process and returns a disabled decision.
    """
    global _warned_fallback
    validate(setting, priority)
    if setting == "off":
        return RealtimeDecision(False, 0, "audio.realtime=off")
    permitted, why = fifo_permitted(priority)
    if permitted:
        return RealtimeDecision(True, priority, why)
    if setting == "on":
        raise RealtimeError(
            f"audio.realtime=on but this process may not use real-time scheduling: {why}. Run as root, "
            f"give the user an rtprio limit >= {priority} (e.g. `@audio - rtprio 95` in "
            "/etc/security/limits.d/audio.conf and the user in group audio) or CAP_SYS_NICE, "
            "or set audio.realtime=auto (falls back) or off"
        )
    if not _warned_fallback:
        log.warning(
            "real-time scheduling is not permitted (%s): the audio thread runs as an ordinary "
            "thread (jackd --no-realtime), so late wake-ups by the Linux scheduler will count as "
            "glitches; set audio.realtime=off to silence this warning",
            why,
        )
        _warned_fallback = True
    return RealtimeDecision(False, 0, f"auto fallback: {why}")


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


class MemoryLock:
    """Context manager: ``mlockall(MCL_CURRENT | MCL_FUTURE)`` while active, ``munlockall`` after.

    ``locked`` says whether it worked; a refusal (e.g. ``RLIMIT_MEMLOCK`` without CAP_IPC_LOCK)
    is logged once as a warning and the stream goes on unlocked.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.locked = False
        self.reason = "not requested"

    def __enter__(self) -> MemoryLock:
        if not self.enabled:
            return self
        libc = _libc()
        if libc is None:
            self.reason = "no C library found"
        elif libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) == 0:
            self.locked, self.reason = True, "mlockall(MCL_CURRENT | MCL_FUTURE)"
        else:
            soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
            self.reason = f"mlockall refused ({os.strerror(ctypes.get_errno())}; RLIMIT_MEMLOCK {soft} bytes)"
            log.warning("could not lock memory for the stream: %s", self.reason)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.locked:
            libc = _libc()
            if libc is not None:
                libc.munlockall()
            self.locked = False
