"""Audio backends for the engine (``audio.backend``) and running one stream on them.

- ``default``: PortAudio's default devices (a desktop with a sound card);
- ``jack_dummy``: a private JACK server with the dummy driver (:mod:`.jack_server`), reached
  through PortAudio's JACK host API; for CI and machines without a sound card.

There is no fallback to a simulated clock: a backend that cannot open says why.

With ``jack_dummy`` the server runs with real-time scheduling when the
:class:`~.realtime.RealtimeDecision` says so (``audio.realtime``, see :mod:`.realtime`), and the
process's memory is locked while the host is open. A stream asked for real time whose callback
thread turns out not to be SCHED_FIFO is an error, never a result.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from distortion_bench.engine.audio_engine import CallbackEngine, StreamStats
from distortion_bench.engine.jack_server import JackDummyServer
from distortion_bench.engine.realtime import MemoryLock, RealtimeDecision, RealtimeError
from distortion_bench.errors import ConfigError, DistortionBenchError

BACKENDS = ("default", "jack_dummy")


class AudioDeviceError(DistortionBenchError):
    """No usable audio device or host API for the chosen backend."""


def import_pyaudio() -> Any:
    try:
        import pyaudio
    except ImportError as exc:
        raise AudioDeviceError(
            "PyAudio is not installed: `sudo apt-get install portaudio19-dev` then "
            "`pip install -e .[realtime]` (`make setup` does both)"
        ) from exc
    return pyaudio


@contextlib.contextmanager
def _quiet_stderr(quiet: bool) -> Iterator[None]:
    """Silence file descriptor 2 while PortAudio probes its host APIs: on a machine without a
    sound card ALSA prints a screen of errors about missing cards, none of which matter to a
    JACK stream."""
    if not quiet:
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """No garbage-collector pause inside the callback while streaming: the callback allocates a
    tuple per call, and the collector it may trigger walks every object of the process (tens of
    milliseconds with PyTorch loaded). A pause there is neither the processor's nor the
    scheduler's doing, so collect first, freeze what exists, and turn it back on afterwards."""
    enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


@dataclass
class AudioHost:
    """An initialised PortAudio with the devices a backend uses (and its JACK server, if any).

    ``realtime``: whether the JACK server was started with real-time scheduling (None on the
    ``default`` backend, whose scheduling is the sound card driver's); ``memory_locked``:
    whether ``mlockall`` is in force.
    """

    backend: str
    pa: Any
    output_device: int
    input_device: int | None
    server: JackDummyServer | None
    realtime: bool | None = None
    memory_locked: bool = False


