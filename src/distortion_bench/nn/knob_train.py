"""Stage ``train_knobs``: knob-conditioned models, one per (effect, model) pair of ``knob_matrix``.

A pair ``<effect>-<model>-knobs`` is the model family of ``models.<model>`` in its conditioned
form (``lstm`` -> ``lstm_knobs``, ``gru`` -> ``gru_knobs``, ``tcn`` -> ``tcn_knobs``, see
:mod:`~distortion_bench.nn.conditioned`), with the effect's knob space as its knob dataset
states it, trained on that dataset (``build_knob_dataset``) with the family's training config
(``train`` and the family's own overrides: the same budget as its fixed-setting twin).

Seeds, resumption, the median-validation choice and the MLflow layout are the fixed-setting
training's (:mod:`~distortion_bench.nn.train`). What differs is the judgement:

- the held-out grid (:mod:`~distortion_bench.nn.knob_grid`): ESR, residual ESR and MR-STFT per
  setting, for every seed; the report's heatmaps show the median over seeds per setting;
- the reference: the conditioned model set to the effect's fixed setting (``effects.<name>``)
  on the fixed-setting dataset's whole test takes, scored exactly as the fixed-setting model
  is (:func:`~distortion_bench.nn.evaluate.evaluate`), so ``<effect>-<model>.json`` and this
  report compare like with like.

Writes ``<checkpoints>/<pair>/seed-<i>/`` and ``best.ckpt`` as the fixed training does,
``<reports>/train/<pair>.json`` (grid per seed, spreads, the chosen seed's grid, the reference)
and ``<reports>/train/<pair>/`` (loss curves, heatmaps, audio at three grid settings).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from distortion_bench.analysis.knob_plots import plot_knob_grid
from distortion_bench.analysis.metrics import group_esr
from distortion_bench.analysis.spread import median_index, spread
from distortion_bench.atomic import write_json
from distortion_bench.audio_io import write_audio
from distortion_bench.config import selected_knob_pairs
from distortion_bench.errors import ConfigError
from distortion_bench.nn.data import load_whole_takes
from distortion_bench.nn.evaluate import evaluate
from distortion_bench.nn.knob_data import KnobDataModule, balance_of, load_rows, read_knob_manifest
from distortion_bench.nn.knob_grid import GRID_METRICS, grid_quality, median_over_seeds, summarise_grid
from distortion_bench.nn.knob_module import KnobEffectModule, predict_with_knobs
from distortion_bench.nn.models import State, StreamingModel
from distortion_bench.nn.train import (
    _clear_stale,
    _fingerprint,
    _machine_warning,
    _pair_run,
    _seed_logger,
    open_seed_dir,
)
from distortion_bench.nn.train_config import (
    RESUMABLE_KEYS,
    check_train_config,
    pair_train_config,
    seed_values,
    stopped_by,
)
from distortion_bench.nn.train_report import log_artifact, plot_curves
from distortion_bench.nn.trainer import trainer_from_config
from distortion_bench.tracking import tracking_uri

log = logging.getLogger(__name__)

#: the conditioned form of each family that has one
KNOB_FAMILIES = {"lstm": "lstm_knobs", "gru": "gru_knobs", "tcn": "tcn_knobs", "shaper": "shaper_knobs"}


def knob_pair(effect: str, model_name: str) -> str:
    """``<effect>-<model>-knobs``: the pair's name in checkpoints, reports, files and processors."""
    return f"{effect}-{model_name}-knobs"


