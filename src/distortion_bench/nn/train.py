"""Stage ``train``: one model per (effect, model) pair, tracked in MLflow.

For each pair it writes:

- ``<checkpoints>/<effect>-<model>/``: ``best.ckpt`` (lowest validation ESR), ``last.ckpt``,
  ``history.json`` (per-epoch train loss and validation ESR) and ``run.json`` (the config
  fingerprint and MLflow run id). Only an *interrupted* training resumes: a re-run with the
  same fingerprint whose training never completed continues from ``last.ckpt`` and the same
  MLflow run (its report says ``resumed``: the crop order after the interruption differs
  from an uninterrupted run). A completed training, or another config, starts afresh, so
  ``dvc repro -f`` retrains from the seed and gives the same model, bit for bit, on one machine.
- ``<reports>/train/<effect>-<model>.json``: test metrics, parameters, training time, epochs
  and the MLflow run id (later stages log to that run).
- ``<reports>/train/<effect>-<model>/``: the loss-curve plot and test audio examples
  (``<take>_dry.wav``, ``_target.wav``, ``_model.wav``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf

from distortion_bench.analysis.plotting import plot_training_curves
from distortion_bench.atomic import write_json
from distortion_bench.audio_io import write_audio
from distortion_bench.config import plain, selected_models, selected_pairs
from distortion_bench.errors import ConfigError
from distortion_bench.nn.data import EffectDataModule, WholeTakes, load_whole_takes
from distortion_bench.nn.evaluate import evaluate
from distortion_bench.nn.module import EffectModule
from distortion_bench.tracking import flatten, tracking_uri

log = logging.getLogger(__name__)

__all__ = ["train_pair", "prepare_pair", "run", "selected_models", "stopped_by"]

#: train keys that do not change what is learned: an interrupted run that differs only in these resumes.
RESUMABLE_KEYS = ("max_epochs", "max_minutes", "patience", "examples", "threads", "accelerator")

#: Order in which test takes are picked as audio examples: one per kind of material.
EXAMPLE_ORDER = ("chord", "pluck", "bass", "sweep", "slide", "palm_mute", "tone", "noise", "user")


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class EpochHistory(Callback):
    """Keeps per-epoch train loss and validation ESR in a JSON file (survives resuming)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, float]] = (json.loads(path.read_text()) if path.is_file() else [])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch}
        for key in ("train/loss", "val/esr"):
            if key in metrics:
                row[key] = float(metrics[key])
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        write_json(self.path, self.rows)


def _pick_examples(takes: WholeTakes, count: int) -> list[int]:
    chosen: list[int] = []
    for category in EXAMPLE_ORDER:
        for i, path in enumerate(takes.paths):
            if path.split("/")[0] == category and i not in chosen:
                chosen.append(i)
                break
        if len(chosen) >= count:
            break
    return chosen


def stopped_by(early_stopped_epoch: int, epochs_done: int, max_epochs: int, max_minutes: float | None) -> str:
    """Why a training ended: ``early_stopping``, ``max_epochs`` (the budget), or ``max_time``.

    ``max_time`` (the optional wall-clock safety fired) makes the result machine-dependent.
    """
    if early_stopped_epoch > 0:
        return "early_stopping"
    if epochs_done >= max_epochs:
        return "max_epochs"
    return "max_time" if max_minutes is not None else "interrupted"


def pair_train_config(cfg: DictConfig, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """``train`` for one model: the model config's optional ``train`` mapping overrides its keys
    (a family that needs another loss or budget says so in its own config, e.g. the shaper's
    residual loss; the other pairs keep ``train``). Unknown keys are refused."""
    train_cfg = plain(cfg.train)
    overrides = model_cfg.get("train")
    if overrides is None:
        return train_cfg
    if not isinstance(overrides, dict):
        raise ConfigError(f"models.<model>.train: expected a mapping of train keys, got {overrides!r}")
    unknown = sorted(set(overrides) - set(train_cfg))
    if unknown:
        raise ConfigError(f"models.<model>.train: unknown key(s) {unknown}; expected keys of train: {sorted(train_cfg)}")
    merged = OmegaConf.merge(OmegaConf.create(train_cfg), OmegaConf.create(overrides))
    out = OmegaConf.to_container(merged, resolve=True)
    assert isinstance(out, dict)
    return out


def prepare_pair(cfg: DictConfig, effect: str, model_cfg: dict[str, Any]
                 ) -> tuple[EffectModule, EffectDataModule]:
    """Build the module and data of a pair; every refusable config is refused here."""
    train_cfg = pair_train_config(cfg, model_cfg)
    for name in ("loss_samples", "tbptt_samples", "batch_size", "max_epochs", "examples"):
        value = train_cfg.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "examples" else 1):
            raise ConfigError(f"train.{name}: expected a positive integer, got {value!r}")
    cap = train_cfg.get("max_minutes")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0):
        raise ConfigError(f"train.max_minutes: expected null (no wall-clock cap) or a positive number "
                          f"of minutes, got {cap!r}")
    module = EffectModule(model_cfg, train_cfg, int(cfg.audio.sample_rate))
    crop = module.model.warmup_samples() + int(train_cfg["loss_samples"])
    datamodule = EffectDataModule(Path(cfg.paths.datasets) / effect, int(train_cfg["batch_size"]), crop)
    return module, datamodule


