"""``distortion-bench``: run one processor live, evaluate your own recordings, build the report page, or list devices.

Examples (from the repository root, after ``make repro`` has trained and exported the models)::

    distortion-bench devices
    distortion-bench evaluate --input my_di/ --processors onnx:tube-lstm,onnx:tube-tcn
    distortion-bench evaluate --input my_di/ --levels -18,-6,0 --output reports/evaluate/my_di
    distortion-bench live --processor onnx:tube-lstm --buffer 128
    distortion-bench live --processor numba:tube-lstm --buffer 32   # the same network as a Numba kernel
    distortion-bench live --processor numba:tube --input guitar.wav --output out.wav --analyzer
    distortion-bench live --processor onnx:tube-tcn --backend default --capture --seconds 30
    distortion-bench report --open      # reports/site/index.html from the results on disk
    distortion-bench verify             # do the data stages reproduce dvc.lock on this machine?
    distortion-bench verify --train     # ... and do fresh trainings land where the committed ones did?

``--backend`` defaults to ``audio.backend`` of the config (``jack_dummy``: no sound card
needed, nothing is heard); ``default`` plays through the sound card. ``--realtime`` defaults to
``audio.realtime`` (``auto``: SCHED_FIFO where permitted); the scheduling in force is printed.
Without ``--input`` or
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

from distortion_bench.errors import ConfigError, DistortionBenchError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="distortion-bench", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("devices", help="list PortAudio devices and host APIs")
    live = sub.add_parser("live", help="run one processor in a real-time stream")
    live.add_argument(
        "--processor",
        required=True,
        help="registry name, e.g. onnx:tube-lstm, numba:tube-lstm (the network as a Numba kernel), "
        "numba:tube (the DSP)",
    )
    live.add_argument("--buffer", type=int, default=128, help="frames per callback (default 128)")
    live.add_argument("--backend", choices=["default", "jack_dummy"], help="audio backend (default: audio.backend)")
    live.add_argument(
        "--realtime",
        choices=["auto", "on", "off"],
        help="real-time scheduling of the audio thread (default: audio.realtime)",
    )
    live.add_argument("--input", type=Path, help="WAV/FLAC file to play through the processor")
    live.add_argument("--capture", action="store_true", help="process the capture device instead (duplex)")
    live.add_argument("--seconds", type=float, help="stream duration (default: the input's length)")
    live.add_argument("--output", type=Path, help="also write the processed audio to this WAV file")
    live.add_argument(
        "--analyzer", action="store_true", help="spectrum analyzer: a window on a desktop, else an animation file"
    )
    live.add_argument(
        "--analyzer-file",
        type=Path,
        default=Path("reports/plots/live_spectrum.gif"),
        help="where the headless analyzer writes its animation (.gif or .mp4)",
    )
    live.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a knob before the stream starts (repeatable): --knob gain_db=18 --knob bias=0.1",
    )
    live.add_argument(
        "--knobs-from-stdin",
        action="store_true",
        help="while it plays, read lines of NAME=VALUE pairs from stdin and turn the knobs (e.g. 'gain_db=6 bias=0')",
    )
    live.add_argument("--config-dir", type=Path, default=Path("conf"), help="Hydra config folder (default conf)")
    live.add_argument("overrides", nargs="*", help="Hydra overrides, key=value")
    ev = sub.add_parser("evaluate", help="your own recordings through the DSP reference and every processor")
    ev.add_argument("--input", type=Path, required=True, help="folder of WAV/FLAC files (searched recursively)")
    ev.add_argument(
        "--processors",
        help="comma-separated registry names (default: evaluate.processors, "
        "else every trained model in ONNX Runtime and pedalboard)",
    )
    ev.add_argument("--levels", help="comma-separated peak levels in dBFS (default: evaluate.peak_levels_dbfs)")
    ev.add_argument("--no-file-level", action="store_true", help="skip the files' own level")
    ev.add_argument("--buffer", type=int, help="buffer size in samples (default: evaluate.buffer_size)")
    ev.add_argument("--output", type=Path, help="output folder (default: reports/evaluate/<input folder name>)")
    ev.add_argument("--no-audio", action="store_true", help="write the tables only")
    ev.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="evaluate at this setting (repeatable): the DSP references render it and knob-conditioned "
        "models follow it (default processors: every conditioned pair)",
    )
    ev.add_argument("--config-dir", type=Path, default=Path("conf"), help="Hydra config folder (default conf)")
    ev.add_argument("overrides", nargs="*", help="Hydra overrides, key=value")
    rep = sub.add_parser("report", help="rebuild the report page (reports/site/index.html) from existing results")
    rep.add_argument("--open", action="store_true", help="open the page in a web browser when written")
    rep.add_argument("--config-dir", type=Path, default=Path("conf"), help="Hydra config folder (default conf)")
    rep.add_argument("overrides", nargs="*", help="Hydra overrides, key=value (e.g. report.excerpts=5)")
    ver = sub.add_parser(
        "verify",
        help="re-run the data stages (and optionally training) and compare with the "
        "committed dvc.lock hashes and quality figures",
    )
    ver.add_argument(
        "--train",
        action="store_true",
        help="also train every pair (as long as the train stage) and compare the quality figures",
    )
    ver.add_argument(
        "--fresh",
        type=Path,
        help="compare with the train reports of a run made elsewhere "
        "(its reports/train folder) instead of training here",
    )
    ver.add_argument("--keep", type=Path, help="keep the fresh data and models in this folder")
    ver.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="the composed config the committed run used (default params.yaml)",
    )
    return p


def _verify(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from distortion_bench.verify import verify

    if not args.params.is_file():
        raise ConfigError(f"{args.params}: no such file; run from the repository root (or pass --params)")
    cfg = OmegaConf.load(args.params)
    if args.fresh is not None and not args.fresh.is_dir():
        raise ConfigError(f"--fresh {args.fresh}: not a folder; expected a run's reports/train folder")
    checks = verify(cfg, Path.cwd(), train=args.train, fresh_reports=args.fresh, keep=args.keep)
    for check in checks:
        print(check.line())
    bad = [c for c in checks if not c.ok]
    print(
        f"{len(checks) - len(bad)} match, {len(bad)} mismatch"
        + ("" if args.train or args.fresh else " (data only; --train or --fresh for the quality figures)")
    )
    return 1 if bad else 0


def _report(args: argparse.Namespace) -> int:
    import webbrowser

    from distortion_bench.config import compose_config
    from distortion_bench.report.site import build_site, folder_bytes

    index = build_site(compose_config(args.config_dir, args.overrides))
    print(f"wrote {index} ({folder_bytes(index.parent) / 1e6:.1f} MB with its audio and images)")
    if args.open and not webbrowser.open(index.resolve().as_uri()):
        print(f"no web browser found: open {index.resolve().as_uri()} yourself")
    return 0


def _devices() -> int:
    from distortion_bench.engine.audio_backends import list_devices

    devices = list_devices()
    if not devices:
        print("no audio devices found (no sound card?): `live --backend jack_dummy` needs none")
    for d in devices:
        print(
            f"{d['index']:3d}  {d['name']:<40s} {d['host_api']:<12s} in {d['inputs']:2d}  out {d['outputs']:2d}  "
            f"{d['default_rate']:.0f} Hz"
        )
    return 0


#: largest buffer the live command accepts (frames): JACK's own limit
MAX_BUFFER = 8192


def check_live_args(args: argparse.Namespace) -> None:
    """Refuse bad ``live`` options with the option named (as config values are refused)."""
    if not 1 <= args.buffer <= MAX_BUFFER:
        raise ConfigError(f"--buffer: expected a number of frames in 1..{MAX_BUFFER}, got {args.buffer}")
    if args.seconds is not None and not (args.seconds > 0 and np.isfinite(args.seconds)):
        raise ConfigError(f"--seconds: expected a positive number of seconds, got {args.seconds}")
    if args.input is not None and args.capture:
        raise ConfigError("--input and --capture: expected one source, got both")


def parse_knobs(items: list[str], option: str = "--knob") -> dict[str, float]:
    """``["gain_db=18", "bias=0.1"]`` -> ``{"gain_db": 18.0, "bias": 0.1}``; the option is named in errors."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            values[name.strip()] = float(text)
        except ValueError:
            raise ConfigError(f"{option}: expected NAME=VALUE with a number, got {item!r}") from None
    return values


