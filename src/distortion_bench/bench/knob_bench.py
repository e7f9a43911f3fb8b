"""Stage ``knob_bench``: what following the knobs costs a network, and how it follows them moving.

For every knob-conditioned pair of ``knob_matrix`` (``<effect>-<model>-knobs``, exported), beside
its fixed-setting twin (``<effect>-<model>``) and the effect's DSP:

1. **Cost of conditioning.** Per-buffer time (p50, p99) at ``bench.knobs.buffer_sizes`` of the
   Numba kernel and ONNX Runtime, each as: the fixed twin; the conditioned model with its knobs
   constant; the conditioned model given a new setting before every call (what a plugin pays
   while the user turns a knob: the ``set_knobs`` call is inside the timed region, and the
   network glides to each new value, :mod:`~distortion_bench.engine.knob_glide`). All timed in
   one interleaved run per buffer size (:class:`~.timing.AudioBenchmark`), reported as ratios to
   the fixed twin.
2. **Automation.** A played excerpt of the effect's test takes, with the knobs moved by a host
   (``bench.knobs.effects.<effect>.moves``: steps and ramps), sampled once per buffer as a
   plugin host sends them. The DSP (``numba:<effect>``, through its own smoother) is the
   reference; each network gets the same values per buffer. ESR against the DSP over the whole
   excerpt and over the stretch in which knobs move; the fixed twin (which cannot follow) is
   the knob-blind reference. Audio of each is written for listening.
3. **Clicks.** A quiet low tone and one knob step (``click``: e.g. gain +12 dB) at a buffer
   boundary: :func:`~distortion_bench.analysis.clicks.click_energy_db` in the window after the
   step, for the DSP (smoothed, and set at once), and each network (Numba kernel and ONNX
   Runtime, each gliding to the new value as it does), and the same figure for a
   window in the steady state after it (each processor's own floor: a network's modelling
   error is there before and after any step).

Writes ``<reports>/knobs/knob_bench.json``, ``knobs.md`` (the tables), ``audio/`` and logs
the figures to each conditioned pair's MLflow run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench.analysis.clicks import click_energy_db
from distortion_bench.analysis.metrics import category_of, esr, material_group, to_db
from distortion_bench.atomic import atomic_path, write_json
from distortion_bench.audio_io import write_audio
from distortion_bench.bench.common import test_takes
from distortion_bench.bench.offline_outputs import machine_description
from distortion_bench.bench.timing import AudioBenchmark, TimingConfig
from distortion_bench.config import plain, selected_knob_pairs
from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.engine.knob_mailbox import random_setting
from distortion_bench.engine.processor import Processor, ProcessorFacts
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import ConfigError
from distortion_bench.kernels.vector_peak import vector_peak
from distortion_bench.tracking import tracking_uri

log = logging.getLogger(__name__)

#: processor backends whose conditioned kernels are timed against their fixed twins
COST_BACKENDS = ("numba", "onnx")


class KnobsEveryCall(Processor):
    """``inner`` given the next of ``settings`` (cycled) before every call, as a host sends knob
    values once per buffer: each call is ``set_knobs`` + ``process_buffer``.

    The first call after ``reset()`` takes its setting at once (a host restoring a session before
    it plays), the others through the processor's own smoother; with ``at_once`` every one does
    (the DSP with its smoother bypassed). The settings are made before any call (nothing is drawn
    while timing).
    """

    def __init__(self, inner: Processor, settings: Sequence[Mapping[str, float]], at_once: bool = False) -> None:
        self.inner, self.settings, self.at_once = inner, [dict(s) for s in settings], at_once
        self.i, self.started = 0, False

    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        self.inner.set_knobs(at_once=self.at_once or not self.started, **self.settings[self.i])
        self.i, self.started = (self.i + 1) % len(self.settings), True
        return self.inner.process_buffer(x)

    def reset(self) -> None:
        self.inner.reset()
        self.i, self.started = 0, False

    def facts(self) -> ProcessorFacts:
        return self.inner.facts()


@dataclass(frozen=True)
class Move:
    """A host's knob move: ``knob`` to ``to`` from ``at_s`` seconds, over ``ramp_s`` (0: a step)."""

    knob: str
    to: float
    at_s: float
    ramp_s: float = 0.0


