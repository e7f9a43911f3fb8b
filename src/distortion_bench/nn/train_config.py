"""The ``train`` config of one pair: the model's overrides merged, checked, and its seeds.

Budgets are counted in epochs, never in wall-clock time, so every machine trains the same
models; ``stopped_by`` says when an optional wall-clock cap made a result machine-dependent.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from distortion_bench.config import plain
from distortion_bench.errors import ConfigError

#: train keys that do not change what one seed learns: an interrupted run differing only in these resumes.
RESUMABLE_KEYS = ("max_minutes", "examples", "threads", "accelerator", "seeds", "parallel")


def stopped_by(epochs_done: int, max_epochs: int, max_minutes: float | None) -> str:
    """Why a training ended: ``max_epochs`` (the budget), ``max_time`` or ``interrupted``.

    ``max_time`` (the optional wall-clock safety fired) makes the result machine-dependent.
    """
    if epochs_done >= max_epochs:
        return "max_epochs"
    return "max_time" if max_minutes is not None else "interrupted"


def seed_values(cfg: DictConfig, train_cfg: dict[str, Any]) -> list[int]:
    """The seeds a pair trains from: ``seed``, ``seed + 1``, ... (``train.seeds`` of them)."""
    count = train_cfg.get("seeds", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"train.seeds: expected how many seeds to train (an integer >= 1), got {count!r}")
    return [int(cfg.seed) + i for i in range(count)]


def pair_train_config(cfg: DictConfig, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """``train`` for one model: the model config's optional ``train`` mapping overrides its keys
    (a family that needs another loss or budget says so in its own config, e.g. the shaper's
    residual loss; the other pairs keep ``train``). Unknown keys are refused."""
    train_cfg = plain(cfg.train)
    overrides = model_cfg.get("train")
    if overrides is None:
        return train_cfg
    if not isinstance(overrides, dict):
        raise ConfigError(f"models.<model>.train: expected a mapping of train keys, got {overrides!r}")
    unknown = sorted(set(overrides) - set(train_cfg))
    if unknown:
        raise ConfigError(
            f"models.<model>.train: unknown key(s) {unknown}; expected keys of train: {sorted(train_cfg)}"
        )
    merged = OmegaConf.merge(OmegaConf.create(train_cfg), OmegaConf.create(overrides))
    out = OmegaConf.to_container(merged, resolve=True)
    assert isinstance(out, dict)
    return out


def check_train_config(train_cfg: dict[str, Any]) -> None:
    for name in ("loss_samples", "tbptt_samples", "batch_size", "max_epochs", "examples", "parallel"):
        value = train_cfg.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "examples" else 1):
            raise ConfigError(f"train.{name}: expected a positive integer, got {value!r}")
    cap = train_cfg.get("max_minutes")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0):
        raise ConfigError(
            f"train.max_minutes: expected null (no wall-clock cap) or a positive number of minutes, got {cap!r}"
        )
    decay = train_cfg.get("ema_decay")
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1):
        raise ConfigError(f"train.ema_decay: expected a number in [0, 1) or null (no averaging), got {decay!r}")
    warmup = train_cfg.get("warmup_epochs", 0)
    if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or warmup < 0:
        raise ConfigError(f"train.warmup_epochs: expected a number of epochs >= 0, got {warmup!r}")
    final = train_cfg.get("lr_final_fraction", 1.0)
    if isinstance(final, bool) or not isinstance(final, (int, float)) or not 0 <= final <= 1:
        raise ConfigError(f"train.lr_final_fraction: expected a fraction of the peak rate in [0, 1], got {final!r}")
