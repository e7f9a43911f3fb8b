"""Your own recordings as an evaluation set: ``distortion-bench evaluate`` and stage ``evaluate``.

Every WAV/FLAC file below a folder (read like the corpus loader reads ``data/raw``: stereo
downmixed, other rates resampled, bad files refused with a message naming the file) is
streamed, from ``reset()``, in buffers of ``buffer_size`` samples through its effect's DSP
reference (``numba:<effect>``) and through every processor, at the file's own level and
normalised to each peak level. With ``knobs`` (``--knob gain_db=18``, or ``evaluate.knobs``)
every processor and every DSP reference is set to that setting after each ``reset()``: the
references render the effect at it, the knob-conditioned models follow it, and a processor
that cannot take it (a fixed-setting model) is refused before anything is rendered.

Per file, level and processor the table gives ESR, residual ESR, MR-STFT distance
(:mod:`..analysis.metrics`, against the DSP output) and the band difference
(:mod:`..analysis.band_levels`: the largest third-octave level difference, which is where the
harmonics a distortion adds would differ on real playing).

Outputs in ``out_dir``: ``evaluate.csv``, ``evaluate.md`` (per file, and the median per
processor and level), ``evaluate.json``, and with ``write_audio`` the rendered audio
(``audio/<file>/<level>/<dry|reference_<effect>|processor>.wav``) as 32-bit float WAV: exactly
the samples that were scored. (A tube saturator's output peaks above full scale, to -1.2 on the
default settings; an integer format would clip it, so a listener would hear other audio than the
table scored.)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from omegaconf import DictConfig

from distortion_bench.analysis.band_levels import band_levels_db, level_difference_db
from distortion_bench.analysis.metrics import signal_quality
from distortion_bench.atomic import atomic_directory, write_json, write_text
from distortion_bench.audio_io import find_audio_files, read_audio
from distortion_bench.bench.common import csv_text
from distortion_bench.bench.quality import as_jsonable
from distortion_bench.bench.selection import dsp_backends
from distortion_bench.config import matrix_effects, matrix_models, plain, train_pairs
from distortion_bench.engine.dsp_processors import dsp_processor
from distortion_bench.engine.processor import Processor
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import AudioFileError, ConfigError

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "file",
    "level",
    "peak_dbfs",
    "seconds",
    "processor",
    "effect",
    "esr",
    "esr_pre",
    "residual_esr",
    "mrstft",
    "band_diff_db",
)


@dataclass(frozen=True)
class EvaluationPlan:
    """What to evaluate: processors (registry names), levels, buffer size, audio or not."""

    processors: tuple[str, ...]
    file_level: bool
    peak_levels_dbfs: tuple[float, ...]
    buffer_size: int
    write_audio: bool = True
    knobs: tuple[tuple[str, float], ...] = ()


def default_processors(cfg: DictConfig, knobs: Sequence[str] = ()) -> list[str]:
    """Every trained pair of ``train_matrix`` in ONNX Runtime, and pedalboard per effect that
    benchmarks it (:func:`~distortion_bench.bench.selection.dsp_backends`: not the clipper); with
    ``knobs`` (the names of a setting), every knob-conditioned pair of ``knob_matrix`` whose
    effect has those knobs, in ONNX Runtime, instead."""
    if knobs:
        return [
            f"onnx:{e}-{m}-knobs"
            for e, m in train_pairs(cfg, "knob_matrix")
            if set(knobs) <= set(cfg.effects[e].get("knobs") or {})
        ]
    out = []
    for effect in matrix_effects(cfg):
        if "pedalboard" in dsp_backends(cfg, effect)[1]:
            out.append(f"pedalboard:{effect}")
        out += [f"onnx:{effect}-{model}" for model in matrix_models(cfg, effect)]
    return out


def plan_from_config(
    cfg: DictConfig, processors: Sequence[str] | None = None, knobs: dict[str, float] | None = None
) -> EvaluationPlan:
    """The plan from ``evaluate.*`` (``processors`` and ``knobs`` given on the command line win)."""
    ev = cfg.evaluate
    setting = dict(knobs) if knobs else {str(k): float(v) for k, v in (ev.get("knobs") or {}).items()}
    names = list(processors) if processors else (list(ev.processors) or default_processors(cfg, tuple(setting)))
    levels = tuple(float(v) for v in ev.peak_levels_dbfs)
    if any(not -120.0 <= v <= 0.0 for v in levels):
        raise ConfigError(f"evaluate.peak_levels_dbfs: expected peak levels in -120..0 dBFS, got {list(levels)}")
    if not ev.file_level and not levels:
        raise ConfigError("evaluate.peak_levels_dbfs: expected at least one level when evaluate.file_level is false")
    bs = ev.buffer_size
    if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
        raise ConfigError(f"evaluate.buffer_size: expected a positive number of samples, got {bs!r}")
    return EvaluationPlan(
        tuple(names), bool(ev.file_level), levels, int(bs), bool(ev.write_audio), tuple(setting.items())
    )


def render(proc: Processor, x: np.ndarray, plan: EvaluationPlan) -> np.ndarray:
    """``x`` through ``proc`` from ``reset()`` in buffers of the plan's size, at the plan's setting,
    aligned with ``x`` by the processor's reported latency (an oversampling DSP's filters), as the
    targets are: followed by that many samples of silence, the first that many output dropped."""
    proc.reset()
    if plan.knobs:
        proc.set_knobs(at_once=True, **dict(plan.knobs))
    return proc.process_aligned(x, plan.buffer_size, reset=False)


def levels_of(x: np.ndarray, plan: EvaluationPlan) -> list[tuple[str, np.ndarray]]:
    """``(label, signal)`` per level: ``file`` as recorded, ``-6dBFS`` normalised to that peak."""
    out = [("file", x)] if plan.file_level else []
    peak = float(np.max(np.abs(x)))
    for level in plan.peak_levels_dbfs:
        gain = 0.0 if peak == 0.0 else 10 ** (level / 20) / peak
        out.append((f"{level:g}dBFS", (x * gain).astype(np.float32)))
    return out


def _write_scored_audio(path: Path, x: np.ndarray, sample_rate: int) -> None:
    """``x`` as float WAV, unclipped and unscaled: the file holds exactly what was scored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(x, np.float32), sample_rate, format="WAV", subtype="FLOAT")


