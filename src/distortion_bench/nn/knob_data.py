"""The data of a knob-conditioned model: the ``build_knob_dataset`` output of one effect.

- Training: random crops of ``warmup + loss_samples`` samples of every row, with the row's knobs
  per sample: ``x``, ``y`` ``(batch, 1, time)`` and ``knobs`` ``(batch, K, time)`` in the knobs'
  units (constant along time for a row at one setting, the stored trajectory for an automation
  row), so a conditioned model learns to follow a knob that moves as well as one that is set.
- Validation and test: whole rows (one segment each, from silence) with their setting ``(rows,
  K)``, as a plugin gets it: one setting per call.

**A residual loss weighs every setting alike.** The loss is an ESR over the whole batch (items
joined, so a near-silent crop cannot dominate: :mod:`~distortion_bench.nn.losses`), and a batch
mixes settings whose residuals differ in level by far more than their errors do: a bitcrusher's
residual at 10 bits has about 1/256 the power of the 6-bit one's, so joined, the high word
lengths counted for almost nothing. For a family trained on the residual (the shaper), each row
comes with a scale, the inverse of its setting's residual level relative to the input
(:func:`setting_scales`), and the module scales estimate, target and input of the row by it
before the loss: the joined residual ESR then weighs every word length alike and still ignores
one silent crop (measured, 3 seeds each: residual ESR at 8 / 10 / 12 bits 0.015 / 0.14 / 3.2
unweighted, 0.0082 / 0.13 / 1.9 weighted). Validation is weighted the same way.

An ESR loss is left unweighted (scale 1): the tube's target at 2.4 dB gain has 1/29 the power of
the same takes at 21.6 dB, and weighting by the target's level was measured too: the conditioned
LSTM's worst grid setting went from 18 % to 5.9 % ESR but its grid median from 1.6 % to 3.3 %,
and the TCN's median from 1.5 % to 2.3 % with its worst (17 %, at 2.4 dB) unchanged; the low-gain
error is not a matter of weighting.
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


#: the quantities a row's loss scale can equalise (module docstring); ``off``: every scale 1
BALANCED = ("target", "residual", "off")
#: floor of a setting's mean power (-100 dB), so an all-silent setting gets a finite scale
POWER_FLOOR = 1e-10


def balance_of(loss_weights: dict[str, float]) -> str:
    """``residual`` for a loss of residual terms only (rows weighted by their setting's residual
    level), ``off`` otherwise (module docstring: weighting an ESR loss was measured and not kept)."""
    residual = sum(float(loss_weights.get(k, 0.0)) for k in ("residual_esr", "residual_mrstft"))
    plain = sum(float(loss_weights.get(k, 0.0)) for k in ("esr", "esr_pre", "mrstft"))
    return "residual" if residual > 0 and plain == 0 else "off"


def setting_scales(folder: Path, quantity: str) -> np.ndarray:
    """``(rows,)`` float32: per row, ``1 / g`` of the row's setting, normalised to mean 1 (all 1
    for ``off``).

    ``g`` is the setting's level: over the rows at that setting (``knobs.npy``: an automation
    row's first), the median of ``rms(quantity) / rms(input)`` (``quantity``: ``target`` or
    ``residual``, ``target - input``). A ratio to each row's own input, and a median, because a
    setting holds a few rows of whatever material was dealt to it: a setting that got only quiet
    segments would otherwise look quiet itself, and its rows would weigh 100x more than the rest.
    """
    if quantity not in BALANCED:
        raise ValueError(f"quantity: expected one of {BALANCED}, got {quantity!r}")
    knobs = np.load(folder / "knobs.npy")
    if quantity == "off":
        return np.ones(knobs.shape[0], np.float32)
    targets = np.load(folder / "target.npy", mmap_mode="r")
    inputs = np.load(folder / "input.npy", mmap_mode="r")
    ratio = np.empty(targets.shape[0])
    for r in range(targets.shape[0]):
        x = np.asarray(inputs[r], np.float64)
        v = np.asarray(targets[r], np.float64)
        if quantity == "residual":
            v = v - x
        ratio[r] = np.sqrt(max(float(np.mean(v * v)), POWER_FLOOR) / max(float(np.mean(x * x)), POWER_FLOOR))
    _, group = np.unique(knobs, axis=0, return_inverse=True)
    group = group.reshape(-1)
    level = np.array([np.median(ratio[group == g]) for g in range(int(group.max()) + 1)])
    scale = 1.0 / level[group]
    return (scale / scale.mean()).astype(np.float32)


class KnobCrops(Dataset):
    """One random crop per row and epoch, with the row's knobs per sample ``(K, crop)`` and its
    loss scale ``(1, 1)`` (:func:`setting_scales`)."""

    def __init__(self, folder: Path, crop: int, balance: str = "off") -> None:
        self.inputs = np.load(folder / "input.npy", mmap_mode="r")
        self.targets = np.load(folder / "target.npy", mmap_mode="r")
        self.knobs = np.load(folder / "knobs.npy")
        self.automation = np.load(folder / "automation.npy", mmap_mode="r")
        rows = np.load(folder / "automation_rows.npy")
        self.trajectory = {int(r): i for i, r in enumerate(rows)}
        self.crop = crop
        self.scales = torch.from_numpy(setting_scales(folder, balance))

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        start = int(torch.randint(0, self.inputs.shape[1] - self.crop + 1, ()).item())
        stop = start + self.crop
        x = np.array(self.inputs[index, start:stop], dtype=np.float32)
        y = np.array(self.targets[index, start:stop], dtype=np.float32)
        if index in self.trajectory:
            k = np.array(self.automation[self.trajectory[index], :, start:stop], dtype=np.float32)
        else:
            k = np.repeat(self.knobs[index][:, None], self.crop, axis=1).astype(np.float32)
        return torch.from_numpy(x)[None], torch.from_numpy(y)[None], torch.from_numpy(k), self.scales[index].view(1, 1)


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
        balance: what each row's loss scale equalises across settings (``residual``, ``target``,
            or ``off``: :func:`balance_of` the loss).
    """

    def __init__(
        self, dataset_dir: str | os.PathLike[str], batch_size: int, crop_samples: int, balance: str = "off"
    ) -> None:
        super().__init__()
        self.dataset_dir = Path(dataset_dir)
        self.balance = balance
        self.batch_size, self.crop_samples = int(batch_size), int(crop_samples)
        self.manifest = read_knob_manifest(self.dataset_dir)
        self.segment_samples = int(self.manifest["segment_samples"])
        self.sample_rate = int(self.manifest["sample_rate"])
        if self.crop_samples > self.segment_samples:
            raise ConfigError(
                f"train: a training crop needs {self.crop_samples} samples (warm-up + train.loss_samples) but the "
                f"knob dataset's rows ({self.dataset_dir}) have {self.segment_samples}"
            )
        self._val: tuple[Tensor, Tensor, Tensor, Tensor] | None = None

    @property
    def knob_space(self) -> dict[str, dict[str, Any]]:
        """The effect's knob space as the dataset states it, in the order of its knob columns (what
        the model is built with)."""
        return {name: self.manifest["knobs"][name] for name in self.manifest["knob_names"]}

    def train_dataloader(self) -> DataLoader:
        crops = KnobCrops(self.dataset_dir / "train", self.crop_samples, self.balance)
        return DataLoader(crops, batch_size=self.batch_size, shuffle=True, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        if self._val is None:
            scales = torch.from_numpy(setting_scales(self.dataset_dir / "val", self.balance)).view(-1, 1, 1)
            self._val = (*load_rows(self.dataset_dir, "val"), scales)
        return DataLoader([self._val], batch_size=None)
