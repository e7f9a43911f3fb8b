"""LightningModule: trains a streaming model with warm-up and truncated back-propagation.

Each training crop (``(batch, 1, warmup + loss_samples)``) is processed as in Wright et al.
(2019): the first ``warmup`` samples run without gradients so the state settles (for the TCN
this fills its caches with real past input: the receptive-field context), then the rest is
cut into chunks of ``tbptt_samples``; after each chunk the loss is back-propagated, the
optimizer steps, and the state is carried on, detached. Loss is never taken on warm-up samples.

The learning rate follows a schedule fixed in advance (:func:`warmup_cosine`): a linear warm-up
from 0 over ``train.warmup_epochs``, then a cosine decay to ``train.lr_final_fraction`` of the peak
at the end of the budget. A plateau rule that halves the rate when validation stalls reacts to the
noise of one validation pass, and a constant rate keeps the weights jumping around the minimum
until the last step (validation ESR moved 7x between consecutive epochs so); the decay makes the
last epochs small steps, and the weights that are validated and kept are an exponential moving
average of the trained ones (``train.ema_decay``, Lightning's ``WeightAveraging``; see
:mod:`distortion_bench.nn.trainer`).

Validation computes the whole-signal ESR over all validation takes (sum of squared errors over
sum of squared targets, no epsilon), with the averaged weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from torch import Tensor

from distortion_bench.nn.data import valid_mask
from distortion_bench.nn.losses import loss_from_config
from distortion_bench.nn.models import StreamingModel, build_model

#: Samples per chunk when a whole take is streamed for evaluation (bounds memory only).
EVAL_CHUNK = 16384


@torch.no_grad()
def predict_whole(model: StreamingModel, x: Tensor, chunk: int = EVAL_CHUNK) -> Tensor:
    """Stream ``x`` (``(batch, 1, time)``) through ``model`` from the initial state."""
    state = model.initial_state(x.shape[0])
    out = torch.empty_like(x)
    for start in range(0, x.shape[2], chunk):
        out[:, :, start : start + chunk], state = model(x[:, :, start : start + chunk], state)
    return out


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, final_fraction: float) -> float:
    """Learning-rate factor (of the peak) after ``step`` optimizer steps of ``total_steps``.

    Linear from ``1 / warmup_steps`` up to 1 over the first ``warmup_steps`` steps, then a half
    cosine from 1 down to ``final_fraction`` at ``total_steps`` (and ``final_fraction`` after).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress))


class EffectModule(L.LightningModule):
    """Model + loss + optimizer for one (effect, model) pair.

    Args:
        model_cfg: the model's config mapping (see :func:`..models.build_model`).
        train_cfg: ``train`` config (``lr``: the peak rate, ``warmup_epochs``,
            ``lr_final_fraction``, ``tbptt_samples``, ``loss``, ``grad_clip``).
        sample_rate: in Hz.
    """

    def __init__(self, model_cfg: Mapping[str, Any], train_cfg: Mapping[str, Any], sample_rate: int) -> None:
        super().__init__()
        # Stored in checkpoints only: the training runner logs flattened params to MLflow itself,
        # and a resumed run with a larger budget must not re-log changed values.
        self.save_hyperparameters(
            {"model_cfg": dict(model_cfg), "train_cfg": dict(train_cfg), "sample_rate": int(sample_rate)}, logger=False
        )
        self.model = build_model(model_cfg, sample_rate)
        self.loss = loss_from_config(train_cfg["loss"], sample_rate)
        self.lr = float(train_cfg["lr"])
        self.tbptt = int(train_cfg["tbptt_samples"])
        self.grad_clip = float(train_cfg.get("grad_clip", 0.0))
        self.warmup_epochs = float(train_cfg.get("warmup_epochs", 0.0))
        self.lr_final_fraction = float(train_cfg.get("lr_final_fraction", 1.0))
        self.automatic_optimization = False  # one optimizer step per TBPTT chunk

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        opt = self.optimizers()
        warmup = self.model.warmup_samples()
        state = self.model.initial_state(x.shape[0])
        if warmup:
            with torch.no_grad():
                _, state = self.model(x[:, :, :warmup], state)
        total, samples = x.new_zeros(()), 0
        for start in range(warmup, x.shape[2], self.tbptt):
            stop = min(start + self.tbptt, x.shape[2])
            y_hat, state = self.model(x[:, :, start:stop], state)
            loss, _ = self.loss(y_hat, y[:, :, start:stop], x[:, :, start:stop])
            opt.zero_grad()
            self.manual_backward(loss)
            if self.grad_clip > 0:
                self.clip_gradients(opt, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")
            opt.step()
            state = tuple(s.detach() for s in state)
            total += loss.detach() * (stop - start)
            samples += stop - start
        scheduler = self.lr_schedulers()
        if scheduler is not None:
            scheduler.step()  # once per batch: the schedule is counted in batches
        self.log("train/loss", total / samples, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0])
        self.log(
            "train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, batch_size=x.shape[0]
        )

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        dry, target, lengths = batch
        estimate = predict_whole(self.model, dry)
        mask = valid_mask(lengths, dry.shape[2])
        err = (((target - estimate) * mask) ** 2).sum(dtype=torch.float64)
        sig = ((target * mask) ** 2).sum(dtype=torch.float64)
        self.log("val/esr", (err / sig).float(), prog_bar=True, batch_size=1)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.model.optimizer_groups(self.lr), lr=self.lr)
        # Counted in batches (one scheduler step per batch, several optimizer steps per batch
        # with truncated back-propagation); known before training: the schedule never depends
        # on how validation went.
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = max(1, total // max(1, int(self.trainer.max_epochs or 1)))
        warmup = int(round(self.warmup_epochs * per_epoch))
        final = self.lr_final_fraction
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, total, warmup, final))
        # Stepped by hand in training_step (manual optimization).
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched}}
