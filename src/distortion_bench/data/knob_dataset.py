"""Knob datasets: the fixed-setting dataset's dry segments rendered by the DSP at many knob settings.

A knob-conditioned model learns the effect over its whole knob space (``effects.<name>.knobs``),
so its data pairs each dry segment with the target *at a setting* and says which. The dry audio
and its train/val/test split are the fixed-setting dataset's (``<datasets>/<effect>/``): the
same takes are held out, so the two kinds of model are judged on the same unheard material.

- train: every segment at one setting of :func:`~.knob_design.training_settings` (the range's
  corners, then a seeded Sobol sequence), settings dealt round-robin over a seeded shuffle of the
  segments; a fraction of them are *automation rows*, whose knobs move during the segment (steps
  and ramps between settings, rendered by the DSP through its smoother, as a user turning a knob
  while playing);
- val: every segment at one of ``val_settings`` Sobol settings drawn with another seed;
- test: the held-out grid (:func:`~.knob_design.held_out_grid`, no training setting on it) x the
  same ``test_rows_per_setting`` test segments at every grid point (spread over the split's
  takes), so per-setting figures compare like with like.

Each row is rendered from the effect's initial state (silence before the segment) with the knob
set before the first sample, so a row is independent of its neighbours (the model warms up on
the first samples of a crop, as for the fixed-setting data).

Layout of ``<knob_datasets>/<effect>/``:

- ``<split>/input.npy``, ``<split>/target.npy``: float32 ``(rows, segment_samples)``;
- ``<split>/knobs.npy``: float32 ``(rows, K)``: the setting (knob values in their units, in the
  knob space's order); for an automation row, the setting at its first sample;
- ``train/automation.npy``: float32 ``(A, K, segment_samples)``: the per-sample knob targets of the
  A automation rows, ``train/automation_rows.npy`` int64 ``(A,)``: their row numbers;
- ``manifest.json``: the knob space (``knob_names``: the order of the columns), the settings of each split, each row's source segment and
  setting index, and each automation row's moves.

Deterministic: the same dataset, knob space, config and seed give the same bytes on any CPU (the
design's values come from Sobol's integer-derived points in float64, the DSP's data path is
portable, see :mod:`~distortion_bench.portable_math`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from omegaconf import DictConfig

from distortion_bench.atomic import atomic_directory, write_json
from distortion_bench.config import plain, selected_effects
from distortion_bench.data.knob_design import Setting, held_out_grid, training_settings
from distortion_bench.data.manifest import MANIFEST_NAME, read_manifest
from distortion_bench.dsp import build_effect
from distortion_bench.dsp.base import Effect
from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.errors import ConfigError, DistortionBenchError

log = logging.getLogger(__name__)

RENDER_IMPLEMENTATION = "numba"
#: keys of ``data.knobs``
KNOB_DATA_KEYS = (
    "train_settings",
    "val_settings",
    "held_out_per_axis",
    "test_rows_per_setting",
    "automation_fraction",
    "automation_moves",
    "ramp_ms",
)


def knob_data_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``data.knobs`` checked: counts >= 1, a fraction in [0, 1], ``[lo, hi]`` ranges."""
    where = "data.knobs"
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{where}: expected a mapping with keys {list(KNOB_DATA_KEYS)}, got {cfg!r}")
    missing, unknown = sorted(set(KNOB_DATA_KEYS) - set(cfg)), sorted(set(cfg) - set(KNOB_DATA_KEYS))
    if missing or unknown:
        raise ConfigError(f"{where}: missing keys {missing}, unknown keys {unknown}; expected {list(KNOB_DATA_KEYS)}")
    for key in ("train_settings", "val_settings", "held_out_per_axis", "test_rows_per_setting"):
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{where}.{key}: expected an integer >= 1, got {v!r}")
    f = cfg["automation_fraction"]
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1:
        raise ConfigError(f"{where}.automation_fraction: expected a fraction in [0, 1], got {f!r}")
    for key, integer in (("automation_moves", True), ("ramp_ms", False)):
        v = cfg[key]
        ok = isinstance(v, (list, tuple)) and len(v) == 2 and all(
            not isinstance(e, bool) and isinstance(e, int if integer else (int, float)) and e >= (1 if integer else 0)
            for e in v
        )
        if not ok or v[0] > v[1]:
            kind = "integers >= 1" if integer else "durations >= 0 ms"
            raise ConfigError(f"{where}.{key}: expected [low, high], two {kind} with low <= high, got {v!r}")
    return dict(cfg)


