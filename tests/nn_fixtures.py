"""Helpers for tests that need a checkpoint or an exported model without training one."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from conftest import SAMPLE_RATE, compose
from distortion_bench.config import plain
from distortion_bench.nn.export import export_onnx
from distortion_bench.nn.models import build_model
from distortion_bench.nn.module import EffectModule

MODELS = {
    "tcn": {"type": "tcn", "size": 4, "kernel_size": 3, "dilations": [1, 2, 4, 8, 16], "skip": True},
    "lstm": {"type": "lstm", "size": 8, "layers": 1, "skip": True, "warmup_samples": 64},
    "gru": {"type": "gru", "size": 8, "layers": 2, "skip": True, "warmup_samples": 64},
    "shaper": {"type": "shaper", "size": 4, "core": "gru", "layers": 1, "cells": 256, "warmup_samples": 64},
}


def perturbed_model(config: dict, sample_rate: int = SAMPLE_RATE) -> torch.nn.Module:
    """A model of ``config`` in eval mode with every weight moved by seeded noise (0.3 sigma): an
    untrained conditioned model ignores its knobs (FiLM and output layers start at zero)."""
    torch.manual_seed(0)
    model = build_model(config, sample_rate).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


def write_checkpoint(model_name: str, path: Path, seed: int = 0, config: dict | None = None) -> EffectModule:
    """A randomly initialised module saved in Lightning's checkpoint format (``config``: the
    model config, default ``MODELS[model_name]``)."""
    torch.manual_seed(seed)
    config = config or MODELS[model_name]
    module = EffectModule(config, plain(compose().train), SAMPLE_RATE)
    if config["type"] == "shaper" or (config["type"] == "tcn" and config.get("skip")):
        # a fresh shaper or skip TCN is the identity (its output layer starts at zero): give every weight a value
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in module.model.parameters():
                p.add_(0.2 * torch.randn(p.shape, generator=g))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": L.__version__,
        },
        path,
    )
    return module


def write_pair(root: Path, effect: str, model_name: str, config: dict | None = None) -> tuple[Path, Path]:
    """Checkpoint ``<root>/checkpoints/<effect>-<model>/best.ckpt`` and its ONNX export."""
    pair = f"{effect}-{model_name}"
    ckpt = root / "checkpoints" / pair / "best.ckpt"
    module = write_checkpoint(model_name, ckpt, config=config)
    onnx_path = root / "exported" / f"{pair}.onnx"
    export_onnx(module.model, onnx_path, SAMPLE_RATE, {"effect": effect, "model": model_name, "mlflow_run_id": "test"})
    return ckpt, onnx_path