def read_moves(raw: Any, space: KnobSpace, where: str) -> list[Move]:
    """``[{knob, to, at_s, ramp_s}]`` checked against the knob space (names and ranges)."""
    if not isinstance(raw, Sequence) or not raw:
        raise ConfigError(f"{where}: expected a list of moves {{knob, to, at_s, ramp_s}}, got {raw!r}")
    moves = []
    for i, m in enumerate(raw):
        key = f"{where}[{i}]"
        if (
            not isinstance(m, Mapping)
            or set(m) - {"knob", "to", "at_s", "ramp_s"}
            or not {"knob", "to", "at_s"} <= set(m)
        ):
            raise ConfigError(f"{key}: expected {{knob, to, at_s, ramp_s}}, got {m!r}")
        space.spec(str(m["knob"]), key).check(m["to"], key)
        at, ramp = float(m["at_s"]), float(m.get("ramp_s", 0.0))
        if at < 0 or ramp < 0:
            raise ConfigError(f"{key}: at_s and ramp_s must be >= 0 seconds, got {at}, {ramp}")
        moves.append(Move(str(m["knob"]), float(m["to"]), at, ramp))
    return moves


def host_settings(
    start: Mapping[str, float], moves: Sequence[Move], buffers: int, buffer_size: int, sample_rate: int
) -> list[dict[str, float]]:
    """The setting a host sends at the start of each buffer: ``start``, then the ``moves``
    (a ramp is linear from the value the knob had when it begins)."""
    out = []
    for b in range(buffers):
        t = b * buffer_size / sample_rate
        setting = dict(start)
        for m in sorted(moves, key=lambda m: m.at_s):
            if t < m.at_s:
                continue
            before = setting[m.knob]
            frac = 1.0 if m.ramp_s == 0 else min(1.0, (t - m.at_s) / m.ramp_s)
            setting[m.knob] = before + frac * (m.to - before)
        out.append(setting)
    return out


def stream_with_host(proc: Processor, x: np.ndarray, settings: Sequence[Mapping[str, float]], size: int) -> np.ndarray:
    """``x`` streamed from ``reset()`` in buffers of ``size`` samples, ``settings[b]`` sent before
    buffer ``b`` (:class:`KnobsEveryCall`: the first at once, the others smoothed)."""
    return KnobsEveryCall(proc, settings).process_signal(x, size)


def fixed_setting(cfg: DictConfig, effect: str, space: KnobSpace) -> dict[str, float]:
    """The effect's configured setting (what its fixed-setting models learned) as knob values."""
    return {name: float(cfg.effects[effect][name]) for name in space.names}


def played_excerpt(cfg: DictConfig, effect: str, seconds: float) -> np.ndarray:
    """The first ``seconds`` of the effect's played test takes (guitar and bass), end to end."""
    takes = test_takes(cfg, effect)
    played = [d for d, p in zip(takes.dry, takes.paths) if material_group(category_of(p)) == "guitar"]
    x = np.concatenate(played or takes.dry).astype(np.float32)
    return x[: int(seconds * int(cfg.audio.sample_rate))]


def _pairs(cfg: DictConfig) -> list[tuple[str, str]]:
    return [(effect, name) for effect, name, _ in selected_knob_pairs(cfg)]


