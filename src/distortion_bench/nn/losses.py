"""Training loss: a configurable mix of auraloss losses.

Terms (weights from ``train.loss``; a zero weight skips the term):

- ``esr``: :class:`auraloss.time.ESRLoss` (Wright & Valimaki 2019);
- ``esr_pre``: the same after first-order pre-emphasis (:class:`auraloss.perceptual.FIRFilter`,
  ``"hp"``, coefficient ``pre_emphasis``), which weights the highs where distortion lives;
- ``dc``: :class:`auraloss.time.DCLoss`;
- ``mrstft``: :class:`auraloss.freq.MultiResolutionSTFTLoss`;
- ``residual_esr``: ESR of what the effect *adds*, ``(y_hat - x)`` against ``(y - x)`` with ``x``
  the dry input: ``sum((y_hat - y)^2) / sum((y - x)^2)``. The identity scores 1 and the exact
  target 0, whatever the share of the output that passes through (for an 8-bit bitcrusher the
  residual is ~-50 dB below the signal, so plain ESR calls the identity 0.001 % off). The
  denominator has a floor of :data:`RESIDUAL_FLOOR` per sample (-100 dB), so an effect that adds
  nothing to a chunk gives a finite loss rather than a division by zero;
- ``residual_mrstft``: the MR-STFT loss on the same residuals: their spectra, not their
  waveforms (quantization noise is heard as a spectrum).

The residual ESR is the plain MSE divided by a per-chunk constant, as the ESR is: with Adam
(invariant to the scale of the loss) the two differ only in how chunks are weighted against each
other and in how gradient clipping bites. The ablation (README, "Neural bitcrusher") measures
what that buys.

The time-domain terms (ESR, DC) are taken over the whole batch chunk at once (items joined
end to end), not per item and averaged as auraloss does by default: a crop that falls in a
silent stretch (takes end in silence) has a near-zero denominator and would dominate the
loss by orders of magnitude. Joined, the loss is the whole-signal ESR the reports use.
auraloss's ESR also adds 1e-8 to the denominator; reported metrics therefore come from
:mod:`distortion_bench.analysis.metrics`, with the project's exact definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import auraloss
import torch
from torch import Tensor, nn

from distortion_bench.errors import ConfigError

LOSS_TERMS = ("esr", "esr_pre", "dc", "mrstft", "residual_esr", "residual_mrstft")
#: terms that need the dry input
RESIDUAL_TERMS = ("residual_esr", "residual_mrstft")
#: floor of the residual ESR's denominator, per sample (a residual power of -100 dB)
RESIDUAL_FLOOR = 1e-10


def residual_esr(estimate: Tensor, target: Tensor, dry: Tensor) -> Tensor:
    """ESR of the residuals ``estimate - dry`` vs ``target - dry`` over the whole chunk (a scalar).

    Shapes: any, all equal (``(batch, 1, time)`` in training). Identity (``estimate == dry``)
    gives ``sum(r^2) / (sum(r^2) + floor)`` ~ 1; ``estimate == target`` gives 0.
    """
    residual = target - dry
    denominator = (residual ** 2).sum() + RESIDUAL_FLOOR * residual.numel()
    return ((estimate - target) ** 2).sum() / denominator


class LossMix(nn.Module):
    """Weighted sum of auraloss terms on ``(batch, 1, time)`` tensors."""

    def __init__(self, weights: Mapping[str, float], pre_emphasis: float = 0.85,
                 sample_rate: int = 48000) -> None:
        super().__init__()
        self.weights = {k: float(v) for k, v in weights.items() if float(v) != 0.0}
        self.terms = nn.ModuleDict()
        if "esr" in self.weights:
            self.terms["esr"] = auraloss.time.ESRLoss()
        if "esr_pre" in self.weights:
            self.pre = auraloss.perceptual.FIRFilter(filter_type="hp", coef=pre_emphasis, fs=sample_rate)
            self.pre.requires_grad_(False)
            self.terms["esr_pre"] = auraloss.time.ESRLoss()
        if "dc" in self.weights:
            self.terms["dc"] = auraloss.time.DCLoss()
        for name in ("mrstft", "residual_mrstft"):
            if name in self.weights:
                self.terms[name] = auraloss.freq.MultiResolutionSTFTLoss(
                    fft_sizes=[256, 1024, 2048], hop_sizes=[64, 256, 512], win_lengths=[256, 1024, 2048])

    @property
    def needs_dry(self) -> bool:
        """Whether a term is taken on residuals (``forward`` then needs ``dry``)."""
        return any(name in self.weights for name in RESIDUAL_TERMS)

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None = None
                ) -> tuple[Tensor, dict[str, Tensor]]:
        """Return ``(total, {term: value})``; ``dry`` (the input, same shape) for residual terms."""
        if dry is None and self.needs_dry:
            raise ValueError("LossMix: residual terms need the dry input (dry=None given)")
        parts: dict[str, Tensor] = {}
        # (batch, 1, time) -> (1, 1, batch*time): one whole-chunk ratio for ESR and DC.
        joined_est, joined_tgt = estimate.reshape(1, 1, -1), target.reshape(1, 1, -1)
        for name in self.weights:
            term = self.terms[name] if name in self.terms else None
            if name == "esr_pre":
                pre_est, pre_tgt = self.pre(estimate, target)  # filter per item, then join
                parts[name] = self.terms[name](pre_est.reshape(1, 1, -1), pre_tgt.reshape(1, 1, -1))
            elif name == "mrstft":
                parts[name] = self.terms[name](estimate, target)
            elif name == "residual_esr":
                assert dry is not None
                parts[name] = residual_esr(joined_est, joined_tgt, dry.reshape(1, 1, -1))
            elif name == "residual_mrstft":
                assert dry is not None
                parts[name] = self.terms[name](estimate - dry, target - dry)
            else:
                assert term is not None
                parts[name] = term(joined_est, joined_tgt)
        total = sum((self.weights[k] * v for k, v in parts.items()), torch.zeros((), device=target.device))
        return total, parts


def loss_from_config(cfg: Mapping[str, Any], sample_rate: int) -> LossMix:
    """Build the mix from ``train.loss`` (``weights`` per term, ``pre_emphasis``)."""
    weights = dict(cfg.get("weights", {}))
    unknown = sorted(set(weights) - set(LOSS_TERMS))
    if unknown:
        raise ConfigError(f"train.loss.weights: unknown term(s) {unknown}; expected some of {list(LOSS_TERMS)}")
    for name, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"train.loss.weights.{name}: expected a weight >= 0, got {value!r}")
    if not any(float(v) > 0 for v in weights.values()):
        raise ConfigError("train.loss.weights: at least one term needs a weight > 0")
    return LossMix(weights, float(cfg.get("pre_emphasis", 0.85)), sample_rate)
