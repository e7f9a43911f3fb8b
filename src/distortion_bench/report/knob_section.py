"""The report page's section on knob-conditioned networks (``train_knobs`` and ``knob_bench`` results).

Tables: quality over the held-out grid per conditioned pair beside its fixed-setting twin; the
cost of conditioning; ESR against the DSP under automation; the click after a knob step.
Listening: one row per grid setting of the pairs' examples (dry, the DSP's target, every
conditioned model at that setting) and the automation take (dry, the DSP following the host's
moves, the conditioned networks following them, the fixed twins that cannot). Images: the
heatmaps of each pair.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench.analysis.metrics import esr, residual_esr
from distortion_bench.analysis.spread import format_spread
from distortion_bench.audio_io import read_audio
from distortion_bench.bench.knob_bench import describe_moves
from distortion_bench.config import selected_knob_pairs
from distortion_bench.report.figures import spectrogram_grid
from distortion_bench.report.listening import Player, match_loudness, write_row_mp3
from distortion_bench.report.tables import Cell, Table, fmt


def _pct(value: Any) -> str:
    return "—" if value is None else f"{fmt(100 * float(value))} %"


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def grid_table(reports: Path, pairs: list[tuple[str, str]]) -> Table | None:
    """Per conditioned pair: grid ESR (median over settings; median and range over seeds), the
    worst setting, residual ESR, the model at the fixed setting, and the fixed twin's test ESR."""
    table = Table(
        "Knob-conditioned networks on the held-out grid (settings never trained on; test takes vs the DSP)",
        [
            "pair",
            "grid ESR, median over settings (seeds)",
            "worst setting: ESR",
            "grid residual ESR, median",
            "at the fixed setting: ESR",
            "fixed-setting twin: ESR",
            "grid median / twin",
        ],
    )
    for effect, model in pairs:
        report = _read(reports / "train" / f"{effect}-{model}-knobs.json")
        if report is None:
            continue
        twin = _read(reports / "train" / f"{effect}-{model}.json") or {}
        s = report["spread"]
        twin_esr = ((twin.get("spread") or {}).get("esr") or {}).get("median")
        grid_median = (s.get("grid_esr_median") or {}).get("median")
        worst = report["grid_summary"]["worst"] or {}
        where = ", ".join(f"{k} {v:g}" for k, v in (worst.get("setting") or {}).items())
        table.rows.append(
            [
                Cell(f"{effect}-{model}-knobs"),
                Cell(
                    format_spread(s.get("grid_esr_median"), percent=True),
                    str(grid_median),
                    f"grid_esr_median/{effect}-{model}-knobs",
                ),
                Cell(
                    f"{_pct(worst.get('esr'))} ({where})", str(worst.get("esr")), f"grid_worst/{effect}-{model}-knobs"
                ),
                Cell(fmt((s.get("grid_residual_esr_median") or {}).get("median"))),
                Cell(format_spread(s.get("fixed_setting_esr"), percent=True)),
                Cell(format_spread((twin.get("spread") or {}).get("esr"), percent=True)),
                Cell(fmt(grid_median / twin_esr) if grid_median and twin_esr else "—"),
            ]
        )
    table.note = (
        "The grid: cell centres of each knob's range, every test segment at every setting. The worst setting is "
        "the median-over-seeds grid's. 'At the fixed setting': the conditioned model set to the effect's own "
        "setting, on the fixed-setting models' test takes, scored as they are."
    )
    return table if table.rows else None


