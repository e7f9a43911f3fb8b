"""The data of a knob-conditioned model: the ``build_knob_dataset`` output of one effect.

- Training: random crops of ``warmup + loss_samples`` samples of every row, with the row's knobs
  per sample: ``x``, ``y`` ``(batch, 1, time)`` and ``knobs`` ``(batch, K, time)`` in the knobs'
  units (constant along time for a row at one setting, the stored trajectory for an automation
  row), so a conditioned model learns to follow a knob that moves as well as one that is set.
- Validation and test: whole rows (one segment each, from silence) with their setting ``(rows,
  K)``, as a plugin gets it: one setting per call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from distortion_bench.data.manifest import MANIFEST_NAME, read_manifest
from distortion_bench.errors import ConfigError, DistortionBenchError


def read_knob_manifest(folder: Path) -> dict[str, Any]:
    """``manifest.json`` of a knob dataset, or an error that names the stage to run."""
    manifest = read_manifest(folder, "build_knob_dataset", required="splits")
    if not manifest.get("knobs"):
        path = folder / MANIFEST_NAME
        raise DistortionBenchError(f"{path}: the effect has no knobs (effects.<name>.knobs); nothing to condition on")
    return manifest


class KnobCrops(Dataset):
    """One random crop per row and epoch, with the row's knobs per sample ``(K, crop)``."""

    def __init__(self, folder: Path, crop: int) -> None:
        self.inputs = np.load(folder / "input.npy", mmap_mode="r")
        self.targets = np.load(folder / "target.npy", mmap_mode="r")
        self.knobs = np.load(folder / "knobs.npy")
        self.automation = np.load(folder / "automation.npy", mmap_mode="r")
        rows = np.load(folder / "automation_rows.npy")
        self.trajectory = {int(r): i for i, r in enumerate(rows)}
        self.crop = crop

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        start = int(torch.randint(0, self.inputs.shape[1] - self.crop + 1, ()).item())
        stop = start + self.crop
        x = np.array(self.inputs[index, start:stop], dtype=np.float32)
        y = np.array(self.targets[index, start:stop], dtype=np.float32)
        if index in self.trajectory:
            k = np.array(self.automation[self.trajectory[index], :, start:stop], dtype=np.float32)
        else:
            k = np.repeat(self.knobs[index][:, None], self.crop, axis=1).astype(np.float32)
        return torch.from_numpy(x)[None], torch.from_numpy(y)[None], torch.from_numpy(k)


def load_rows(folder: Path, split: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(dry (rows, 1, T), target (rows, 1, T), knobs (rows, K))`` of a validation or test split."""
    dry = torch.from_numpy(np.load(folder / split / "input.npy").astype(np.float32))[:, None]
    target = torch.from_numpy(np.load(folder / split / "target.npy").astype(np.float32))[:, None]
    knobs = torch.from_numpy(np.load(folder / split / "knobs.npy").astype(np.float32))
    return dry, target, knobs


class KnobDataModule(L.LightningDataModule):
    """Data of one effect's knob dataset folder (``data/knob_datasets/<effect>``).

    Args:
        dataset_dir: the folder.
        batch_size: training crops per batch.
        crop_samples: samples per training crop (warm-up included).
    """

    def __init__(self, dataset_dir: str | os.PathLike[str], batch_size: int, crop_samples: int) -> None:
        super().__init__()
        self.dataset_dir = Path(dataset_dir)
        self.batch_size, self.crop_samples = int(batch_size), int(crop_samples)
        self.manifest = read_knob_manifest(self.dataset_dir)
        self.segment_samples = int(self.manifest["segment_samples"])
        self.sample_rate = int(self.manifest["sample_rate"])
        if self.crop_samples > self.segment_samples:
            raise ConfigError(
                f"train: a training crop needs {self.crop_samples} samples (warm-up + train.loss_samples) but the "
                f"knob dataset's rows ({self.dataset_dir}) have {self.segment_samples}"
            )
        self._val: tuple[Tensor, Tensor, Tensor] | None = None

    @property
    def knob_space(self) -> dict[str, dict[str, Any]]:
        """The effect's knob space as the dataset states it, in the order of its knob columns (what
        the model is built with)."""
        return {name: self.manifest["knobs"][name] for name in self.manifest["knob_names"]}

    def train_dataloader(self) -> DataLoader:
        crops = KnobCrops(self.dataset_dir / "train", self.crop_samples)
        return DataLoader(crops, batch_size=self.batch_size, shuffle=True, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        if self._val is None:
            self._val = load_rows(self.dataset_dir, "val")
        return DataLoader([self._val], batch_size=None)