@contextlib.contextmanager
def audio_host(
    backend: str, sample_rate: int, buffer_size: int, realtime: RealtimeDecision | None = None
) -> Iterator[AudioHost]:
    """PortAudio set up for ``backend``; for ``jack_dummy`` a JACK server at ``sample_rate``
    with a period of ``buffer_size`` frames, stopped on exit (also on error or Ctrl-C).

    ``realtime`` (from :func:`~.realtime.decide`; None = ordinary scheduling): with it enabled
    the server runs ``jackd -R -P <priority>`` and memory is locked while the host is open.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"audio.backend: expected one of {list(BACKENDS)}, got {backend!r}")
    pyaudio = import_pyaudio()
    rt = realtime is not None and realtime.enabled
    with contextlib.ExitStack() as stack:
        server = (
            stack.enter_context(
                JackDummyServer(sample_rate, buffer_size, realtime=rt, priority=realtime.priority if rt else 70)
            )
            if backend == "jack_dummy"
            else None
        )
        memory = stack.enter_context(MemoryLock(enabled=rt))
        with _quiet_stderr(server is not None):
            pa = pyaudio.PyAudio()  # after the server: PortAudio looks for JACK when it starts
        stack.callback(pa.terminate)
        try:
            if server is not None:
                api = pa.get_host_api_info_by_type(pyaudio.paJACK)
                out, inp = int(api["defaultOutputDevice"]), int(api["defaultInputDevice"])
            else:
                out = int(pa.get_default_output_device_info()["index"])
                try:
                    inp = int(pa.get_default_input_device_info()["index"])
                except OSError:
                    inp = -1
        except OSError as exc:
            hint = (
                "PortAudio was built without JACK support"
                if server is not None
                else "no default output device: on a machine without a sound card use audio.backend=jack_dummy"
            )
            raise AudioDeviceError(f"audio backend {backend!r}: {exc} ({hint})") from exc
        if out < 0:
            raise AudioDeviceError(f"audio backend {backend!r}: no output device")
        yield AudioHost(
            backend,
            pa,
            out,
            inp if inp >= 0 else None,
            server,
            realtime=rt if server is not None else None,
            memory_locked=memory.locked,
        )


def list_devices() -> list[dict[str, Any]]:
    """Every PortAudio device: index, name, host API, channels, default rate."""
    pyaudio = import_pyaudio()
    pa = pyaudio.PyAudio()
    try:
        out = []
        for i in range(pa.get_device_count()):
            d = pa.get_device_info_by_index(i)
            out.append(
                {
                    "index": i,
                    "name": d["name"],
                    "host_api": pa.get_host_api_info_by_index(d["hostApi"])["name"],
                    "inputs": d["maxInputChannels"],
                    "outputs": d["maxOutputChannels"],
                    "default_rate": d["defaultSampleRate"],
                }
            )
        return out
    finally:
        pa.terminate()


def run_stream(
    host: AudioHost,
    engine: CallbackEngine,
    sample_rate: int,
    seconds: float,
    capture: bool = False,
    poll_s: float = 0.01,
    min_callbacks: int = 0,
) -> StreamStats:
    """Stream through ``engine`` for ``seconds`` of wall-clock time on ``host``'s devices, and
    on until at least ``min_callbacks`` callbacks have come (at most twice the time they need).

    Output only, unless ``capture`` (duplex: the engine's input is the capture device).
    Raises :class:`~.realtime.RealtimeError` when the host was asked for real time but the
    callback thread was not SCHED_FIFO.
    """
    pyaudio = import_pyaudio()
    if capture and host.input_device is None:
        raise AudioDeviceError(f"audio backend {host.backend!r}: no input device to capture from")
    stream = host.pa.open(
        format=pyaudio.paFloat32,
        channels=1,
        rate=int(sample_rate),
        output=True,
        input=capture,
        frames_per_buffer=engine.buffer_size,
        output_device_index=host.output_device,
        input_device_index=host.input_device if capture else None,
        stream_callback=engine.callback,
        start=False,
    )
    mark = host.server.mark() if host.server is not None else 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(_no_gc_pauses())
        stack.callback(stream.close)
        limit = max(seconds, 2.0 * min_callbacks * engine.buffer_size / sample_rate)
        start = time.monotonic()
        stream.start_stream()
        while stream.is_active():
            elapsed = time.monotonic() - start
            if elapsed >= limit or (elapsed >= seconds and engine.callbacks >= min_callbacks):
                break
            time.sleep(poll_s)
        stream.stop_stream()
        elapsed = time.monotonic() - start
        out_latency = float(stream.get_output_latency())
        in_latency = float(stream.get_input_latency()) if capture else None
    xrun_ns = host.server.xrun_times_since(mark) if host.server is not None else None
    stats = engine.stats(
        host.backend, sample_rate, elapsed, None if xrun_ns is None else len(xrun_ns), out_latency, in_latency, xrun_ns
    )
    if host.realtime and stats.callbacks and stats.scheduling != "fifo":
        raise RealtimeError(
            f"the JACK server was started with real-time scheduling, but the audio callback "
            f"thread ran {stats.scheduling!r} (priority {stats.priority}): the stream measured "
            "an ordinary thread, so it is not a result; check jackd's messages and the "
            "process's rtprio limit"
        )
    return stats