def train_pair(cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """Train, test and report one (effect, model) pair; return the report."""
    pair = f"{effect}-{model_name}"
    train_cfg = pair_train_config(cfg, model_cfg)
    dataset_dir = Path(cfg.paths.datasets) / effect
    # Seed before the model is built: its initial weights come from the same generator, so a
    # pair trains the same model whatever ran before it in this process.
    L.seed_everything(int(cfg.seed), workers=True)
    module, datamodule = prepare_pair(cfg, effect, model_cfg)
    model = module.model
    sample_rate = datamodule.sample_rate

    ckpt_dir = Path(cfg.paths.checkpoints) / pair
    report_dir = Path(cfg.paths.reports) / "train" / pair
    manifest_bytes = (dataset_dir / "manifest.json").read_bytes()
    # Budgets are left out: raising max_epochs or max_minutes continues the same training.
    learning = {k: v for k, v in train_cfg.items() if k not in RESUMABLE_KEYS}
    fingerprint = _fingerprint(model_cfg, learning, int(cfg.seed), hashlib.sha256(manifest_bytes).hexdigest())
    run_file = ckpt_dir / "run.json"
    previous = json.loads(run_file.read_text()) if run_file.is_file() else {}
    resume = (previous.get("fingerprint") == fingerprint and not previous.get("completed")
              and (ckpt_dir / "last.ckpt").is_file())
    if not resume and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)  # another config's, or a completed training: start from the seed
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    if train_cfg.get("threads"):
        torch.set_num_threads(int(train_cfg["threads"]))
    uri = tracking_uri(cfg.tracking.uri)
    logger = MLFlowLogger(experiment_name=effect, run_name=pair, tracking_uri=uri,
                          run_id=previous.get("run_id") if resume else None)
    run_id = logger.run_id
    write_json(run_file, {"fingerprint": fingerprint, "run_id": run_id,
                          "train_seconds": previous.get("train_seconds", 0.0) if resume else 0.0})
    description = model.describe()
    if not resume:
        logger.log_hyperparams({**flatten({"model": model_cfg, "train": train_cfg,
                                           "effect": plain(cfg.effects[effect])}),
                                "seed": str(cfg.seed), "data.segment_seconds": str(cfg.data.segment_seconds),
                                "params": str(description["params"]), "pair": pair})
    logger.experiment.set_tag(run_id, "effect", effect)
    logger.experiment.set_tag(run_id, "model", model_name)

    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/esr", mode="min",
                                 save_last=True, save_top_k=1, enable_version_counter=False)
    early = EarlyStopping(monitor="val/esr", mode="min", patience=int(train_cfg["patience"]),
                          check_on_train_epoch_end=False)
    history = EpochHistory(ckpt_dir / "history.json")
    # The budget is counted in epochs, so every machine trains the same model; the wall-clock
    # cap is an optional safety (off by default) whose firing is reported as machine-dependent.
    max_minutes = train_cfg.get("max_minutes")
    trainer = L.Trainer(
        max_epochs=int(train_cfg["max_epochs"]),
        max_time=None if max_minutes is None else {"minutes": float(max_minutes)},
        accelerator=str(train_cfg["accelerator"]), devices=1, deterministic=bool(train_cfg["deterministic"]),
        callbacks=[checkpoint, early, history], logger=logger, num_sanity_val_steps=0,
        log_every_n_steps=1, enable_model_summary=True, default_root_dir=str(ckpt_dir),
    )
    log.info("training %s (%d parameters)%s", pair, description["params"], " - resuming" if resume else "")
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_dir / "last.ckpt") if resume else None)
    train_seconds = (previous.get("train_seconds", 0.0) if resume else 0.0) + time.perf_counter() - started
    stop = stopped_by(early.stopped_epoch, trainer.current_epoch, int(train_cfg["max_epochs"]),
                      None if max_minutes is None else float(max_minutes))
    write_json(run_file, {"fingerprint": fingerprint, "run_id": run_id, "train_seconds": train_seconds,
                          "completed": True, "stopped_by": stop})
    warning = None
    if stop in ("max_time", "interrupted"):
        warning = (f"training of {pair} ended by {stop} after {trainer.current_epoch} of "
                   f"{train_cfg['max_epochs']} epochs: this model depends on the machine's speed and load, "
                   "so another machine trains a different one; raise train.max_minutes or set it to null")
        log.warning("!" * 20 + " " + warning + " " + "!" * 20)

    best = EffectModule.load_from_checkpoint(str(ckpt_dir / "best.ckpt"), map_location="cpu")
    test = load_whole_takes(dataset_dir, "test")
    metrics, estimate = evaluate(best.model, test, sample_rate)

    report_dir.mkdir(parents=True, exist_ok=True)
    examples = []
    for i in _pick_examples(test, int(train_cfg["examples"])):
        n = int(test.lengths[i])
        stem = Path(test.paths[i]).stem
        for kind, signal in (("dry", test.dry), ("target", test.target), ("model", estimate)):
            path = report_dir / "examples" / f"{stem}_{kind}.wav"
            write_audio(path, signal[i, 0, :n].numpy().astype("float32"), sample_rate)
        examples.append(test.paths[i])
    plot_path = report_dir / "loss_curve.png"
    plot_training_curves([(r["epoch"], r["train/loss"]) for r in history.rows if "train/loss" in r],
                         [(r["epoch"], r["val/esr"]) for r in history.rows if "val/esr" in r],
                         plot_path, f"{pair}: {description['params']} parameters")
    val_rows = [r["val/esr"] for r in history.rows if "val/esr" in r]
    report = {
        "effect": effect, "model": model_name, **description,
        "size": model_cfg["size"],
        "test": metrics,
        "val_esr_best": min(val_rows) if val_rows else None,
        "epochs": trainer.current_epoch, "max_epochs": int(train_cfg["max_epochs"]), "stopped_by": stop,
        "resumed": resume,
        "machine_dependent": warning is not None, "warning": warning,
        "train_seconds": round(train_seconds, 1), "train_minutes": round(train_seconds / 60, 2),
        "examples": examples,
        "checkpoint": str(ckpt_dir / "best.ckpt"),
        "mlflow": {"experiment": effect, "run_id": run_id},
    }
    client = logger.experiment
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            client.log_metric(run_id, f"test/{key}", float(value))
    for category, values in metrics["by_category"].items():
        for key, value in values.items():
            if isinstance(value, (int, float)):
                client.log_metric(run_id, f"test/{category}/{key}", float(value))
    client.set_tag(run_id, "stopped_by", stop)
    if warning:
        client.set_tag(run_id, "warning", warning)
    client.log_metric(run_id, "train_seconds", train_seconds)
    client.log_metric(run_id, "params", float(description["params"]))
    client.log_artifact(run_id, str(plot_path))
    client.log_artifacts(run_id, str(report_dir / "examples"), artifact_path="examples")
    report_path = Path(cfg.paths.reports) / "train" / f"{pair}.json"
    write_json(report_path, report)
    client.log_artifact(run_id, str(report_path))
    log.info("%s: test ESR %s, residual ESR %s, %.1f min, %d epochs (%s)", pair, metrics["esr"],
             metrics["residual_esr"], train_seconds / 60, trainer.current_epoch, stop)
    for category, values in metrics["by_category"].items():
        log.info("%s   %-10s ESR %s  residual ESR %s  MR-STFT %s  (%d takes, %.1f s, %s of the error)",
                 pair, category, values["esr"], values["residual_esr"], values["mrstft"], values["takes"],
                 values["seconds"], values["share_of_error"])
    return report


def run(cfg: DictConfig) -> None:
    """Stage ``train``: every selected (effect, model) pair."""
    pairs = selected_pairs(cfg)
    for effect, _, model_cfg in pairs:  # refuse a bad config before any pair trains
        prepare_pair(cfg, effect, model_cfg)
    for effect, name, model_cfg in pairs:
        train_pair(cfg, effect, name, model_cfg)
