"""``distortion-bench``: run one processor live through the real-time engine, or list devices.

Examples (from the repository root, after ``make repro`` has trained and exported the models)::

    distortion-bench devices
    distortion-bench live --processor onnx:tube-lstm --buffer 128
    distortion-bench live --processor numba:tube --input guitar.wav --output out.wav --analyzer
    distortion-bench live --processor onnx:tube-tcn --backend default --capture --seconds 30

``--backend`` defaults to ``audio.backend`` of the config (``jack_dummy``: no sound card
needed, nothing is heard); ``default`` plays through the sound card. Without ``--input`` or
``--capture`` the input is a 5 s sine sweep. Extra ``key=value`` arguments are Hydra overrides
of ``conf/`` (e.g. ``paths.exported=elsewhere``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from distortion_bench.errors import DistortionBenchError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="distortion-bench", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("devices", help="list PortAudio devices and host APIs")
    live = sub.add_parser("live", help="run one processor in a real-time stream")
    live.add_argument("--processor", required=True, help="registry name, e.g. onnx:tube-lstm, numba:tube")
    live.add_argument("--buffer", type=int, default=128, help="frames per callback (default 128)")
    live.add_argument("--backend", choices=["default", "jack_dummy"], help="audio backend (default: audio.backend)")
    live.add_argument("--input", type=Path, help="WAV/FLAC file to play through the processor")
    live.add_argument("--capture", action="store_true", help="process the capture device instead (duplex)")
    live.add_argument("--seconds", type=float, help="stream duration (default: the input's length)")
    live.add_argument("--output", type=Path, help="also write the processed audio to this WAV file")
    live.add_argument("--analyzer", action="store_true",
                      help="spectrum analyzer: a window on a desktop, else an animation file")
    live.add_argument("--analyzer-file", type=Path, default=Path("reports/plots/live_spectrum.gif"),
                      help="where the headless analyzer writes its animation (.gif or .mp4)")
    live.add_argument("--config-dir", type=Path, default=Path("conf"), help="Hydra config folder (default conf)")
    live.add_argument("overrides", nargs="*", help="Hydra overrides, key=value")
    return p


def _devices() -> int:
    from distortion_bench.engine.audio_backends import list_devices

    devices = list_devices()
    if not devices:
        print("no audio devices found (no sound card?): `live --backend jack_dummy` needs none")
    for d in devices:
        print(f"{d['index']:3d}  {d['name']:<40s} {d['host_api']:<12s} in {d['inputs']:2d}  out {d['outputs']:2d}  "
              f"{d['default_rate']:.0f} Hz")
    return 0


def _live(args: argparse.Namespace) -> int:
    from distortion_bench.analysis.spectrum_analyzer import SpectrumAnalyzer
    from distortion_bench.audio_io import read_audio, write_audio
    from distortion_bench.config import compose_config
    from distortion_bench.engine.audio_backends import audio_host, run_stream
    from distortion_bench.engine.audio_engine import CallbackEngine, record_capacity
    from distortion_bench.engine.registry import build_processor
    from distortion_bench.synth.measurement import log_sweep

    cfg = compose_config(args.config_dir, args.overrides)
    sr = int(cfg.audio.sample_rate)
    backend = args.backend or str(cfg.audio.backend)
    processor = build_processor(args.processor, cfg, int(cfg.bench.threads))
    if args.capture:
        source = None
    elif args.input is not None:
        source = read_audio(args.input, sr, stereo="downmix", resample=True).samples
    else:
        source = log_sweep(5.0, 50.0, 10000.0, -12.0, sr).astype(np.float32)
    seconds = args.seconds or (source.size / sr if source is not None else 10.0)
    analyzer = None
    if args.analyzer:
        effect = processor.facts().effect
        reference = None if args.processor == f"numba:{effect}" else build_processor(f"numba:{effect}", cfg)
        analyzer = SpectrumAnalyzer(sr, reference, args.processor, fft_size=4096)
    engine = CallbackEngine(processor, args.buffer, source, record_capacity(seconds, sr, args.buffer),
                            tap=analyzer.feed if analyzer else None)
    window = analyzer is not None and bool(os.environ.get("DISPLAY") or sys.platform == "darwin")
    result: dict[str, Any] = {}

    def stream() -> None:
        with audio_host(backend, sr, args.buffer) as host:
            result["stats"] = run_stream(host, engine, sr, seconds, capture=args.capture)

    if window:  # the GUI needs the main thread; audio runs beside it
        worker = threading.Thread(target=stream, daemon=True)
        worker.start()
        analyzer.show(worker.is_alive)
        worker.join()
    else:
        stream()
    stats = result["stats"]
    print(json.dumps({"processor": args.processor, **stats.summary()}, indent=2, default=float))
    if args.output is not None:
        write_audio(args.output, engine.recording[:engine.recorded_samples].copy(), sr)
        print(f"wrote {args.output}")
    if analyzer is not None and not window:
        frames = analyzer.render(args.analyzer_file)
        print(f"wrote {args.analyzer_file} ({frames} frames)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _devices() if args.command == "devices" else _live(args)
    except DistortionBenchError as exc:
        print(f"distortion-bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the engine and the JACK server have already stopped
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
