"""The dry corpus in ``data/dry/``: synthesized takes plus the user's own files from ``data/raw/``.

Every file is written as mono float32 WAV at the configured rate, under
``<category>/<name>.wav`` (user files under ``user/`` with their relative path kept), and listed
in ``manifest.json`` with its category, source, length and peak level. The folder is replaced
whole and only when everything succeeded, so a bad user file never leaves a partial corpus.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from distortion_bench import portable_math as pm
from distortion_bench.atomic import atomic_directory, write_json
from distortion_bench.audio_io import find_audio_files, read_audio, write_audio
from distortion_bench.config import plain
from distortion_bench.data.manifest import MANIFEST_NAME
from distortion_bench.errors import AudioFileError, ConfigError
from distortion_bench.synth import synthesize_corpus

log = logging.getLogger(__name__)

USER_CATEGORY = "user"


def peak_dbfs(x: np.ndarray) -> float | None:
    """Peak level of ``x`` in dBFS, or None for digital silence (CPU-independent: it is stored)."""
    peak = float(np.abs(x).max()) if x.size else 0.0
    return round(20.0 * float(pm.log10(peak)), 3) if peak > 0 else None


def _entry(path: str, category: str, source: str, x: np.ndarray, sample_rate: int,
           **extra: Any) -> dict[str, Any]:
    return {"path": path, "category": category, "source": source, "frames": int(x.shape[0]),
            "seconds": round(x.shape[0] / sample_rate, 6), "peak_dbfs": peak_dbfs(x), **extra}


def import_user_files(raw_dir: str | os.PathLike[str], out_dir: Path, sample_rate: int,
                      stereo: str, resample: bool) -> list[dict[str, Any]]:
    """Validate and convert every WAV/FLAC below ``raw_dir`` into ``out_dir/user/``."""
    raw = Path(raw_dir)
    entries: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for src in find_audio_files(raw):
        rel = src.relative_to(raw).with_suffix(".wav").as_posix()
        if rel in seen:
            raise AudioFileError(f"{src}: has the same name as {seen[rel]} (both become user/{rel}); rename one")
        seen[rel] = src
        loaded = read_audio(src, sample_rate, stereo=stereo, resample=resample)
        write_audio(out_dir / USER_CATEGORY / rel, loaded.samples, sample_rate)
        entries.append(_entry(f"{USER_CATEGORY}/{rel}", USER_CATEGORY,
                              f"user:{src.relative_to(raw).as_posix()}", loaded.samples, sample_rate,
                              conversions=list(loaded.conversions)))
        log.info("imported %s (%s)", src, "; ".join(loaded.conversions) or "no conversion")
    return entries


def prepare_dry_corpus(cfg: DictConfig) -> dict[str, Any]:
    """Synthesize the corpus and import user files into ``paths.dry``; return the manifest."""
    sample_rate = int(cfg.audio.sample_rate)
    seed = int(cfg.seed)
    raw_cfg = cfg.data.raw
    if raw_cfg.stereo not in ("downmix", "reject"):
        raise ConfigError(f"data.raw.stereo: expected 'downmix' or 'reject', got {raw_cfg.stereo!r}")
    files: list[dict[str, Any]] = []
    with atomic_directory(cfg.paths.dry) as tmp:
        for take in synthesize_corpus(plain(cfg.data.synth), sample_rate, seed):
            rel = f"{take.category}/{take.name}.wav"
            write_audio(tmp / rel, take.samples, sample_rate)
            files.append(_entry(rel, take.category, "synth", take.samples, sample_rate,
                                details=take.details))
        files += import_user_files(cfg.paths.raw, tmp, sample_rate, str(raw_cfg.stereo),
                                   bool(raw_cfg.resample))
        manifest = {
            "sample_rate": sample_rate,
            "seed": seed,
            "files": files,
            "seconds_by_category": _seconds_by_category(files),
            "total_seconds": round(sum(f["seconds"] for f in files), 3),
        }
        write_json(tmp / MANIFEST_NAME, manifest)
    log.info("dry corpus: %d files, %.1f s in %s", len(files), manifest["total_seconds"], cfg.paths.dry)
    return manifest


def _seconds_by_category(files: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for f in files:
        totals[f["category"]] = totals.get(f["category"], 0.0) + f["seconds"]
    return {k: round(v, 3) for k, v in sorted(totals.items())}


def run(cfg: DictConfig) -> None:
    """Stage ``prepare_dry``: write the dry corpus described by ``cfg``."""
    prepare_dry_corpus(cfg)
