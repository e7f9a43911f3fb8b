"""Rendering targets: every dry file through an effect's Numba implementation.

Output: ``<targets>/<effect>/<same relative path>.wav`` (float32) and a ``manifest.json`` with
the effect's parameters and, per file, the dry source, length and output level. Each file is
processed whole from the effect's initial state (silence before the take), which equals
streaming it in buffers bit for bit, and aligned with the dry take: an effect whose filters
delay it (the diode clipper's oversampling) is run on the take plus that many samples of
silence and the delay dropped, so a network learns the effect, not its latency.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from distortion_bench.atomic import atomic_directory, write_json
from distortion_bench.audio_io import read_audio, write_audio
from distortion_bench.config import selected_effects
from distortion_bench.data.dry_corpus import peak_dbfs
from distortion_bench.data.manifest import MANIFEST_NAME, read_manifest
from distortion_bench.data.reference_check import check_target
from distortion_bench.dsp import build_effect
from distortion_bench.dsp.base import Effect
from distortion_bench.errors import DistortionBenchError

log = logging.getLogger(__name__)

RENDER_IMPLEMENTATION = "numba"


def render_effect(effect: Effect[Any], name: str, dry_dir: str | os.PathLike[str],
                  out_dir: str | os.PathLike[str],
                  reference_check: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render every file of the dry corpus through ``effect`` into ``out_dir`` (replaced whole);
    ``reference_check``: the record of the effect's check against a reference, for the manifest."""
    dry = Path(dry_dir)
    dry_manifest = read_manifest(dry, "prepare_dry")
    if int(dry_manifest["sample_rate"]) != effect.sample_rate:
        raise DistortionBenchError(
            f"{dry / MANIFEST_NAME}: corpus is at {dry_manifest['sample_rate']} Hz but the effect runs "
            f"at {effect.sample_rate} Hz; re-run prepare_dry"
        )
    files = []
    with atomic_directory(out_dir) as tmp:
        for entry in dry_manifest["files"]:
            x = read_audio(dry / entry["path"], effect.sample_rate).samples
            y = effect.process_aligned(x)  # aligned with the dry take (an oversampler's latency removed)
            write_audio(tmp / entry["path"], y, effect.sample_rate)
            files.append({"path": entry["path"], "category": entry["category"],
                          "frames": int(y.shape[0]), "peak_dbfs": peak_dbfs(y)})
        manifest = {"effect": name, "params": effect.describe(), "sample_rate": effect.sample_rate,
                    "files": files}
        if reference_check is not None:
            manifest["reference_check"] = reference_check
        write_json(tmp / MANIFEST_NAME, manifest)
    log.info("rendered %d files through %s (%s) into %s", len(files), name,
             effect.implementation, out_dir)
    return manifest


def run(cfg: DictConfig) -> None:
    """Stage ``render_targets``: render the dry corpus through each selected effect."""
    sample_rate = int(cfg.audio.sample_rate)
    # Build (and so validate) every effect before rendering anything.
    effects = {name: build_effect(params, sample_rate, RENDER_IMPLEMENTATION, key=f"effects.{name}")
               for name, params in selected_effects(cfg).items()}
    # ... and check every target that has a reference against it (the clipper's solver against
    # solve_ivp) before rendering anything
    checks = {name: check_target(params, sample_rate, f"effects.{name}")
              for name, params in selected_effects(cfg).items()}
    for name, effect in effects.items():
        render_effect(effect, name, cfg.paths.dry, Path(cfg.paths.targets) / name, checks[name])
