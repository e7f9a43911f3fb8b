"""LightningDataModule over the ``build_dataset`` output of one effect.

- Training: random crops of ``warmup + loss_samples`` samples from the training segments
  (memory-mapped), batched as ``(batch, 1, time)``; the crop offsets come from torch's global
  generator, so ``seed_everything`` fixes them.
- Validation and test: whole takes, reassembled from their consecutive segments, padded to the
  longest and batched together with their lengths, so metrics are computed over the whole
  signals (the models stream them with their state carried, from silence at each take's start).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from distortion_bench.data.manifest import read_manifest
from distortion_bench.errors import ConfigError, DistortionBenchError


def valid_mask(lengths: Tensor, time: int) -> Tensor:
    """``(takes, 1, time)`` mask: 1.0 on each take's first ``lengths[i]`` samples, 0.0 on padding."""
    steps = torch.arange(time, device=lengths.device)
    return (steps[None, :] < lengths[:, None]).to(torch.float32)[:, None, :]


@dataclass(frozen=True)
class WholeTakes:
    """Whole takes of one split, padded with zeros to a common length.

    Attributes:
        paths: the takes' paths in the dry corpus.
        dry: ``(takes, 1, time)`` float32; ``target``: same shape.
        lengths: ``(takes,)`` valid samples of each take.
    """

    paths: list[str]
    dry: Tensor
    target: Tensor
    lengths: Tensor

    def mask(self) -> Tensor:
        """``(takes, 1, time)`` 1.0 on valid samples, 0.0 on padding."""
        return valid_mask(self.lengths, self.dry.shape[2])

    def unpad(self, batch: Tensor | None = None) -> list[np.ndarray]:
        """Each take of ``batch`` (``(takes, 1, time)``, default ``dry``) without its padding.

        Returns one float32 ``(lengths[i],)`` array per take (copies, safe to keep).
        """
        batch = self.dry if batch is None else batch
        return [batch[i, 0, : int(n)].detach().numpy().copy() for i, n in enumerate(self.lengths)]

    def concatenated(self, batch: Tensor | None = None) -> np.ndarray:
        """The takes of ``batch`` (default ``dry``) without padding, end to end: ``(sum(lengths),)``."""
        return np.concatenate(self.unpad(batch))


class RandomCrops(Dataset):
    """One random crop of ``crop`` samples per training segment and epoch."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, crop: int) -> None:
        self.inputs, self.targets, self.crop = inputs, targets, crop

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        start = int(torch.randint(0, self.inputs.shape[1] - self.crop + 1, ()).item())
        x = np.array(self.inputs[index, start : start + self.crop], dtype=np.float32)
        y = np.array(self.targets[index, start : start + self.crop], dtype=np.float32)
        return torch.from_numpy(x)[None], torch.from_numpy(y)[None]


def load_whole_takes(dataset_dir: str | os.PathLike[str], split: str) -> WholeTakes:
    """Reassemble the takes of ``split`` from their segments (see :mod:`..data.dataset`)."""
    folder = Path(dataset_dir)
    manifest = read_manifest(folder, "build_dataset")
    inputs = np.load(folder / split / "input.npy", mmap_mode="r")
    targets = np.load(folder / split / "target.npy", mmap_mode="r")
    takes = [t for t in manifest["splits"][split]["takes"] if t["segments"] > 0]
    if not takes:
        raise DistortionBenchError(f"{folder}: split {split!r} has no takes; rebuild the dataset")
    seg = int(manifest["segment_samples"])
    lengths = [t["segments"] * seg for t in takes]
    dry = torch.zeros(len(takes), 1, max(lengths))
    target = torch.zeros_like(dry)
    for i, t in enumerate(takes):
        rows = slice(t["first_segment"], t["first_segment"] + t["segments"])
        dry[i, 0, : lengths[i]] = torch.from_numpy(np.array(inputs[rows], dtype=np.float32).reshape(-1))
        target[i, 0, : lengths[i]] = torch.from_numpy(np.array(targets[rows], dtype=np.float32).reshape(-1))
    return WholeTakes([t["path"] for t in takes], dry, target, torch.tensor(lengths))


class EffectDataModule(L.LightningDataModule):
    """Data of one effect's dataset folder.

    Args:
        dataset_dir: ``data/datasets/<effect>``.
        batch_size: training crops per batch.
        crop_samples: samples per training crop (warm-up included).
    """

    def __init__(self, dataset_dir: str | os.PathLike[str], batch_size: int, crop_samples: int) -> None:
        super().__init__()
        self.dataset_dir = Path(dataset_dir)
        self.batch_size = int(batch_size)
        self.crop_samples = int(crop_samples)
        self.manifest: dict[str, Any] = read_manifest(self.dataset_dir, "build_dataset")
        self.segment_samples = int(self.manifest["segment_samples"])
        self.sample_rate = int(self.manifest["sample_rate"])
        if self.crop_samples > self.segment_samples:
            raise ConfigError(
                f"train: a training crop needs {self.crop_samples} samples (warm-up + train.loss_samples) "
                f"but the dataset's segments ({self.dataset_dir}) have {self.segment_samples}; "
                "shorten train.loss_samples or the model's warm-up, or raise data.segment_seconds"
            )
        for split in ("train", "val", "test"):
            if self.manifest["splits"][split]["segments"] == 0:
                raise DistortionBenchError(f"{self.dataset_dir}: split {split!r} is empty; rebuild the dataset")
        self._val: WholeTakes | None = None

    def train_dataloader(self) -> DataLoader:
        inputs = np.load(self.dataset_dir / "train" / "input.npy", mmap_mode="r")
        targets = np.load(self.dataset_dir / "train" / "target.npy", mmap_mode="r")
        return DataLoader(
            RandomCrops(inputs, targets, self.crop_samples), batch_size=self.batch_size, shuffle=True, num_workers=0
        )

    def val_dataloader(self) -> DataLoader:
        if self._val is None:
            self._val = load_whole_takes(self.dataset_dir, "val")
        v = self._val
        return DataLoader([(v.dry, v.target, v.lengths)], batch_size=None)