def bench_tables(bench: dict[str, Any]) -> list[Table]:
    """The knob bench's cost, automation and click tables."""
    cost = Table(
        f"Cost of conditioning, p50 per buffer (us), {bench['machine']} ({bench['isa']}), 1 thread",
        ["pair", "backend", "buffer", "fixed twin", "knobs constant", "x twin", "new setting every call", "x twin"],
    )
    for r in bench["cost"]:
        cost.rows.append(
            [
                Cell(r["pair"]),
                Cell(r["backend"]),
                Cell(str(r["buffer_size"])),
                Cell(fmt(r["fixed_p50_us"])),
                Cell(fmt(r["knobs_p50_us"])),
                Cell(
                    fmt(r["knobs_over_fixed"]),
                    str(r["knobs_over_fixed"]),
                    f"cost/{r['pair']}/{r['backend']}/{r['buffer_size']}",
                ),
                Cell(fmt(r["moving_p50_us"])),
                Cell(fmt(r["moving_over_fixed"])),
            ]
        )
    tables = [cost]
    for effect, a in bench["automation"].items():
        t = Table(
            f"Automation, {effect}: ESR against the DSP following the same host moves",
            ["processor", "follows the knobs", "ESR (whole take)", "ESR (while the knobs move)"],
        )
        for r in a["rows"]:
            t.rows.append(
                [
                    Cell(r["processor"]),
                    Cell("yes" if r["follows_knobs"] else "no (fixed setting)"),
                    Cell(_pct(r["esr"])),
                    Cell(_pct(r["esr_moving"])),
                ]
            )
        t.note = (
            f"Moves: {describe_moves(a['moves'])}; the host sends values once per {a['buffer_size']}-sample buffer."
        )
        tables.append(t)
    for effect, c in bench["clicks"].items():
        t = Table(
            f"Click after a step, {effect}: {c['knob']} {c['from']:g} -> {c['to']:g} on a {c['tone_hz']:g} Hz tone at "
            f"{c['level_dbfs']:g} dBFS",
            ["processor", "after the step (dB)", "steady state (dB)", "excess (dB)", "vs the DSP's click (dB)"],
        )
        for name, r in c["processors"].items():
            t.rows.append(
                [
                    Cell(name),
                    Cell(f"{r['click_db']:.1f}"),
                    Cell(f"{r['steady_db']:.1f}"),
                    Cell(f"{r['excess_db']:+.1f}"),
                    Cell(f"{r['vs_dsp_db']:+.1f}", str(r["vs_dsp_db"]), f"click/{name}"),
                ]
            )
        t.note = (
            f"Energy above {c['cutoff_hz']:g} Hz in the {c['window_ms']:g} ms after the step, dB re the signal there; "
            "'steady state': the same window 0.5 s later (each processor's own floor)."
        )
        tables.append(t)
    return tables


def _row(
    cfg: DictConfig, players: list[Player], out: Path, key: str, title: str
) -> tuple[str, float, str, list[dict[str, Any]]]:
    sr, rc = int(cfg.audio.sample_rate), cfg.report
    loudness = match_loudness(players, sr, float(rc.target_lufs), float(rc.peak_dbfs))
    # file names of letters, digits, '.', '_' and '-' only: a page's links must not need escaping
    rels = [f"audio/knobs/{key}-{re.sub(r'[^A-Za-z0-9._-]', '_', p.name)}.mp3" for p in players]
    loudness += write_row_mp3(players, [out / r for r in rels], sr, float(rc.audio_quality), float(rc.peak_dbfs))
    image = f"img/knobs/{key}.png"
    spec = rc.spectrogram
    spectrogram_grid(
        players, sr, out / image, f"knobs — {title}", int(spec.fft_size), float(spec.max_hz), float(spec.range_db)
    )
    entries = [
        {
            "name": p.name,
            "role": "dry input" if p.name == "dry" else "DSP reference" if i == 1 else "",
            "src": rel,
            "esr": fmt(p.esr),
            "residual_esr": fmt(p.residual_esr),
            "loudness": fmt(p.loudness_lufs, 3),
            "gain_db": f"{p.gain_db:+.1f}",
        }
        for i, (p, rel) in enumerate(zip(players, rels))
    ]
    return title, loudness, image, entries


def _players(named: list[tuple[str, np.ndarray]]) -> list[Player]:
    """``[(name, audio)]`` with dry first and the reference second."""
    dry, ref = named[0][1], named[1][1]
    return [Player(n, a, esr(ref, a), residual_esr(dry, ref, a)) for n, a in named]


