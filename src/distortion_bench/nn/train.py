"""Stage ``train``: one model per (effect, model) pair, tracked in MLflow.

For each pair it writes:

- ``<checkpoints>/<effect>-<model>/``: ``best.ckpt`` (lowest validation ESR), ``last.ckpt``,
  ``history.json`` (per-epoch train loss and validation ESR) and ``run.json`` (the config
  fingerprint and MLflow run id). A re-run with the same fingerprint resumes from
  ``last.ckpt`` and continues the same MLflow run; a different config starts afresh.
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
from omegaconf import DictConfig

from distortion_bench.analysis.plotting import plot_training_curves
from distortion_bench.atomic import write_json
from distortion_bench.audio_io import write_audio
from distortion_bench.config import plain, selected_effects
from distortion_bench.errors import ConfigError
from distortion_bench.nn.data import EffectDataModule, WholeTakes, load_whole_takes
from distortion_bench.nn.evaluate import evaluate
from distortion_bench.nn.module import EffectModule
from distortion_bench.tracking import flatten, tracking_uri

log = logging.getLogger(__name__)

#: train keys that do not change what is learned: a run that differs only in these resumes.
RESUMABLE_KEYS = ("max_epochs", "max_minutes", "patience", "examples", "threads", "accelerator")

#: Order in which test takes are picked as audio examples: one per kind of material.
EXAMPLE_ORDER = ("chord", "pluck", "bass", "sweep", "slide", "palm_mute", "tone", "noise", "user")


def selected_models(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """The models to train: ``select.model`` if set, else ``train_matrix.models``."""
    models = plain(cfg.models)
    chosen = cfg.select.get("model")
    names = [chosen] if chosen is not None else list(cfg.train_matrix.models)
    for name in names:
        if name not in models:
            raise ConfigError(f"select.model / train_matrix.models: {name!r} is not a key of models; "
                              f"expected one of {sorted(models)}")
    return {name: models[name] for name in names}


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


def prepare_pair(cfg: DictConfig, effect: str, model_cfg: dict[str, Any]
                 ) -> tuple[EffectModule, EffectDataModule]:
    """Build the module and data of a pair; every refusable config is refused here."""
    train_cfg = plain(cfg.train)
    for name in ("loss_samples", "tbptt_samples", "batch_size", "max_epochs", "examples"):
        value = train_cfg.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "examples" else 1):
            raise ConfigError(f"train.{name}: expected a positive integer, got {value!r}")
    module = EffectModule(model_cfg, train_cfg, int(cfg.audio.sample_rate))
    crop = module.model.warmup_samples() + int(train_cfg["loss_samples"])
    datamodule = EffectDataModule(Path(cfg.paths.datasets) / effect, int(train_cfg["batch_size"]), crop)
    return module, datamodule


def train_pair(cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """Train, test and report one (effect, model) pair; return the report."""
    pair = f"{effect}-{model_name}"
    train_cfg = plain(cfg.train)
    dataset_dir = Path(cfg.paths.datasets) / effect
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
    resume = previous.get("fingerprint") == fingerprint and (ckpt_dir / "last.ckpt").is_file()
    if not resume and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)  # checkpoints of another config: never resume from them
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    L.seed_everything(int(cfg.seed), workers=True)
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
    trainer = L.Trainer(
        max_epochs=int(train_cfg["max_epochs"]), max_time={"minutes": float(train_cfg["max_minutes"])},
        accelerator=str(train_cfg["accelerator"]), devices=1, deterministic=bool(train_cfg["deterministic"]),
        callbacks=[checkpoint, early, history], logger=logger, num_sanity_val_steps=0,
        log_every_n_steps=1, enable_model_summary=True, default_root_dir=str(ckpt_dir),
    )
    log.info("training %s (%d parameters)%s", pair, description["params"], " - resuming" if resume else "")
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_dir / "last.ckpt") if resume else None)
    train_seconds = (previous.get("train_seconds", 0.0) if resume else 0.0) + time.perf_counter() - started
    write_json(run_file, {"fingerprint": fingerprint, "run_id": run_id, "train_seconds": train_seconds})
    stopped_by = ("early_stopping" if early.stopped_epoch > 0
                  else "max_epochs" if trainer.current_epoch >= int(train_cfg["max_epochs"]) else "max_time")

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
        "epochs": trainer.current_epoch, "stopped_by": stopped_by,
        "train_seconds": round(train_seconds, 1), "train_minutes": round(train_seconds / 60, 2),
        "examples": examples,
        "checkpoint": str(ckpt_dir / "best.ckpt"),
        "mlflow": {"experiment": effect, "run_id": run_id},
    }
    client = logger.experiment
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            client.log_metric(run_id, f"test/{key}", float(value))
    client.log_metric(run_id, "train_seconds", train_seconds)
    client.log_metric(run_id, "params", float(description["params"]))
    client.log_artifact(run_id, str(plot_path))
    client.log_artifacts(run_id, str(report_dir / "examples"), artifact_path="examples")
    report_path = Path(cfg.paths.reports) / "train" / f"{pair}.json"
    write_json(report_path, report)
    client.log_artifact(run_id, str(report_path))
    log.info("%s: test ESR %s, residual ESR %s, %.1f min, %d epochs (%s)", pair, metrics["esr"],
             metrics["residual_esr"], train_seconds / 60, trainer.current_epoch, stopped_by)
    return report


def run(cfg: DictConfig) -> None:
    """Stage ``train``: every selected (effect, model) pair."""
    effects = list(selected_effects(cfg)) if cfg.select.get("effect") else list(cfg.train_matrix.effects)
    models = selected_models(cfg)
    for effect in effects:
        if effect not in cfg.effects:
            raise ConfigError(f"train_matrix.effects: {effect!r} is not a key of effects")
    pairs = [(effect, name, model_cfg) for effect in effects for name, model_cfg in models.items()]
    for effect, _, model_cfg in pairs:  # refuse a bad config before any pair trains
        prepare_pair(cfg, effect, model_cfg)
    for effect, name, model_cfg in pairs:
        train_pair(cfg, effect, name, model_cfg)