def _vector(space: KnobSpace, setting: Setting) -> list[float]:
    return [float(setting[name]) for name in space.names]


def automation_trajectory(
    space: KnobSpace,
    settings: list[Setting],
    samples: int,
    sample_rate: int,
    moves: tuple[int, int],
    ramp_ms: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Per-sample knob targets ``(K, samples)`` float64 for one automation row, and its moves.

    The row starts at a random setting of ``settings``; ``moves`` (a count drawn from the range)
    times, at a random sample after the segment's first quarter, it moves to another one: a
    step, or a linear ramp of ``ramp_ms`` (drawn) for continuous knobs. Integer knobs always step
    (there is nothing between two word lengths to glide through). The DSP's smoother then shapes
    what the audio hears, as for a knob turned by hand.
    """
    current = int(rng.integers(len(settings)))
    start = settings[current]
    traj = np.empty((len(space.specs), samples), np.float64)
    traj[:] = np.array(_vector(space, start))[:, None]
    count = int(rng.integers(moves[0], moves[1] + 1))
    at = np.sort(rng.integers(samples // 4, samples, size=count))
    events = []
    for t0 in at.tolist():
        if len(settings) > 1:  # always to another setting
            current = (current + 1 + int(rng.integers(len(settings) - 1))) % len(settings)
        goal = settings[current]
        ramp = float(rng.uniform(ramp_ms[0], ramp_ms[1]))
        length = max(1, int(round(ramp * 1e-3 * sample_rate)))
        t1 = min(samples, t0 + length)
        for k, spec in enumerate(space.specs):
            before, after = traj[k, t0], float(goal[spec.name])
            if spec.scale == "integer":
                traj[k, t0:] = after
            else:
                frac = (np.arange(t0, t1) - t0 + 1) / length  # reaches the goal on the ramp's last sample
                traj[k, t0:t1] = before + (after - before) * frac
                traj[k, t1:] = after
        events.append({"sample": int(t0), "ramp_samples": int(t1 - t0), "to": goal})
    return traj, events


def _render_row(
    effect: Effect[Any], x: np.ndarray, setting: Setting, trajectory: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """One row from silence: the knobs set to ``setting`` before the first sample, then held, or
    following ``trajectory`` (per-sample targets starting at ``setting``)."""
    state = effect.initial_state()
    effect.set_knobs(state, at_once=True, **setting)
    if trajectory is None:
        return effect.process(x, state)[0]
    return effect.process_trajectory(x, trajectory, state)[0]


def _spread_rows(n_rows: int, count: int) -> list[int]:
    """``count`` rows evenly spread over ``n_rows`` (all of them when there are fewer)."""
    if n_rows <= count:
        return list(range(n_rows))
    return [int(i * n_rows // count) for i in range(count)]


def build_knob_dataset(
    effect: Effect[Any],
    name: str,
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    knob_cfg: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Render ``<dataset_dir>``'s dry segments at knob settings into ``out_dir`` (module docstring)."""
    cfg = knob_data_config(knob_cfg)
    space = effect.knobs
    if not space.specs:
        raise ConfigError(f"effects.{name}.knobs: the effect has no knob space; a knob dataset needs one")
    src = Path(dataset_dir)
    manifest = read_manifest(src, "build_dataset")
    sample_rate, seg = int(manifest["sample_rate"]), int(manifest["segment_samples"])
    if sample_rate != effect.sample_rate:
        raise DistortionBenchError(
            f"{src / MANIFEST_NAME}: dataset at {sample_rate} Hz, effect at {effect.sample_rate} Hz; re-run build_dataset"
        )
    per_axis = int(cfg["held_out_per_axis"])
    design = {
        "train": training_settings(space, int(cfg["train_settings"]), seed, per_axis),
        "val": training_settings(space, int(cfg["val_settings"]), seed + 1, per_axis),
        "test": held_out_grid(space, per_axis),
    }
    rng = np.random.default_rng(seed)
    splits: dict[str, Any] = {}
    with atomic_directory(out_dir) as tmp:
        for split in ("train", "val", "test"):
            dry = np.load(src / split / "input.npy", mmap_mode="r")
            settings = design[split]
            if split == "test":
                sources = _spread_rows(dry.shape[0], int(cfg["test_rows_per_setting"]))
                rows = [(s, i) for i in range(len(settings)) for s in sources]
            else:
                order = rng.permutation(dry.shape[0])
                rows = [(int(s), 0) for s in order]
            automated: set[int] = set()
            if split == "train" and cfg["automation_fraction"] > 0:
                count = int(round(cfg["automation_fraction"] * len(rows)))
                automated = set(_spread_rows(len(rows), count))
            if split != "test":
                # the settings dealt over the rows at one setting only, so every setting gets its
                # share (dealt over all rows, an automation row every 4th of 64 settings' rows took
                # the same settings' rows each time: 4 bits got 8 of 220 rows, 10 bits 37)
                constant = [r for r in range(len(rows)) if r not in automated]
                for c, r in enumerate(constant):
                    rows[r] = (rows[r][0], c % len(settings))
            (tmp / split).mkdir()
            shape = (len(rows), seg)
            inputs = open_memmap(tmp / split / "input.npy", mode="w+", dtype=np.float32, shape=shape)
            targets = open_memmap(tmp / split / "target.npy", mode="w+", dtype=np.float32, shape=shape)
            knobs = np.zeros((len(rows), len(space.specs)), np.float32)
            auto_index = {r: i for i, r in enumerate(sorted(automated))}
            trajectories = np.zeros((len(auto_index), len(space.specs), seg), np.float32)
            records = []
            for r, (source, index) in enumerate(rows):
                x = np.array(dry[source], dtype=np.float32)  # writable: the kernels take no read-only views
                inputs[r] = x
                if r in auto_index:
                    traj, events = automation_trajectory(
                        space, settings, seg, sample_rate, tuple(cfg["automation_moves"]), tuple(cfg["ramp_ms"]), rng
                    )
                    # rendered from the float32 values stored: the stored trajectory gives these bytes
                    traj = traj.astype(np.float32).astype(np.float64)
                    start = {n: float(traj[k, 0]) for k, n in enumerate(space.names)}
                    y = _render_row(effect, x, start, dict(zip(space.names, traj)))
                    trajectories[auto_index[r]] = traj
                    knobs[r] = traj[:, 0]
                    record: dict[str, Any] = {"segment": source, "setting": None, "moves": events}
                else:
                    y = _render_row(effect, x, settings[index])
                    knobs[r] = _vector(space, settings[index])
                    record = {"segment": source, "setting": index}
                targets[r] = y
                records.append(record)
            inputs.flush()
            targets.flush()
            del inputs, targets  # close the memory maps before the folder is renamed
            np.save(tmp / split / "knobs.npy", knobs)
            if split == "train":
                np.save(tmp / split / "automation.npy", trajectories)
                np.save(tmp / split / "automation_rows.npy", np.array(sorted(auto_index), np.int64))
            splits[split] = {
                "rows": len(rows),
                "seconds": round(len(rows) * seg / sample_rate, 3),
                "settings": settings,
                "automation_rows": len(auto_index),
                "records": records,
            }
        out = {
            "effect": name,
            "effect_params": effect.describe(),
            "knobs": space.as_dict(),
            "knob_names": space.names,  # the order of knobs.npy's columns (JSON objects are written key-sorted)
            "sample_rate": sample_rate,
            "segment_samples": seg,
            "seed": int(seed),
            "config": {k: cfg[k] for k in KNOB_DATA_KEYS},
            "source_effect_params": manifest.get("effect_params"),  # the fixed dataset the segments come from
            "splits": splits,
        }
        write_json(tmp / MANIFEST_NAME, out)
    log.info(
        "knob dataset %s: %s",
        out_dir,
        ", ".join(f"{s} {splits[s]['rows']} rows at {len(splits[s]['settings'])} settings" for s in splits),
    )
    return out


def run(cfg: DictConfig) -> None:
    """Stage ``build_knob_dataset``: one knob dataset per selected effect that has a knob space."""
    sample_rate = int(cfg.audio.sample_rate)
    for name, effect_cfg in selected_effects(cfg).items():
        effect_plain = plain(effect_cfg)
        if not effect_plain.get("knobs"):  # the stage's output still exists: it says why it is empty
            log.info("effect %s has no knobs: an empty knob dataset", name)
            with atomic_directory(Path(cfg.paths.knob_datasets) / name) as tmp:
                write_json(tmp / MANIFEST_NAME, {"effect": name, "knobs": {}, "splits": {}})
            continue
        effect = build_effect(effect_plain, sample_rate, RENDER_IMPLEMENTATION, f"effects.{name}")
        build_knob_dataset(
            effect,
            name,
            Path(cfg.paths.datasets) / name,
            Path(cfg.paths.knob_datasets) / name,
            plain(cfg.data.knobs),
            int(cfg.seed),
        )