def conditioned_config(model_name: str, model_cfg: dict[str, Any], knobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``models.<model_name>`` as its conditioned family, following ``knobs`` (in column order)."""
    family = model_cfg.get("type")
    if family not in KNOB_FAMILIES:
        raise ConfigError(
            f"knob_matrix.models: {model_name!r} is a {family!r} model; families with a conditioned form: "
            f"{sorted(KNOB_FAMILIES)}"
        )
    # conditioned models always add the input to the output (the skip is part of the family)
    return {**{k: v for k, v in model_cfg.items() if k != "skip"}, "type": KNOB_FAMILIES[family], "knobs": knobs}


def prepare_knob_pair(
    cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any]
) -> tuple[KnobEffectModule, KnobDataModule, dict[str, Any]]:
    """The module, data and conditioned model config of a pair; every refusable config is refused here."""
    train_cfg = pair_train_config(cfg, model_cfg)
    check_train_config(train_cfg)
    seed_values(cfg, train_cfg)
    folder = Path(cfg.paths.knob_datasets) / effect
    manifest = read_knob_manifest(folder)
    knobs = {name: manifest["knobs"][name] for name in manifest["knob_names"]}
    conditioned = conditioned_config(model_name, model_cfg, knobs)
    module = KnobEffectModule(conditioned, train_cfg, int(cfg.audio.sample_rate))
    crop = module.model.warmup_samples() + int(train_cfg["loss_samples"])
    balance = balance_of(dict(train_cfg["loss"]["weights"]))
    return module, KnobDataModule(folder, int(train_cfg["batch_size"]), crop, balance), conditioned


class AtSetting(nn.Module):
    """A conditioned model held at one setting: the fixed-setting ``forward(x, state)``.

    ``knobs``: ``(1, K)`` in the knobs' units, broadcast over the batch.
    """

    def __init__(self, model: StreamingModel, knobs: Tensor) -> None:
        super().__init__()
        self.model, self.knobs = model, knobs

    def initial_state(self, batch: int = 1) -> State:
        return self.model.initial_state(batch)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.model(x, state, self.knobs.expand(x.shape[0], -1))


def fixed_setting(manifest: dict[str, Any]) -> dict[str, float]:
    """The effect's fixed setting (what the fixed-setting models learned) as knob values."""
    return {name: float(manifest["effect_params"][name]) for name in manifest["knob_names"]}


def reference_quality(model: StreamingModel, cfg: DictConfig, effect: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The conditioned model at the fixed setting on the fixed-setting dataset's test takes."""
    setting = fixed_setting(manifest)
    knobs = torch.tensor([[setting[n] for n in manifest["knob_names"]]], dtype=torch.float32)
    model.eval()
    metrics, _ = evaluate(
        AtSetting(model, knobs),  # type: ignore[arg-type]
        load_whole_takes(Path(cfg.paths.datasets) / effect, "test"),
        int(cfg.audio.sample_rate),
    )
    guitar = group_esr(metrics.get("by_category") or {}, "guitar")
    return {"setting": setting, **{k: metrics.get(k) for k in GRID_METRICS}, "guitar_esr": guitar}


def train_knob_seed(
    cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any], seed: int, index: int, parent: str | None
) -> dict[str, Any]:
    """Train one seed of a conditioned pair into ``<checkpoints>/<pair>/seed-<index>``; its
    summary: final validation ESR, the grid, the reference, epochs, time, checkpoint, run id."""
    pair = knob_pair(effect, model_name)
    train_cfg = pair_train_config(cfg, model_cfg)
    torch.set_num_threads(int(train_cfg.get("threads") or 1))  # see nn.train: results independent of cores
    L.seed_everything(seed, workers=True)
    module, datamodule, conditioned = prepare_knob_pair(cfg, effect, model_name, model_cfg)
    learning = {k: v for k, v in train_cfg.items() if k not in RESUMABLE_KEYS}
    manifest_hash = hashlib.sha256((datamodule.dataset_dir / "manifest.json").read_bytes()).hexdigest()
    seed_dir = open_seed_dir(
        Path(cfg.paths.checkpoints) / pair / f"seed-{index}", _fingerprint(conditioned, learning, seed, manifest_hash)
    )
    logger = _seed_logger(cfg, effect, f"{pair}/seed-{index}", seed_dir, parent)
    run_id = logger.run_id
    earlier = float(seed_dir.previous.get("train_seconds", 0.0))
    seed_dir.record(run_id=run_id, train_seconds=earlier)
    for key, value in (("effect", effect), ("model", f"{model_name}-knobs"), ("seed", str(seed))):
        logger.experiment.set_tag(run_id, key, value)

    trainer = trainer_from_config(train_cfg, seed_dir.path, logger)
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(seed_dir.last) if seed_dir.resume else None)
    train_seconds = earlier + time.perf_counter() - started
    cap = train_cfg.get("max_minutes")
    stop = stopped_by(trainer.current_epoch, int(train_cfg["max_epochs"]), None if cap is None else float(cap))
    seed_dir.record(run_id=run_id, train_seconds=train_seconds, completed=True, stopped_by=stop)
    trainer.save_checkpoint(str(seed_dir.last))  # the averaged weights (see nn.train)

    history = json.loads((seed_dir.path / "history.json").read_text())
    val = [r["val/esr"] for r in history if "val/esr" in r]
    saved = KnobEffectModule.load_from_checkpoint(str(seed_dir.last), map_location="cpu").model
    grid = grid_quality(saved, datamodule.dataset_dir)
    reference = reference_quality(saved, cfg, effect, datamodule.manifest)
    client = logger.experiment
    for key in GRID_METRICS:
        s = grid["summary"][key]
        if s:
            client.log_metric(run_id, f"grid/{key}_median", float(s["median"]))
            client.log_metric(run_id, f"grid/{key}_max", float(s["max"]))
    if reference["esr"] is not None:
        client.log_metric(run_id, "test/esr_at_fixed_setting", float(reference["esr"]))
    client.log_metric(run_id, "train_seconds", train_seconds)
    log.info(
        "%s seed %d: final val ESR %s, grid ESR median %s worst %s, %.1f min (%s)",
        pair,
        seed,
        val[-1] if val else None,
        grid["summary"]["esr"] and grid["summary"]["esr"]["median"],
        grid["summary"]["worst"],
        train_seconds / 60,
        stop,
    )
    return {
        "seed": seed,
        "index": index,
        "val_esr_final": val[-1] if val else None,
        "val_esr_min": min(val) if val else None,
        "grid": grid,
        "reference": reference,
        "epochs": trainer.current_epoch,
        "stopped_by": stop,
        "resumed": seed_dir.resume,
        "train_seconds": round(train_seconds, 1),
        "checkpoint": str(seed_dir.last),
        "history": str(seed_dir.path / "history.json"),
        "mlflow_run_id": run_id,
    }