def evaluate_folder(
    cfg: DictConfig, input_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], plan: EvaluationPlan
) -> list[dict[str, Any]]:
    """Evaluate every audio file below ``input_dir``; write the outputs to ``out_dir`` (replaced
    whole, only when everything succeeded); return the table's rows."""
    folder = Path(input_dir)
    if not folder.is_dir():
        raise AudioFileError(f"{folder}: no such folder; expected a folder of WAV/FLAC recordings")
    files = find_audio_files(folder)
    if not files:
        raise AudioFileError(f"{folder}: no WAV or FLAC files in it")
    sr = int(cfg.audio.sample_rate)
    # every file is read (and refused) before anything is rendered
    signals = {f: read_audio(f, sr, stereo="downmix", resample=True).samples for f in files}
    processors: dict[str, Processor] = {
        name: build_processor(name, cfg, int(cfg.bench.threads)) for name in plan.processors
    }
    effects = {name: p.facts().effect for name, p in processors.items()}
    # the exact sample-by-sample DSP (what the targets are rendered with), not the benches' fast form
    references = {
        effect: dsp_processor(plain(cfg.effects[effect]), effect, sr, "numba", exact=True)
        for effect in sorted(set(effects.values()))
    }
    if plan.knobs:  # every processor takes the setting, or nothing is rendered
        for name, proc in [*processors.items(), *((f"numba:{e}", r) for e, r in references.items())]:
            if not proc.knob_space().specs:
                raise ConfigError(
                    f"--knob / evaluate.knobs: {name} has no knobs (a fixed-setting model); evaluate a "
                    "knob-conditioned one (onnx:<effect>-<model>-knobs) at a setting, or drop the knobs"
                )
            proc.set_knobs(at_once=True, **dict(plan.knobs))
    rows: list[dict[str, Any]] = []
    with atomic_directory(Path(out_dir)) as tmp:
        for path, samples in signals.items():
            rel = path.relative_to(folder).as_posix()
            for label, x in levels_of(samples, plan):
                seconds = round(x.size / sr, 3)
                peak = float(np.max(np.abs(x)))
                peak_db = None if peak == 0.0 else round(20 * np.log10(peak), 2)
                audio_dir = tmp / "audio" / Path(rel).with_suffix("").as_posix() / label
                if plan.write_audio:
                    _write_scored_audio(audio_dir / "dry.wav", x, sr)
                refs = {effect: render(ref, x, plan) for effect, ref in references.items()}
                # each reference's band levels once, not once per processor compared with it
                ref_levels = {effect: band_levels_db(y, sr)[1] for effect, y in refs.items()}
                for effect, y in refs.items():
                    if plan.write_audio:
                        _write_scored_audio(audio_dir / f"reference_{effect}.wav", y, sr)
                for name, proc in processors.items():
                    effect = effects[name]
                    est = render(proc, x, plan)
                    q = signal_quality(x, refs[effect], est)
                    band_diff = level_difference_db(ref_levels[effect], band_levels_db(est, sr)[1])
                    rows.append(
                        {
                            "file": rel,
                            "level": label,
                            "peak_dbfs": peak_db,
                            "seconds": seconds,
                            "processor": name,
                            "effect": effect,
                            **q,
                            "band_diff_db": band_diff,
                        }
                    )
                    if plan.write_audio:
                        _write_scored_audio(audio_dir / f"{name.replace(':', '_')}.wav", est, sr)
                log.info(
                    "%s @ %s: %s",
                    rel,
                    label,
                    {r["processor"]: r["esr"] for r in rows if r["file"] == rel and r["level"] == label},
                )
        write_text(tmp / "evaluate.csv", csv_text(rows, CSV_COLUMNS))
        write_json(tmp / "evaluate.json", as_jsonable({"input": str(folder), "plan": plan.__dict__, "rows": rows}))
        write_text(tmp / "evaluate.md", evaluation_markdown(rows, folder, plan))
    return rows