def listening_rows(
    cfg: DictConfig, pairs: list[tuple[str, str]], out: Path
) -> tuple[list[tuple[str, float, str, list]], list[str]]:
    """One row per example setting (every conditioned pair at it) and one per automation take;
    and what was left out (a clip shorter than ``report.min_excerpt_seconds``: loudness matching
    needs at least 0.4 s)."""
    sr = int(cfg.audio.sample_rate)
    shortest = int(float(cfg.report.min_excerpt_seconds) * sr)
    reports = Path(cfg.paths.reports)
    rows, skipped = [], []
    by_stem: dict[str, list[tuple[str, Path]]] = {}
    for effect, model in pairs:
        report = _read(reports / "train" / f"{effect}-{model}-knobs.json")
        for ex in (report or {}).get("examples", []):
            by_stem.setdefault(f"{effect}:{ex['stem']}", []).append(
                (f"{effect}-{model}-knobs", reports / "train" / f"{effect}-{model}-knobs" / "examples")
            )
    for k, (key, models) in enumerate(sorted(by_stem.items())):
        effect, stem = key.split(":", 1)
        folder = models[0][1]
        named = [
            ("dry", read_audio(folder / f"{stem}_dry.wav", sr).samples),
            (f"DSP at {stem}", read_audio(folder / f"{stem}_target.wav", sr).samples),
        ]
        named += [(pair, read_audio(f / f"{stem}_model.wav", sr).samples) for pair, f in models]
        if named[0][1].size < shortest:
            skipped.append(f"{effect} at {stem}: {named[0][1].size / sr:.2f} s, too short to listen to")
            continue
        rows.append(_row(cfg, _players(named), out, f"setting-{k}", f"{effect} at {stem} (a held-out test segment)"))
    audio = reports / "knobs" / "audio"
    for effect in sorted({e for e, _ in pairs}):
        if not (audio / f"{effect}_automation_dry.wav").is_file():
            continue
        names = [f"numba:{effect}"] + [
            f"numba:{effect}-{m}{s}" for e, m in pairs if e == effect for s in ("-knobs", "")
        ]
        named = [("dry", read_audio(audio / f"{effect}_automation_dry.wav", sr).samples)]
        for name in names:
            path = audio / f"{effect}_automation_{name.replace(':', '-')}.wav"
            if path.is_file():
                named.append((name, read_audio(path, sr).samples))
        title = f"{effect}: knobs moved while it plays (the fixed-setting twins cannot follow)"
        rows.append(_row(cfg, _players(named), out, f"automation-{effect}", title))
    return rows, skipped


def knob_images(cfg: DictConfig, pairs: list[tuple[str, str]], out: Path) -> list[dict[str, str]]:
    """The pairs' heatmaps copied under ``img/knobs/``."""
    images = []
    for effect, model in pairs:
        folder = Path(cfg.paths.reports) / "train" / f"{effect}-{model}-knobs"
        for name in ("grid_esr.png", "grid_residual_esr.png"):
            if (folder / name).is_file():
                rel = f"img/knobs/{folder.name}-{name}"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, out / rel)
                images.append({"src": rel, "caption": str(folder / name)})
    return images


def knob_section_parts(
    cfg: DictConfig, out: Path
) -> tuple[list[Table], list[tuple[str, float, str, list]], list[dict[str, str]], str]:
    """Tables, listening rows, images and a note for what is missing, of ``knob_matrix``'s pairs."""
    pairs = [(e, m) for e, m, _ in selected_knob_pairs(cfg)]
    reports = Path(cfg.paths.reports)
    tables: list[Table] = []
    grid = grid_table(reports, pairs)
    if grid is not None:
        tables.append(grid)
    bench = _read(reports / "knobs" / "knob_bench.json")
    if bench is not None:
        tables += bench_tables(bench)
    missing = []
    if grid is None:
        missing.append("no trained knob-conditioned pair (`dvc repro train_knobs`)")
    if bench is None:
        missing.append(f"no {reports / 'knobs' / 'knob_bench.json'} (`dvc repro knob_bench`)")
    rows, skipped = listening_rows(cfg, pairs, out)
    return tables, rows, knob_images(cfg, pairs, out), "; ".join(missing + skipped)