def _seed_job(args: tuple[dict[str, Any], str, str, dict[str, Any], int, int, str]) -> dict[str, Any]:
    cfg_dict, effect, model_name, model_cfg, seed, index, parent = args
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    return train_knob_seed(OmegaConf.create(cfg_dict), effect, model_name, model_cfg, seed, index, parent)


def _train_seeds(
    cfg: DictConfig,
    effect: str,
    model_name: str,
    model_cfg: dict[str, Any],
    seeds: list[int],
    parallel: int,
    parent: str,
) -> list[dict[str, Any]]:
    if min(parallel, len(seeds)) <= 1:
        return [train_knob_seed(cfg, effect, model_name, model_cfg, s, i, parent) for i, s in enumerate(seeds)]
    resolved = OmegaConf.to_container(cfg, resolve=True)
    jobs = [(resolved, effect, model_name, model_cfg, s, i, parent) for i, s in enumerate(seeds)]
    # spawn, not fork: see nn.train
    with ProcessPoolExecutor(min(parallel, len(seeds)), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_seed_job, jobs))


def listening_settings(cells: list[dict[str, Any]], count: int = 3) -> list[int]:
    """Indexes of ``count`` grid settings for A/B listening, spread evenly over the grid's order
    (the grid runs from the range's low corner to its high one: the mildest, the middle and the
    hardest setting of the tube's gain x bias)."""
    if not cells:
        return []
    picks = np.linspace(0, len(cells) - 1, min(count, len(cells))).round().astype(int)
    return sorted(set(int(i) for i in picks))


def write_grid_examples(
    report_dir: Path, model: StreamingModel, folder: Path, cells: list[dict[str, Any]], sample_rate: int
) -> list[dict[str, Any]]:
    """One test row at each listening setting as ``<knob><value>_..._{dry,target,model}.wav``."""
    dry, target, knobs = load_rows(folder, "test")
    manifest = read_knob_manifest(folder)
    setting_rows = [int(r["setting"]) for r in manifest["splits"]["test"]["records"]]
    written = []
    for index in listening_settings(cells):
        row = setting_rows.index(index)
        estimate = predict_with_knobs(model, dry[row : row + 1], knobs[row : row + 1])
        stem = "_".join(f"{name}{cells[index]['setting'][name]:g}" for name in manifest["knob_names"])
        for kind, signal in (("dry", dry[row, 0]), ("target", target[row, 0]), ("model", estimate[0, 0])):
            write_audio(report_dir / "examples" / f"{stem}_{kind}.wav", signal.numpy().astype("float32"), sample_rate)
        written.append({"setting": cells[index]["setting"], "stem": stem})
    return written


def _log_report(cfg: DictConfig, run_id: str, report: dict[str, Any], report_dir: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri(cfg.tracking.uri))
    for key, s in report["spread"].items():
        if s:
            for stat in ("median", "min", "max"):
                client.log_metric(run_id, f"seeds/{key}_{stat}", float(s[stat]))
    for cell in report["grid"]:
        name = "__".join(f"{k}_{v:g}" for k, v in cell["setting"].items())
        for key in GRID_METRICS:
            if cell[key] is not None:
                client.log_metric(run_id, f"grid/{key}/{name}", float(cell[key]))
    client.set_tag(run_id, "chosen_seed", str(report["chosen_seed"]))
    client.log_metric(run_id, "params", float(report["params"]))
    client.log_artifacts(run_id, str(report_dir))