def _pct(v: float | None) -> str:
    return "undefined" if v is None else f"{100 * v:.3g} %"


def _num(v: float | None, spec: str = ".3g") -> str:
    return "undefined" if v is None else format(v, spec)


def evaluation_markdown(rows: Sequence[dict[str, Any]], folder: Path, plan: EvaluationPlan) -> str:
    """The table: medians per processor and level, then every file."""
    names = list(dict.fromkeys(r["processor"] for r in rows))
    levels = list(dict.fromkeys(r["level"] for r in rows))
    lines = [
        f"# Evaluation of {folder}",
        "",
        f"{len({r['file'] for r in rows})} files, streamed in buffers of {plan.buffer_size} samples"
        + (f" at {', '.join(f'{k} = {v:g}' for k, v in plan.knobs)}" if plan.knobs else "")
        + "; "
        "every metric against the effect's DSP reference (numba). ESR: error energy / reference "
        "energy (phase-aware: a polarity inversion is 400 %); residual ESR: the same for what the "
        "effect adds (output - input; identity = 1); band diff: the largest third-octave level "
        "difference (dB, magnitude only) over the bands where either signal is within 60 dB of its "
        "loudest band.",
        "",
        "## Median over files",
        "",
        "| processor | level | ESR | residual ESR | MR-STFT | band diff (dB) |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        for level in levels:
            mine = [r for r in rows if r["processor"] == name and r["level"] == level]

            def med(key: str, rs: list[dict[str, Any]] = mine) -> float | None:
                vals = [r[key] for r in rs if r[key] is not None]
                return float(np.median(vals)) if vals else None

            lines.append(
                f"| `{name}` | {level} | {_pct(med('esr'))} | {_num(med('residual_esr'))} | "
                f"{_num(med('mrstft'))} | {_num(med('band_diff_db'), '.1f')} |"
            )
    lines += [
        "",
        "## Every file",
        "",
        "| file | level | peak (dBFS) | processor | ESR | residual ESR | MR-STFT | band diff (dB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['level']} | {_num(r['peak_dbfs'], '.1f')} | `{r['processor']}` | "
            f"{_pct(r['esr'])} | {_num(r['residual_esr'])} | {_num(r['mrstft'])} | "
            f"{_num(r['band_diff_db'], '.1f')} |"
        )
    return "\n".join(lines) + "\n"


def run(cfg: DictConfig) -> None:
    """Stage ``evaluate@<name>``: the folder ``evaluate.inputs[select.input]`` into
    ``<reports>/evaluate/<name>/``."""
    inputs = dict(cfg.evaluate.inputs or {})
    name = cfg.select.get("input")
    if name is None or name not in inputs:
        raise ConfigError(f"select.input: expected one of the keys of evaluate.inputs {sorted(inputs)}, got {name!r}")
    out = Path(cfg.paths.reports) / "evaluate" / str(name)
    rows = evaluate_folder(cfg, inputs[name], out, plan_from_config(cfg))
    log.info("evaluate@%s: %d rows in %s", name, len(rows), out)