def _follow_stdin(space: Any, mailbox: Any) -> None:
    """Lines of ``NAME=VALUE`` pairs from stdin, checked and posted to the audio thread."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            mailbox.post(**space.check(parse_knobs(line.split(), "stdin")))
        except DistortionBenchError as exc:  # a typo must not stop the music
            print(f"knobs: {exc}", file=sys.stderr)


def _live(args: argparse.Namespace) -> int:
    from distortion_bench.analysis.stream_summary import summarize_stream
    from distortion_bench.audio_io import read_audio, write_audio
    from distortion_bench.bench.spectrum_analyzer import SpectrumAnalyzer
    from distortion_bench.config import compose_config
    from distortion_bench.engine.audio_backends import audio_host, run_stream
    from distortion_bench.engine.audio_engine import CallbackEngine, record_capacity
    from distortion_bench.engine.realtime import decide
    from distortion_bench.engine.registry import build_processor
    from distortion_bench.synth.measurement import log_sweep

    check_live_args(args)
    cfg = compose_config(args.config_dir, args.overrides)
    sr = int(cfg.audio.sample_rate)
    backend = args.backend or str(cfg.audio.backend)
    decision = decide(args.realtime or str(cfg.audio.realtime), int(cfg.audio.rt_priority))
    processor = build_processor(args.processor, cfg, int(cfg.bench.threads))
    knobs = parse_knobs(args.knob)
    if knobs or args.knobs_from_stdin:
        from distortion_bench.dsp.knobs import KnobError
        from distortion_bench.engine.knob_mailbox import KnobbedProcessor, KnobMailbox

        space = processor.knob_space()
        if not space.specs:
            raise KnobError(f"--knob: {args.processor} has no knobs")
        knobs = space.check(knobs, "--knob")
        if args.knobs_from_stdin:
            mailbox = KnobMailbox()
            processor = KnobbedProcessor(processor, mailbox)
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
    engine = CallbackEngine(
        processor,
        args.buffer,
        source,
        record_capacity(seconds, sr, args.buffer),
        tap=analyzer.feed if analyzer else None,
    )
    if knobs:  # after the engine's reset: the stream starts at this setting, with no glide
        processor.set_knobs(at_once=True, **knobs)
    if args.knobs_from_stdin:
        threading.Thread(target=_follow_stdin, args=(processor.knob_space(), mailbox), daemon=True).start()
    window = analyzer is not None and bool(os.environ.get("DISPLAY") or sys.platform == "darwin")
    result: dict[str, Any] = {}

    def stream() -> None:
        with audio_host(backend, sr, args.buffer, decision) as host:
            result["locked"] = host.memory_locked
            result["stats"] = run_stream(host, engine, sr, seconds, capture=args.capture)

    if window:  # the GUI needs the main thread; audio runs beside it
        worker = threading.Thread(target=stream, daemon=True)
        worker.start()
        analyzer.show(worker.is_alive)
        worker.join()
    else:
        stream()
    stats = result["stats"]
    print(
        f"scheduling in force: audio callback thread {stats.scheduling} priority {stats.priority} "
        f"({'real time: ' + decision.reason if decision.enabled else decision.reason}; "
        f"memory {'locked' if result['locked'] else 'not locked'})"
    )
    print(json.dumps({"processor": args.processor, **summarize_stream(stats)}, indent=2, default=float))
    if args.output is not None:
        write_audio(args.output, engine.recording[: engine.recorded_samples].copy(), sr)
        print(f"wrote {args.output}")
    if analyzer is not None and not window:
        frames = analyzer.render(args.analyzer_file)
        print(f"wrote {args.analyzer_file} ({frames} frames)")
    return 0


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated numbers, got {text!r}") from None


def _evaluate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from distortion_bench.bench.evaluate_files import evaluate_folder, plan_from_config
    from distortion_bench.config import compose_config

    cfg = compose_config(args.config_dir, args.overrides)
    names = [n.strip() for n in args.processors.split(",") if n.strip()] if args.processors else None
    plan = plan_from_config(cfg, names, parse_knobs(args.knob))
    if args.levels is not None:
        levels = _floats(args.levels, "--levels")
        if any(not -120.0 <= v <= 0.0 for v in levels):
            raise ConfigError(f"--levels: expected peak levels in -120..0 dBFS, got {levels}")
        plan = replace(plan, peak_levels_dbfs=tuple(levels))
    if args.buffer is not None:
        if args.buffer < 1:
            raise ConfigError(f"--buffer: expected a positive number of samples, got {args.buffer}")
        plan = replace(plan, buffer_size=args.buffer)
    plan = replace(
        plan, file_level=plan.file_level and not args.no_file_level, write_audio=plan.write_audio and not args.no_audio
    )
    if not plan.file_level and not plan.peak_levels_dbfs:
        raise ConfigError("--levels: expected at least one level with --no-file-level")
    out = args.output or Path(cfg.paths.reports) / "evaluate" / args.input.resolve().name
    rows = evaluate_folder(cfg, args.input, out, plan)
    print((out / "evaluate.md").read_text().split("## Every file")[0].rstrip())
    print(f"\n{len(rows)} rows: {out / 'evaluate.csv'}, {out / 'evaluate.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "devices":
            return _devices()
        if args.command == "report":
            return _report(args)
        if args.command == "verify":
            return _verify(args)
        return _evaluate(args) if args.command == "evaluate" else _live(args)
    except DistortionBenchError as exc:
        print(f"distortion-bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the engine and the JACK server have already stopped
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
