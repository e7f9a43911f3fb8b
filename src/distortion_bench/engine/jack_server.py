"""A JACK server with the dummy driver: a real audio clock on machines without a sound card.

``jackd -R -P <priority> -d dummy -r <rate> -p <frames>`` wakes its clients every period, in
real time, exactly as a sound card would; a client that misses the period is an xrun. With
``realtime=True`` (``-R``) the server and its clients' process threads (PortAudio's callback
thread in our process) run SCHED_FIFO, as a musician's audio thread does; with
``realtime=False`` (``--no-realtime``) they are ordinary threads that the Linux scheduler may
wake late on a busy machine (see :mod:`.realtime` for who may use SCHED_FIFO). The engine
starts one under its own server name, waits until it answers, points
PortAudio's JACK host API at it (``JACK_DEFAULT_SERVER``), and stops it afterwards: on success,
on error and on Ctrl-C. It never stops a server it did not start.

The server's messages are kept, each with the ``time.perf_counter_ns()`` at which it was read:
JACK reports every xrun there ("JackEngine::XRun: client = ... was not finished" when a client
overran, "JackTimedDriver::Process XRun = N usec" when the driver itself woke late), which is how
:meth:`JackDummyServer.xruns_since` counts them and :meth:`JackDummyServer.xrun_times_since`
dates them for attribution.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from distortion_bench.errors import DistortionBenchError

INSTALL_HINT = (
    "the jack_dummy backend needs the JACK server: install it with "
    "`sudo apt-get install jackd2` (Debian/Ubuntu; `make setup` does it), or choose "
    "audio.backend=default on a machine with a sound card"
)
_XRUN = re.compile(r"xrun", re.IGNORECASE)


class JackError(DistortionBenchError):
    """The JACK server is missing, did not start, or failed."""


def jackd_path() -> str:
    """Path of ``jackd``, or a :class:`JackError` that says what to install."""
    path = shutil.which("jackd")
    if path is None:
        raise JackError(f"jackd not found on PATH: {INSTALL_HINT}")
    return path


class JackDummyServer:
    """Context manager: a private ``jackd`` with the dummy driver at ``rate`` Hz, ``period`` frames.

    Args:
        rate: sample rate in Hz.
        period: frames per period (the audio callback's buffer size).
        name: JACK server name; unique per instance by default, so a user's own server
            (named ``default``) is never touched.
        start_timeout_s: how long to wait for the server to answer.
        realtime: run with real-time scheduling (``-R -P priority``) instead of ``--no-realtime``.
        priority: the server's SCHED_FIFO priority (1..99); JACK gives its clients' process
            threads a few less (65 for 70 with jackd2 1.9).
    """

    def __init__(
        self,
        rate: int,
        period: int,
        name: str | None = None,
        start_timeout_s: float = 10.0,
        realtime: bool = False,
        priority: int = 70,
    ) -> None:
        self.rate, self.period = int(rate), int(period)
        self.name = name or f"dbench{os.getpid()}_{id(self) & 0xFFFF:x}"
        self.start_timeout_s = float(start_timeout_s)
        self.realtime, self.priority = bool(realtime), int(priority)
        self.process: subprocess.Popen[str] | None = None
        self._log: list[str] = []
        self._log_ns: list[int] = []
        self._reader: threading.Thread | None = None
        self._env_set = False
        self._previous_env: str | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> JackDummyServer:
        jackd = jackd_path()
        env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}  # no D-Bus device reservation
        scheduling = ["-R", "-P", str(self.priority)] if self.realtime else ["--no-realtime"]
        cmd = [jackd, *scheduling, "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
        )  # Ctrl-C reaches us, not jackd
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._previous_env = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name  # PortAudio's JACK host API connects here
        self._env_set = True
        return self

    def _read_log(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            # time first, then the line: a reader of both lists never sees a line without its time
            self._log_ns.append(time.perf_counter_ns())
            self._log.append(line.rstrip())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        waiter = shutil.which("jack_wait")
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise JackError(
                    f"jackd exited with status {self.process.returncode} while starting "
                    f"({' '.join(self.process.args)}):\n" + "\n".join(self._log[-20:])
                )
            if waiter:
                ok = subprocess.run(
                    [waiter, "-s", self.name, "-c"],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "JACK_NO_START_SERVER": "1"},
                ).stdout
                if "running" in ok and "not" not in ok:
                    return
            elif any("dummy" in line.lower() for line in self._log):
                return
            time.sleep(0.05)
        raise JackError(
            f"jackd (server {self.name!r}) did not answer within {self.start_timeout_s} s:\n"
            + "\n".join(self._log[-20:])
        )

    def mark(self) -> int:
        """A position in the server's log (for :meth:`xruns_since`)."""
        return len(self._log)

    def xruns_since(self, mark: int = 0) -> int:
        """xruns JACK has reported since ``mark`` (its log lines that mention one)."""
        return len(self.xrun_times_since(mark))

    def xrun_times_since(self, mark: int = 0) -> list[int]:
        """When each xrun since ``mark`` was read from the server (``perf_counter_ns``; the
        xrun itself happened at most a few milliseconds earlier)."""
        lines = list(zip(self._log_ns[mark:], self._log[mark:]))
        return [t for t, line in lines if _XRUN.search(line)]

    def log(self) -> list[str]:
        return list(self._log)

    def stop(self) -> None:
        """Stop the server this object started (SIGTERM, then SIGKILL after 5 s)."""
        if self._env_set:  # a start that failed never changed it: leave the user's value alone
            if self._previous_env is None:
                os.environ.pop("JACK_DEFAULT_SERVER", None)
            else:
                os.environ["JACK_DEFAULT_SERVER"] = self._previous_env
            self._env_set = False
        p, self.process = self.process, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5.0)
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        _remove_stale_files(self.name)

    def __enter__(self) -> JackDummyServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _remove_stale_files(name: str) -> None:
    # jackd leaves its sockets in /dev/shm/jack-<uid>/<name> when killed; remove ours only.
    for base in (Path("/dev/shm"), Path(tempfile.gettempdir())):
        folder = base / f"jack-{os.getuid()}" / name
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
