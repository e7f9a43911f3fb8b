"""Models for sweep jobs: trained once per training config, shared by every job that needs one.

A job's model is keyed by what determines its weights alone (effect and its parameters, the
model config, the training config, the seed and the dataset's manifest), never by the buffer
size it is benchmarked at. ``<sweep.models_dir>/<effect>-<key>/`` holds the checkpoint, the ONNX export
and ``done.json``. Concurrent jobs that need the same model serialise on an exclusive lock
(``fcntl.flock`` on ``<key>.lock``, which works across processes and, on most cluster file
systems, across nodes): the first trains and exports, the others wait and reuse its files.
A crashed job leaves no ``done.json``, so the next one trains again.

With ``sweep.knobs`` a job's model is the family's knob-conditioned form, trained on the effect's
knob dataset by the ``train_knobs`` stage's code (:func:`trained_knob_model`; key prefix
``knobs-``): the cell's quality is then its held-out grid, not one setting.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from distortion_bench.atomic import write_json
from distortion_bench.config import plain
from distortion_bench.errors import DistortionBenchError
from distortion_bench.nn.train import train_pair

log = logging.getLogger(__name__)


def model_key(cfg: DictConfig, effect: str, model_cfg: dict[str, Any], knobs: bool = False) -> str:
    """``<type>-s<size>-<hash>`` (``knobs-<type>-...`` for a conditioned model); the hash covers
    everything that shapes the weights (the training budget included: a 2-epoch model is not a
    40-epoch one)."""
    root, stage = (cfg.paths.knob_datasets, "build_knob_dataset") if knobs else (cfg.paths.datasets, "build_dataset")
    manifest = Path(root) / effect / "manifest.json"
    if not manifest.is_file():
        raise DistortionBenchError(f"{manifest}: no dataset for effect {effect!r}; run `dvc repro {stage}` first")
    learning = {k: v for k, v in plain(cfg.train).items() if k not in ("seeds", "parallel")}
    seeds = int((cfg.get("sweep") or {}).get("seeds", 1))  # what a cell trains: sweep.seeds, not train.seeds
    parts = [
        effect,
        plain(cfg.effects[effect]),
        model_cfg,
        learning,
        int(cfg.seed),
        seeds,
        hashlib.sha256(manifest.read_bytes()).hexdigest(),
    ]
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{'knobs-' if knobs else ''}{model_cfg['type']}-s{model_cfg['size']}-{digest}"


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (created if missing), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _job_config(cfg: DictConfig, folder: Path, key: str, model_cfg: dict[str, Any]) -> DictConfig:
    """The job's config with checkpoints and reports in the model's folder, its seeds one by one."""
    job_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    with open_dict(job_cfg):
        job_cfg.paths.checkpoints = str(folder / "checkpoints")
        job_cfg.paths.reports = str(folder / "reports")
        job_cfg.models = {key: model_cfg}
        # Seeds of a cell train one after the other: the launcher already runs jobs side by side.
        job_cfg.train.seeds = int(cfg.sweep.get("seeds", 1))
        job_cfg.train.parallel = 1
    return job_cfg


def _once(cfg: DictConfig, effect: str, key: str, train: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``done.json`` of ``<models_dir>/<effect>-<key>``, made by ``train(folder)`` if nobody has
    (under the model's lock); ``reused`` says whether this call trained."""
    root = Path(cfg.sweep.models_dir)
    folder = root / f"{effect}-{key}"
    done = folder / "done.json"
    with exclusive(root / f"{effect}-{key}.lock"):
        if done.is_file():
            return {**json.loads(done.read_text()), "reused": True}
        log.info("training %s", key)
        info = {"key": key, **train(folder), "trained_by": os.getpid()}
        write_json(done, info)
        return {**info, "reused": False}


def trained_model(cfg: DictConfig, effect: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """The trained and exported model for (effect, model config), training it if nobody has.

    Returns ``done.json``: ``key``, ``onnx``, ``checkpoint``, ``report`` (the training report),
    ``trained_by`` (the process id that trained it) and ``reused`` (True when this call did not train).
    """
    from distortion_bench.nn.export import export_onnx
    from distortion_bench.nn.module import EffectModule

    key = model_key(cfg, effect, model_cfg)

    def train(folder: Path) -> dict[str, Any]:
        report = train_pair(_job_config(cfg, folder, key, model_cfg), effect, key, model_cfg)
        ckpt = folder / "checkpoints" / f"{effect}-{key}" / "best.ckpt"
        onnx_path = folder / "model.onnx"
        module = EffectModule.load_from_checkpoint(str(ckpt), map_location="cpu")
        meta = {"effect": effect, "model": key, "mlflow_run_id": report["mlflow"]["run_id"]}
        export_onnx(module.model, onnx_path, int(cfg.audio.sample_rate), meta)
        return {"onnx": str(onnx_path), "checkpoint": str(ckpt), "report": report}

    return _once(cfg, effect, key, train)


def trained_knob_model(cfg: DictConfig, effect: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """:func:`trained_model` for the family's knob-conditioned form (``sweep.knobs``): trained on
    ``<knob_datasets>/<effect>`` and judged on its held-out grid like a ``train_knobs`` pair (the
    report's ``grid_summary``, ``spread`` and ``reference``), exported with its ``knobs`` input."""
    from distortion_bench.nn.export import export_onnx
    from distortion_bench.nn.knob_module import KnobEffectModule
    from distortion_bench.nn.knob_train import knob_pair, train_knob_pair

    key = model_key(cfg, effect, model_cfg, knobs=True)

    def train(folder: Path) -> dict[str, Any]:
        report = train_knob_pair(_job_config(cfg, folder, key, model_cfg), effect, key, model_cfg)
        ckpt = folder / "checkpoints" / knob_pair(effect, key) / "best.ckpt"
        onnx_path = folder / "model.onnx"
        module = KnobEffectModule.load_from_checkpoint(str(ckpt), map_location="cpu")
        meta = {"effect": effect, "model": key, "mlflow_run_id": report["mlflow"]["run_id"]}
        export_onnx(module.model, onnx_path, int(cfg.audio.sample_rate), meta)
        return {"onnx": str(onnx_path), "checkpoint": str(ckpt), "report": report}

    return _once(cfg, effect, key, train)