def _seed_spreads(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric over the seeds: the grid's median and its worst setting; the reference; val."""
    out: dict[str, Any] = {}
    for key in GRID_METRICS:
        out[f"grid_{key}_median"] = spread([(r["grid"]["summary"][key] or {}).get("median") for r in results])
        out[f"grid_{key}_max"] = spread([(r["grid"]["summary"][key] or {}).get("max") for r in results])
        out[f"fixed_setting_{key}"] = spread([r["reference"][key] for r in results])
    out["fixed_setting_guitar_esr"] = spread([r["reference"]["guitar_esr"] for r in results])
    out["val_esr_final"] = spread([r["val_esr_final"] for r in results])
    return out


def train_knob_pair(cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """Train every seed of a conditioned pair, choose the median one, judge it on the grid, report."""
    pair = knob_pair(effect, model_name)
    train_cfg = pair_train_config(cfg, model_cfg)
    module, datamodule, conditioned = prepare_knob_pair(cfg, effect, model_name, model_cfg)
    description = module.model.describe()
    seeds = seed_values(cfg, train_cfg)
    pair_dir = Path(cfg.paths.checkpoints) / pair
    _clear_stale(pair_dir, len(seeds))
    parent = _pair_run(cfg, effect, pair, conditioned, train_cfg, description, seeds)
    log.info("training %s (%d parameters): seeds %s", pair, description["params"], seeds)
    started = time.perf_counter()
    results = _train_seeds(cfg, effect, model_name, model_cfg, seeds, int(train_cfg.get("parallel", 1)), parent)
    wall = time.perf_counter() - started

    finals = [r["val_esr_final"] if r["val_esr_final"] is not None else float("inf") for r in results]
    chosen = results[median_index(finals)]
    shutil.copyfile(chosen["checkpoint"], pair_dir / "best.ckpt")
    best = KnobEffectModule.load_from_checkpoint(str(pair_dir / "best.ckpt"), map_location="cpu").model
    best.eval()

    report_dir = Path(cfg.paths.reports) / "train" / pair
    if report_dir.exists():
        shutil.rmtree(report_dir)
    grid = median_over_seeds([r["grid"]["cells"] for r in results])
    names = list(datamodule.manifest["knob_names"])
    heatmaps = {}
    for key in ("esr", "residual_esr"):
        path = report_dir / f"grid_{key}.png"
        title = f"{pair}: {key} on the held-out grid (median of {len(seeds)} seeds)"
        if plot_knob_grid(grid, names, path, title, metric=key, percent=key == "esr"):
            heatmaps[key] = str(path)
    examples = write_grid_examples(
        report_dir, best, datamodule.dataset_dir, chosen["grid"]["cells"], datamodule.sample_rate
    )
    plot_path = report_dir / "loss_curve.png"
    plot_curves(results, chosen, plot_path, f"{pair}: {description['params']} parameters, {len(seeds)} seed(s)")
    warning = _machine_warning(pair, results, int(train_cfg["max_epochs"]))
    report = {
        "effect": effect,
        "model": f"{model_name}-knobs",
        "family": model_name,
        **description,
        "size": model_cfg["size"],
        "knob_names": names,
        "grid": grid,
        "grid_summary": summarise_grid(grid),
        "chosen_grid": chosen["grid"],
        "reference": chosen["reference"],
        "spread": _seed_spreads(results),
        "seeds": [{k: v for k, v in r.items() if k not in ("history", "grid")} for r in results],
        "seed_grids": [r["grid"]["summary"] for r in results],
        "chosen_seed": chosen["seed"],
        "selection": "the seed with the median final validation ESR",
        "epochs": chosen["epochs"],
        "max_epochs": int(train_cfg["max_epochs"]),
        "stopped_by": chosen["stopped_by"],
        "resumed": any(r["resumed"] for r in results),
        "machine_dependent": warning is not None,
        "warning": warning,
        "train_minutes": round(sum(r["train_seconds"] for r in results) / 60, 2),
        "wall_minutes": round(wall / 60, 2),
        "heatmaps": heatmaps,
        "examples": examples,
        "checkpoint": str(pair_dir / "best.ckpt"),
        "mlflow": {"experiment": effect, "run_id": parent, "seed_run_ids": [r["mlflow_run_id"] for r in results]},
    }
    _log_report(cfg, parent, report, report_dir)
    report_path = Path(cfg.paths.reports) / "train" / f"{pair}.json"
    write_json(report_path, report)
    log_artifact(cfg, parent, report_path)
    s = report["spread"]["grid_esr_median"]
    log.info(
        "%s: grid ESR median over seeds %s (%s..%s), worst setting %s; %.1f min wall",
        pair,
        s and s["median"],
        s and s["min"],
        s and s["max"],
        report["grid_summary"]["worst"],
        wall / 60,
    )
    return report


def run(cfg: DictConfig) -> None:
    """Stage ``train_knobs``: every selected conditioned pair (``knob_matrix``, ``select.*``)."""
    pairs = selected_knob_pairs(cfg)
    for effect, name, model_cfg in pairs:  # refuse a bad config before any pair trains
        prepare_knob_pair(cfg, effect, name, model_cfg)
    for effect, name, model_cfg in pairs:
        train_knob_pair(cfg, effect, name, model_cfg)
