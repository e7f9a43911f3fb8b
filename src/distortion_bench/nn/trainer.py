"""The Lightning trainer of one seed: its callbacks (checkpoint, history, weight average) and
settings, all from the ``train`` config.

Training is stabilised rather than stopped early: the learning-rate schedule lives in the
module (:func:`~distortion_bench.nn.module.warmup_cosine`) and an exponential moving average of
the weights (:class:`EMAWeights`) is what validation sees and the checkpoints hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, WeightAveraging
from lightning.pytorch.loggers import Logger
from torch import Tensor

from distortion_bench.atomic import write_json


class EpochHistory(Callback):
    """Keeps per-epoch train loss, learning rate and validation ESR in a JSON file (survives resuming)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, float]] = json.loads(path.read_text()) if path.is_file() else []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch}
        for key in ("train/loss", "train/lr", "val/esr"):
            if key in metrics:
                row[key] = float(metrics[key])
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        write_json(self.path, self.rows)


def ema_decay(decay: float, updates: int) -> float:
    """The averaging weight of the ``updates``-th update: ``min(decay, (1 + n) / (10 + n))``.

    The ramp keeps the average from dragging the random initial weights along while the model
    still improves fast (with a fixed 0.98 a TCN's validation ESR lagged 10x behind after 9 epochs);
    later the full ``decay`` smooths the batch-to-batch noise.
    """
    return min(decay, (1.0 + updates) / (10.0 + updates))


class EMAWeights(WeightAveraging):
    """Exponential moving average of the weights (:func:`ema_decay`), updated after every batch
    (several optimizer steps with truncated back-propagation); validation and checkpoints use it."""

    def __init__(self, decay: float) -> None:
        def average(averaged: Tensor, current: Tensor, updates: Tensor | int) -> Tensor:
            weight = ema_decay(decay, int(updates))
            return averaged * weight + current * (1.0 - weight)

        super().__init__(avg_fn=average, use_buffers=True)


def callbacks_from_config(train_cfg: dict[str, Any], ckpt_dir: Path) -> list[Callback]:
    """``last.ckpt`` after every epoch (no "best" epoch: the kept model is the one at the end of
    the budget), the per-epoch history, and the weight average when ``train.ema_decay`` is set."""
    callbacks: list[Callback] = [
        ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=0, enable_version_counter=False),
        EpochHistory(ckpt_dir / "history.json"),
    ]
    if train_cfg.get("ema_decay") is not None:
        callbacks.append(EMAWeights(float(train_cfg["ema_decay"])))
    return callbacks


def trainer_from_config(train_cfg: dict[str, Any], ckpt_dir: Path, logger: Logger) -> L.Trainer:
    """The trainer of one seed: epoch budget, optional wall-clock cap, accelerator, determinism."""
    max_minutes = train_cfg.get("max_minutes")
    return L.Trainer(
        max_epochs=int(train_cfg["max_epochs"]),
        max_time=None if max_minutes is None else {"minutes": float(max_minutes)},
        accelerator=str(train_cfg["accelerator"]),
        devices=1,
        deterministic=bool(train_cfg["deterministic"]),
        callbacks=callbacks_from_config(train_cfg, ckpt_dir),
        logger=logger,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        enable_model_summary=False,
        enable_progress_bar=False,
        default_root_dir=str(ckpt_dir),
    )
