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
other and in how gradient clipping bites. The ablation (docs/neural-bitcrusher.md) measures
what that buys.

The time-domain terms (ESR, DC) are taken over the whole batch chunk at once (items joined
end to end), not per item and averaged as auraloss does by default: a crop that falls in a
silent stretch (takes end in silence) has a near-zero denominator and would dominate the
loss by orders of magnitude. Joined, the loss is the whole-signal ESR the reports use.
auraloss's ESR also adds 1e-8 to the denominator; reported metrics therefore come from
:mod:`distortion_bench.analysis.metrics`, with the project's exact definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import auraloss
import torch
from torch import Tensor, nn

from distortion_bench.errors import ConfigError

#: floor of the residual ESR's denominator, per sample (a residual power of -100 dB)
RESIDUAL_FLOOR = 1e-10


def residual_esr(estimate: Tensor, target: Tensor, dry: Tensor) -> Tensor:
    """ESR of the residuals ``estimate - dry`` vs ``target - dry`` over the whole chunk (a scalar).

    Shapes: any, all equal (``(batch, 1, time)`` in training). Identity (``estimate == dry``)
    gives ``sum(r^2) / (sum(r^2) + floor)`` ~ 1; ``estimate == target`` gives 0.
    """
    residual = target - dry
    denominator = (residual**2).sum() + RESIDUAL_FLOOR * residual.numel()
    return ((estimate - target) ** 2).sum() / denominator


class LossTerm(nn.Module):
    """One loss term on ``(batch, 1, time)`` tensors, auraloss-style: ``forward`` returns a scalar.

    ``needs_dry``: whether it is taken on residuals (it then needs the dry input).
    """

    needs_dry = False

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None) -> Tensor:
        raise NotImplementedError


def _joined(t: Tensor) -> Tensor:
    """``(batch, 1, time) -> (1, 1, batch * time)``: one whole-chunk ratio (module docstring)."""
    return t.reshape(1, 1, -1)


class JoinedESR(LossTerm):
    """auraloss's ESR over the whole chunk, items joined end to end."""

    def __init__(self) -> None:
        super().__init__()
        self.esr = auraloss.time.ESRLoss()

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None) -> Tensor:
        return self.esr(_joined(estimate), _joined(target))


class PreEmphasisESR(LossTerm):
    """ESR after auraloss's first-order high-pass pre-emphasis (filtered per item, then joined)."""

    def __init__(self, coefficient: float, sample_rate: int) -> None:
        super().__init__()
        self.pre = auraloss.perceptual.FIRFilter(filter_type="hp", coef=coefficient, fs=sample_rate)
        self.pre.requires_grad_(False)
        self.esr = auraloss.time.ESRLoss()

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None) -> Tensor:
        pre_est, pre_tgt = self.pre(estimate, target)
        return self.esr(_joined(pre_est), _joined(pre_tgt))


class JoinedDC(LossTerm):
    """auraloss's DC loss over the whole chunk, items joined end to end."""

    def __init__(self) -> None:
        super().__init__()
        self.dc = auraloss.time.DCLoss()

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None) -> Tensor:
        return self.dc(_joined(estimate), _joined(target))


def _mrstft() -> auraloss.freq.MultiResolutionSTFTLoss:
    return auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=[256, 1024, 2048], hop_sizes=[64, 256, 512], win_lengths=[256, 1024, 2048]
    )


class MRSTFT(LossTerm):
    """auraloss's multi-resolution STFT loss (FFT sizes 256, 1024, 2048), per item."""

    def __init__(self) -> None:
        super().__init__()
        self.mrstft = _mrstft()

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None) -> Tensor:
        return self.mrstft(estimate, target)


class ResidualESR(LossTerm):
    """:func:`residual_esr` over the whole chunk."""

    needs_dry = True

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None) -> Tensor:
        assert dry is not None
        return residual_esr(_joined(estimate), _joined(target), _joined(dry))


class ResidualMRSTFT(LossTerm):
    """The MR-STFT loss of the residuals ``estimate - dry`` against ``target - dry``."""

    needs_dry = True

    def __init__(self) -> None:
        super().__init__()
        self.mrstft = _mrstft()

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None) -> Tensor:
        assert dry is not None
        return self.mrstft(estimate - dry, target - dry)


#: every term by its config name: a builder from ``(pre_emphasis, sample_rate)``
TERMS: dict[str, Callable[[float, int], LossTerm]] = {
    "esr": lambda pre, sr: JoinedESR(),
    "esr_pre": lambda pre, sr: PreEmphasisESR(pre, sr),
    "dc": lambda pre, sr: JoinedDC(),
    "mrstft": lambda pre, sr: MRSTFT(),
    "residual_esr": lambda pre, sr: ResidualESR(),
    "residual_mrstft": lambda pre, sr: ResidualMRSTFT(),
}
LOSS_TERMS = tuple(TERMS)


class LossMix(nn.Module):
    """Weighted sum of :class:`LossTerm` s on ``(batch, 1, time)`` tensors."""

    def __init__(self, weights: Mapping[str, float], pre_emphasis: float = 0.85, sample_rate: int = 48000) -> None:
        super().__init__()
        self.weights = {k: float(v) for k, v in weights.items() if float(v) != 0.0}
        self.terms = nn.ModuleDict({name: TERMS[name](pre_emphasis, sample_rate) for name in self.weights})

    @property
    def needs_dry(self) -> bool:
        """Whether a term is taken on residuals (``forward`` then needs ``dry``)."""
        return any(term.needs_dry for term in self.terms.values())

    def forward(self, estimate: Tensor, target: Tensor, dry: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Return ``(total, {term: value})``; ``dry`` (the input, same shape) for residual terms."""
        if dry is None and self.needs_dry:
            raise ValueError("LossMix: residual terms need the dry input (dry=None given)")
        parts = {name: term(estimate, target, dry) for name, term in self.terms.items()}
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