def cost_of_conditioning(cfg: DictConfig, effect: str, model: str, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Rows ``{backend, buffer_size, fixed_p50_us, knobs_p50_us, moving_p50_us, ...ratios}``."""
    pair, twin = f"{effect}-{model}-knobs", f"{effect}-{model}"
    sr = int(cfg.audio.sample_rate)
    timing = TimingConfig(**plain(cfg.bench.timing))
    signal = played_excerpt(cfg, effect, 4.0)
    rows = []
    procs: dict[str, Processor] = {}
    for backend in COST_BACKENDS:
        procs[f"{backend}:{twin}"] = build_processor(f"{backend}:{twin}", cfg)
        procs[f"{backend}:{pair}"] = build_processor(f"{backend}:{pair}", cfg)
        moving = build_processor(f"{backend}:{pair}", cfg)
        rng = np.random.default_rng(0)
        procs[f"{backend}:{pair}+moving"] = KnobsEveryCall(
            moving, [random_setting(moving.knob_space(), rng) for _ in range(64)]
        )
    bench = AudioBenchmark(procs, sr, timing)
    for size in sizes:
        stats = bench.run(signal, int(size))
        for backend in COST_BACKENDS:
            fixed, knobs = stats[f"{backend}:{twin}"], stats[f"{backend}:{pair}"]
            moving = stats[f"{backend}:{pair}+moving"]
            rows.append(
                {
                    "pair": pair,
                    "backend": backend,
                    "buffer_size": int(size),
                    "fixed_p50_us": fixed.p50_us,
                    "knobs_p50_us": knobs.p50_us,
                    "moving_p50_us": moving.p50_us,
                    "fixed_p99_us": fixed.p99_us,
                    "knobs_p99_us": knobs.p99_us,
                    "moving_p99_us": moving.p99_us,
                    "knobs_over_fixed": knobs.p50_us / fixed.p50_us,
                    "moving_over_fixed": moving.p50_us / fixed.p50_us,
                }
            )
    return rows


def automation(
    cfg: DictConfig, effect: str, models: Sequence[str], spec: Mapping[str, Any], audio_dir: Path
) -> list[dict[str, Any]]:
    """ESR against the DSP of every network (conditioned and fixed twin) under the host's moves."""
    sr = int(cfg.audio.sample_rate)
    size = int(spec.get("buffer_size", 64))
    x = played_excerpt(cfg, effect, float(spec.get("seconds", 4.0)))
    dsp = build_processor(f"numba:{effect}", cfg)
    space = dsp.knob_space()
    start = fixed_setting(cfg, effect, space)
    moves = read_moves(spec.get("moves"), space, f"bench.knobs.effects.{effect}.moves")
    buffers = -(-x.shape[0] // size)
    settings = host_settings(start, moves, buffers, size, sr)
    reference = stream_with_host(dsp, x, settings, size)
    lo = int(min(m.at_s for m in moves) * sr)
    hi = min(x.shape[0], int((max(m.at_s + m.ramp_s for m in moves) + 0.05) * sr))
    write_audio(audio_dir / f"{effect}_automation_dry.wav", x, sr)
    write_audio(audio_dir / f"{effect}_automation_numba-{effect}.wav", reference, sr)
    rows = []
    for model in models:
        for name, follows in ((f"{effect}-{model}-knobs", True), (f"{effect}-{model}", False)):
            proc = build_processor(f"numba:{name}", cfg)  # the Numba kernel: what a plugin would run
            y = stream_with_host(proc, x, settings, size) if follows else proc.process_signal(x, size)
            write_audio(audio_dir / f"{effect}_automation_numba-{name}.wav", y, sr)
            moving = esr(reference[lo:hi], y[lo:hi])
            rows.append(
                {
                    "processor": f"numba:{name}",
                    "follows_knobs": follows,
                    "esr": esr(reference, y),
                    "esr_moving": moving,
                    "esr_moving_db": to_db(moving),
                }
            )
    return rows


def clicks(cfg: DictConfig, effect: str, models: Sequence[str], spec: Mapping[str, Any]) -> dict[str, Any]:
    """Click energy after one knob step, and each processor's steady-state figure."""
    sr = int(cfg.audio.sample_rate)
    size = int(spec.get("buffer_size", 64))
    knob, frm, to = str(spec["knob"]), float(spec["from"]), float(spec["to"])
    seconds, at_s = float(spec.get("seconds", 1.5)), float(spec.get("at_s", 0.5))
    window_s, cutoff = float(spec.get("window_ms", 10.0)) / 1e3, float(spec.get("cutoff_hz", 2000.0))
    n = int(seconds * sr)
    t = np.arange(n) / sr
    x = (
        10 ** (float(spec.get("level_dbfs", -30.0)) / 20) * np.sin(2 * np.pi * float(spec.get("tone_hz", 110.0)) * t)
    ).astype(np.float32)
    at = (int(at_s * sr) // size) * size  # the step lands on a buffer boundary, as a host sends it
    steady = at + int(0.5 * sr)
    dsp = build_processor(f"numba:{effect}", cfg)
    start = fixed_setting(cfg, effect, dsp.knob_space())
    buffers = -(-n // size)
    settings = [{**start, knob: frm if b * size < at else to} for b in range(buffers)]

    def figures(y: np.ndarray) -> dict[str, float]:
        click = click_energy_db(y, at, sr, window_s, cutoff)
        floor = click_energy_db(y, steady, sr, window_s, cutoff)
        return {"click_db": click, "steady_db": floor, "excess_db": click - floor}

    rows = {f"numba:{effect}": figures(stream_with_host(dsp, x, settings, size))}
    unsmoothed = KnobsEveryCall(dsp, settings, at_once=True)  # each run starts from reset()
    rows[f"numba:{effect} (no smoothing)"] = figures(unsmoothed.process_signal(x, size))
    for model in models:
        for backend in COST_BACKENDS:  # both glide per sample (the exported file takes (1, K, time))
            name = f"{backend}:{effect}-{model}-knobs"
            rows[name] = figures(stream_with_host(build_processor(name, cfg), x, settings, size))
    dsp_click = rows[f"numba:{effect}"]["click_db"]
    for r in rows.values():
        r["vs_dsp_db"] = r["click_db"] - dsp_click
    return {
        "knob": knob,
        "from": frm,
        "to": to,
        "tone_hz": float(spec.get("tone_hz", 110.0)),
        "level_dbfs": float(spec.get("level_dbfs", -30.0)),
        "buffer_size": size,
        "window_ms": 1e3 * window_s,
        "cutoff_hz": cutoff,
        "processors": rows,
    }


def describe_moves(moves: Sequence[Mapping[str, Any]]) -> str:
    """``gain_db -> 18 at 0.5 s; bias -> 0.45 over 1 s from 1 s``: the host's moves in words."""
    parts = []
    for m in moves:
        ramp = float(m.get("ramp_s", 0.0))
        when = f"over {ramp:g} s from {float(m['at_s']):g} s" if ramp else f"at {float(m['at_s']):g} s"
        parts.append(f"{m['knob']} -> {float(m['to']):g} {when}")
    return "; ".join(parts)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Knob-conditioned networks: cost, automation, clicks",
        "",
        f"Machine: {result['machine']} ({result['isa']}); 1 thread; `dvc repro knob_bench`.",
        "",
        "## Cost of conditioning (p50 per buffer, us; ratio to the fixed-setting twin)",
        "",
        "| pair | backend | buffer | fixed | knobs constant | x fixed | new setting every call | x fixed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["cost"]:
        lines.append(
            f"| {r['pair']} | {r['backend']} | {r['buffer_size']} | {r['fixed_p50_us']:.1f} | "
            f"{r['knobs_p50_us']:.1f} | {r['knobs_over_fixed']:.2f} | {r['moving_p50_us']:.1f} | "
            f"{r['moving_over_fixed']:.2f} |"
        )
    for effect, a in result["automation"].items():
        lines += [
            "",
            f"## Automation ({effect}: {describe_moves(a['moves'])}; host values once per {a['buffer_size']}-sample "
            "buffer)",
            "",
            "| processor | follows the knobs | ESR vs DSP (whole) | ESR vs DSP (while moving) |",
            "|---|---|---|---|",
        ]
        for r in a["rows"]:
            lines.append(
                f"| `{r['processor']}` | {'yes' if r['follows_knobs'] else 'no (fixed setting)'} | "
                f"{100 * r['esr']:.3g} % | {100 * r['esr_moving']:.3g} % |"
            )
    for effect, c in result["clicks"].items():
        lines += [
            "",
            f"## Click after a step ({effect}: {c['knob']} {c['from']:g} -> {c['to']:g}, {c['tone_hz']:g} Hz tone at "
            f"{c['level_dbfs']:g} dBFS; energy above {c['cutoff_hz']:g} Hz in the {c['window_ms']:g} ms after the "
            "step, dB re the signal there)",
            "",
            "| processor | after the step | steady state | excess | vs the DSP's click |",
            "|---|---|---|---|---|",
        ]
        for name, r in c["processors"].items():
            lines.append(
                f"| `{name}` | {r['click_db']:.1f} dB | {r['steady_db']:.1f} dB | {r['excess_db']:+.1f} dB | "
                f"{r['vs_dsp_db']:+.1f} dB |"
            )
    return "\n".join(lines) + "\n"


def _log_mlflow(cfg: DictConfig, result: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri(cfg.tracking.uri))
    for effect, model in _pairs(cfg):
        pair = f"{effect}-{model}-knobs"
        report = Path(cfg.paths.reports) / "train" / f"{pair}.json"
        if not report.is_file():
            continue
        run_id = json.loads(report.read_text())["mlflow"]["run_id"]
        for r in result["cost"]:
            if r["pair"] == pair:
                key = f"knob_cost/{r['backend']}/bs{r['buffer_size']:04d}"
                client.log_metric(run_id, f"{key}/knobs_over_fixed", r["knobs_over_fixed"])
                client.log_metric(run_id, f"{key}/moving_over_fixed", r["moving_over_fixed"])
        for r in result["automation"].get(effect, {}).get("rows", []):
            if r["processor"].endswith(pair) and r["esr"] is not None:
                client.log_metric(run_id, "automation/esr_vs_dsp", r["esr"])
                client.log_metric(run_id, "automation/esr_vs_dsp_moving", r["esr_moving"])
        click = result["clicks"].get(effect, {}).get("processors", {}).get(f"numba:{pair}")
        if click:
            client.log_metric(run_id, "click/db", click["click_db"])
            client.log_metric(run_id, "click/vs_dsp_db", click["vs_dsp_db"])


def run(cfg: DictConfig) -> None:
    """Stage ``knob_bench``: every conditioned pair of ``knob_matrix``."""
    knobs_cfg = plain(cfg.bench.knobs)
    pairs = _pairs(cfg)
    out_dir = Path(cfg.paths.reports) / "knobs"
    effects = sorted({e for e, _ in pairs})
    for effect in effects:
        if effect not in (knobs_cfg.get("effects") or {}):
            raise ConfigError(f"bench.knobs.effects: no automation for {effect!r} (moves, click or null); add it")
    result: dict[str, Any] = {
        "machine": machine_description(),
        "isa": getattr(vector_peak(), "isa", "vector ISA unknown"),
        "cost": [],
        "automation": {},
        "clicks": {},
    }
    for effect, model in pairs:
        log.info("cost of conditioning: %s-%s-knobs", effect, model)
        result["cost"] += cost_of_conditioning(cfg, effect, model, knobs_cfg["buffer_sizes"])
    for effect in effects:
        spec = knobs_cfg["effects"][effect]
        models = [m for e, m in pairs if e == effect]
        rows = automation(cfg, effect, models, spec["automation"], out_dir / "audio")
        result["automation"][effect] = {
            "moves": spec["automation"]["moves"],
            "buffer_size": int(spec["automation"].get("buffer_size", 64)),
            "rows": rows,
        }
        if spec.get("click"):  # none for a knob without a level to glide through (bits)
            result["clicks"][effect] = clicks(cfg, effect, models, spec["click"])
    write_json(out_dir / "knob_bench.json", result)
    with atomic_path(out_dir / "knobs.md", suffix=".md") as tmp:
        tmp.write_text(markdown(result))
    if cfg.tracking.get("log_bench", True):
        _log_mlflow(cfg, result)
    log.info("knob bench:\n%s", markdown(result))
