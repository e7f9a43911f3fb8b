"""LightningModule of a knob-conditioned model: :class:`~.module.EffectModule` with the knobs.

Training is the fixed-setting model's (warm-up without gradients, truncated back-propagation,
the same schedule, loss and weight averaging), with each crop's knobs per sample ``(batch, K,
time)`` sliced beside the audio, so automation rows teach the model to follow a moving knob.
Validation: the ESR over all validation rows (the residual ESR for a residual loss), each
streamed whole at its setting ``(rows, K)``.
Both scale each row's estimate, target and input by its setting's loss scale first (1 but for a
residual loss, which weighs every setting alike: :mod:`~distortion_bench.nn.knob_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from distortion_bench.nn.knob_data import balance_of
from distortion_bench.nn.models import StreamingModel
from distortion_bench.nn.module import EVAL_CHUNK, EffectModule


@torch.no_grad()
def predict_with_knobs(model: StreamingModel, x: Tensor, knobs: Tensor, chunk: int = EVAL_CHUNK) -> Tensor:
    """Stream ``x`` ``(batch, 1, time)`` from the initial state at the settings ``knobs`` ``(batch, K)``."""
    state = model.initial_state(x.shape[0])
    out = torch.empty_like(x)
    for start in range(0, x.shape[2], chunk):
        out[:, :, start : start + chunk], state = model(x[:, :, start : start + chunk], state, knobs)
    return out


class KnobEffectModule(EffectModule):
    """Model + loss + optimizer for one (effect, conditioned model) pair (arguments as the base's)."""

    def __init__(self, model_cfg: Mapping[str, Any], train_cfg: Mapping[str, Any], sample_rate: int) -> None:
        super().__init__(model_cfg, train_cfg, sample_rate)
        # what validation's denominator measures: the loss's (the residual for a residual loss)
        self.balance = balance_of(dict(train_cfg["loss"].get("weights", {})))

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor, Tensor], batch_idx: int) -> None:
        x, y, knobs, scale = batch  # scale: (batch, 1, 1), each row's setting's loss scale
        opt = self.optimizers()
        warmup = self.model.warmup_samples()
        state = self.model.initial_state(x.shape[0])
        if warmup:
            with torch.no_grad():
                _, state = self.model(x[:, :, :warmup], state, knobs[:, :, :warmup])
        total, samples = x.new_zeros(()), 0
        for start in range(warmup, x.shape[2], self.tbptt):
            stop = min(start + self.tbptt, x.shape[2])
            y_hat, state = self.model(x[:, :, start:stop], state, knobs[:, :, start:stop])
            loss, _ = self.loss(scale * y_hat, scale * y[:, :, start:stop], scale * x[:, :, start:stop])
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
            scheduler.step()
        self.log("train/loss", total / samples, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0])
        self.log(
            "train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, batch_size=x.shape[0]
        )

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor, Tensor], batch_idx: int) -> None:
        dry, target, knobs, scale = batch
        estimate = predict_with_knobs(self.model, dry, knobs)
        err = ((scale * (target - estimate)) ** 2).sum(dtype=torch.float64)
        reference = target - dry if self.balance == "residual" else target
        sig = ((scale * reference) ** 2).sum(dtype=torch.float64)
        self.log("val/esr", (err / sig).float(), prog_bar=True, batch_size=1)
