"""Training datasets: (dry input, rendered target) pairs cut into train/val/test segments.

Layout of ``<datasets>/<effect>/``:

- ``<split>/input.npy`` and ``<split>/target.npy`` for ``split`` in train, val, test: float32
  arrays of shape ``(segments, segment_samples)``; load with ``np.load(path, mmap_mode="r")``
  to stream them without reading them into memory. Row ``i`` of both is the same stretch of
  time of one take.
- ``manifest.json``: per split, the takes it holds (path, category, first segment row, number
  of segments, samples dropped), segment counts and durations (total and per category).

Segments do not overlap and never cross takes; consecutive rows of one take are consecutive in
time, so a take can be reassembled (minus its dropped tail) for whole-signal evaluation. The
target was rendered from the start of each take, so the effect's state at a segment's first
sample is that of the running take (models warm up on the first samples of a segment).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from omegaconf import DictConfig

from distortion_bench.atomic import atomic_directory, write_json
from distortion_bench.audio_io import read_audio
from distortion_bench.config import plain, selected_effects
from distortion_bench.data.manifest import MANIFEST_NAME, read_manifest
from distortion_bench.data.splits import SPLITS, assign_splits, split_ratios
from distortion_bench.errors import ConfigError, DistortionBenchError

log = logging.getLogger(__name__)


def segment_samples(segment_seconds: float, sample_rate: int) -> int:
    """Segment length in samples for ``data.segment_seconds``; validated."""
    if isinstance(segment_seconds, bool) or not isinstance(segment_seconds, (int, float)) \
            or segment_seconds <= 0:
        raise ConfigError(f"data.segment_seconds: expected a duration > 0 s, got {segment_seconds!r}")
    return max(1, int(round(segment_seconds * sample_rate)))


def _check_targets_match(dry_manifest: dict[str, Any], target_manifest: dict[str, Any],
                         target_dir: Path) -> None:
    dry = {f["path"]: f["frames"] for f in dry_manifest["files"]}
    tgt = {f["path"]: f["frames"] for f in target_manifest["files"]}
    if dry != tgt:
        missing = sorted(set(dry) - set(tgt))[:3]
        raise DistortionBenchError(
            f"{target_dir / MANIFEST_NAME}: targets do not match the dry corpus "
            f"(e.g. missing or different: {missing or sorted(set(tgt) ^ set(dry))[:3]}); "
            "re-run render_targets"
        )


def build_effect_dataset(
    dry_dir: str | os.PathLike[str],
    target_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    ratios: dict[str, float],
    segment_seconds: float,
    seed: int,
) -> dict[str, Any]:
    """Cut the (dry, target) pairs of one effect into split segment arrays in ``out_dir``."""
    dry, target = Path(dry_dir), Path(target_dir)
    dry_manifest = read_manifest(dry, "prepare_dry")
    target_manifest = read_manifest(target, "render_targets")
    _check_targets_match(dry_manifest, target_manifest, target)
    sample_rate = int(dry_manifest["sample_rate"])
    seg = segment_samples(segment_seconds, sample_rate)
    files = dry_manifest["files"]
    assignment = assign_splits([(f["path"], f["category"], f.get("peak_dbfs")) for f in files], ratios, seed)

    splits: dict[str, Any] = {}
    with atomic_directory(out_dir) as tmp:
        for split in SPLITS:
            takes = [f for f in files if assignment[f["path"]] == split]
            n_segments = sum(f["frames"] // seg for f in takes)
            if n_segments == 0 and ratios[split] > 0:
                raise DistortionBenchError(
                    f"split {split!r} has no segments: its {len(takes)} take(s) are all shorter than "
                    f"data.segment_seconds={segment_seconds} s; shorten the segments or add material"
                )
            (tmp / split).mkdir()
            inputs = open_memmap(tmp / split / "input.npy", mode="w+", dtype=np.float32,
                                 shape=(n_segments, seg))
            targets = open_memmap(tmp / split / "target.npy", mode="w+", dtype=np.float32,
                                  shape=(n_segments, seg))
            row, records = 0, []
            seconds_by_category: dict[str, float] = {}
            for f in takes:
                count = f["frames"] // seg
                used = count * seg
                x = read_audio(dry / f["path"], sample_rate).samples
                y = read_audio(target / f["path"], sample_rate).samples
                inputs[row:row + count] = x[:used].reshape(count, seg)
                targets[row:row + count] = y[:used].reshape(count, seg)
                records.append({"path": f["path"], "category": f["category"], "first_segment": row,
                                "segments": count, "dropped_samples": int(f["frames"] - used)})
                seconds_by_category[f["category"]] = seconds_by_category.get(f["category"], 0.0) \
                    + used / sample_rate
                row += count
            inputs.flush()
            targets.flush()
            del inputs, targets  # close the memory maps before the folder is renamed
            splits[split] = {
                "segments": n_segments,
                "seconds": round(n_segments * seg / sample_rate, 3),
                "takes": records,
                "seconds_by_category": {k: round(v, 3) for k, v in sorted(seconds_by_category.items())},
            }
        manifest = {
            "effect": target_manifest["effect"],
            "effect_params": target_manifest["params"],
            "sample_rate": sample_rate,
            "segment_samples": seg,
            "segment_seconds": seg / sample_rate,
            "seed": int(seed),
            "split_ratios": ratios,
            "splits": splits,
            "files": [r for s in SPLITS for r in splits[s]["takes"]],
        }
        write_json(tmp / MANIFEST_NAME, manifest)
    log.info("dataset %s: %s", out_dir, ", ".join(
        f"{s} {splits[s]['segments']} segments ({splits[s]['seconds']:.1f} s)" for s in SPLITS))
    return manifest


def run(cfg: DictConfig) -> None:
    """Stage ``build_dataset``: one dataset per selected effect."""
    ratios = split_ratios(plain(cfg.data.split))
    for name in selected_effects(cfg):
        build_effect_dataset(cfg.paths.dry, Path(cfg.paths.targets) / name,
                             Path(cfg.paths.datasets) / name, ratios,
                             cfg.data.segment_seconds, int(cfg.seed))
