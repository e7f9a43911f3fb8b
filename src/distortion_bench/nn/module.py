"""LightningModule: trains a streaming model with warm-up and truncated back-propagation.

Each training crop (``(batch, 1, warmup + loss_samples)``) is processed as in Wright et al.
(2019): the first ``warmup`` samples run without gradients so the state settles (for the TCN
this fills its caches with real past input: the receptive-field context), then the rest is
cut into chunks of ``tbptt_samples``; after each chunk the loss is back-propagated, the
optimizer steps, and the state is carried on, detached. Loss is never taken on warm-up samples.

Validation computes the whole-signal ESR (DESIGN section 5) over all validation takes.
"""

from __future__ import annotations

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
        out[:, :, start:start + chunk], state = model(x[:, :, start:start + chunk], state)
    return out


class EffectModule(L.LightningModule):
    """Model + loss + optimizer for one (effect, model) pair.

    Args:
        model_cfg: the model's config mapping (see :func:`..models.build_model`).
        train_cfg: ``train`` config (``lr``, ``tbptt_samples``, ``loss``, ``grad_clip``,
            ``lr_patience``).
        sample_rate: in Hz.
    """

    def __init__(self, model_cfg: Mapping[str, Any], train_cfg: Mapping[str, Any], sample_rate: int) -> None:
        super().__init__()
        # Stored in checkpoints only: the training runner logs flattened params to MLflow itself,
        # and a resumed run with a larger budget must not re-log changed values.
        self.save_hyperparameters({"model_cfg": dict(model_cfg), "train_cfg": dict(train_cfg),
                                   "sample_rate": int(sample_rate)}, logger=False)
        self.model = build_model(model_cfg, sample_rate)
        self.loss = loss_from_config(train_cfg["loss"], sample_rate)
        self.lr = float(train_cfg["lr"])
        self.tbptt = int(train_cfg["tbptt_samples"])
        self.grad_clip = float(train_cfg.get("grad_clip", 0.0))
        self.lr_patience = int(train_cfg.get("lr_patience", 5))
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
        self.log("train/loss", total / samples, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=x.shape[0])

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        dry, target, lengths = batch
        estimate = predict_whole(self.model, dry)
        mask = valid_mask(lengths, dry.shape[2])
        err = (((target - estimate) * mask) ** 2).sum(dtype=torch.float64)
        sig = ((target * mask) ** 2).sum(dtype=torch.float64)
        self.log("val/esr", (err / sig).float(), prog_bar=True, batch_size=1)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        scheduler = self.lr_schedulers()
        metric = self.trainer.callback_metrics.get("val/esr")
        if scheduler is not None and metric is not None:
            scheduler.step(metric)
            self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=1)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.model.optimizer_groups(self.lr), lr=self.lr)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5,
                                                           patience=self.lr_patience)
        # Stepped by hand in on_validation_epoch_end (manual optimization).
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched}}
