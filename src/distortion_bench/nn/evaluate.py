"""Whole-signal evaluation of a model on a split's takes (DESIGN section 5 metrics)."""

from __future__ import annotations

from typing import Any

import auraloss
import numpy as np
import torch

from distortion_bench.analysis.metrics import esr, esr_pre_emphasis, residual_esr
from distortion_bench.nn.data import WholeTakes
from distortion_bench.nn.models import StreamingModel
from distortion_bench.nn.module import predict_whole


def _concat(batch: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
    return np.concatenate([batch[i, 0, :int(n)].numpy() for i, n in enumerate(lengths)])


def evaluate(model: StreamingModel, takes: WholeTakes, sample_rate: int
             ) -> tuple[dict[str, Any], torch.Tensor]:
    """Stream every take through ``model`` and score the concatenation of all takes.

    Returns ``(metrics, estimate)``: metrics ``esr``, ``esr_pre``, ``residual_esr`` (ratios, or
    None where undefined), ``mrstft`` (auraloss multi-resolution STFT distance), ``takes``, ``seconds`` of audio;
    ``estimate`` has the shape of ``takes.dry``.
    """
    model.eval()
    estimate = predict_whole(model, takes.dry)
    dry, target, est = (_concat(t, takes.lengths) for t in (takes.dry, takes.target, estimate))
    mrstft = auraloss.freq.MultiResolutionSTFTLoss()(
        torch.from_numpy(est)[None, None], torch.from_numpy(target)[None, None])
    metrics = {
        "esr": esr(target, est),
        "esr_pre": esr_pre_emphasis(target, est),
        "residual_esr": residual_esr(dry, target, est),
        "mrstft": float(mrstft),
        "takes": len(takes.paths),
        "seconds": round(dry.size / sample_rate, 3),
    }
    return metrics, estimate
