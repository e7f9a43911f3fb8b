"""Whole-signal evaluation of a model on a split's takes (metrics: :mod:`..analysis.metrics`)."""

from __future__ import annotations

from typing import Any

import torch

from distortion_bench.analysis.metrics import quality_by_category
from distortion_bench.nn.data import WholeTakes
from distortion_bench.nn.models import StreamingModel
from distortion_bench.nn.module import predict_whole


def evaluate(model: StreamingModel, takes: WholeTakes, sample_rate: int) -> tuple[dict[str, Any], torch.Tensor]:
    """Stream every take through ``model`` and score the concatenation of all takes.

    Returns ``(metrics, estimate)``: metrics ``esr``, ``esr_pre``, ``residual_esr`` (ratios, or
    None where undefined), ``mrstft`` (auraloss multi-resolution STFT distance), ``takes``, ``seconds`` of audio,
    and ``by_category``: the same per kind of material (see
    :func:`~distortion_bench.analysis.metrics.quality_by_category`); ``estimate`` has the shape
    of ``takes.dry``.
    """
    model.eval()
    estimate = predict_whole(model, takes.dry)
    by_category = quality_by_category(
        takes.paths, takes.unpad(takes.dry), takes.unpad(takes.target), takes.unpad(estimate), sample_rate
    )
    pooled = by_category.pop("pooled")
    metrics = {**pooled, "by_category": by_category}
    return metrics, estimate
