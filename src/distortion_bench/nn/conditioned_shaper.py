"""The shaper's knob-conditioned form (``shaper_knobs``): a table per value of a discrete knob.

Why a bank of tables, and not one table fed the knobs: the shaper exists for the bitcrusher,
whose quantizer is a staircase of ``2^bits`` steps (:mod:`~distortion_bench.nn.waveshaper`). A
word length has no value between 7 and 8 bits, and the staircases of two word lengths share
nothing a smooth function of the knob could interpolate: the 8-bit staircase's extra thresholds
sit halfway between the 7-bit ones. So each integer value of the knob gets its own
:class:`~distortion_bench.nn.waveshaper.PiecewiseLinearTable` (a convex, per-cell problem as
before, now per setting), and the knob picks one, per sample: ``bits`` 4..12 is 9 tables. The
cost per sample is the fixed shaper's (one index, two gathers, one multiply-add): the bank only
moves where the gathers read. Continuous knobs have no table of their own; every knob (the
discrete one included) conditions the recurrent core as in
:class:`~distortion_bench.nn.conditioned.ConditionedRecurrent` (input FiLM, knobs as cell inputs),
which models what has memory (a low-pass, sample-and-hold).

Each table has the fixed shaper's uniform cells, so an N-bit staircase has every threshold on a
cell edge only while ``N <= log2(cells) - 1`` (the thresholds are odd multiples of ``2^-N``, the
edges multiples of ``2 / cells``): with 4096 cells, up to 11 bits; a 12-bit table has to put a
jump inside a cell, which a piecewise-linear cell cannot.

The table is keyed by the first integer knob of the space; a space without one is refused (the
continuous families, ``lstm_knobs`` / ``tcn_knobs``, are the conditioned models for those).

Shapes: ``x``, ``y`` ``(batch, 1, time)``; ``knobs`` ``(batch, K)`` or ``(batch, K, time)`` in the
knobs' units; state: the core's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.errors import ConfigError
from distortion_bench.nn.conditioned import ConditionedRecurrent, _check_knobs, knob_space_of
from distortion_bench.nn.models import SHAPER_CORES, State, StreamingModel, _positive_int, register_family
from distortion_bench.nn.waveshaper import FULL_SCALE, MAX_CELLS

#: most tables a bank may hold (an integer knob's values)
MAX_TABLES = 64


class TableBank(nn.Module):
    """One piecewise-linear table (:class:`~distortion_bench.nn.waveshaper.PiecewiseLinearTable`)
    per integer ``0 .. tables - 1``, chosen per sample by ``which``.

    The values and slopes of all tables are stored end to end (``(tables * cells,)``), so the
    lookup is one gather at ``which * cells + cell`` (an exported graph's ``Gather`` reads them the
    same way). Every table starts as the identity.
    """

    def __init__(self, tables: int, cells: int) -> None:
        super().__init__()
        if not 1 <= tables <= MAX_TABLES or not 2 <= cells <= MAX_CELLS:
            raise ValueError(f"expected 1..{MAX_TABLES} tables of 2..{MAX_CELLS} cells, got {tables} x {cells}")
        self.tables, self.cells = int(tables), int(cells)
        self.width = 2.0 * FULL_SCALE / self.cells
        edges = -FULL_SCALE + self.width * torch.arange(self.cells, dtype=torch.float32)
        self.value = nn.Parameter(edges.repeat(self.tables))
        self.slope = nn.Parameter(torch.ones(self.tables * self.cells))
        self.register_buffer("edge", edges, persistent=False)

    def forward(self, x: Tensor, which: Tensor) -> Tensor:
        """``x`` ``(batch, 1, time)``; ``which`` ``(batch, 1, 1 or time)`` integer-valued float."""
        inside = torch.clamp(x, -FULL_SCALE, FULL_SCALE)
        cell = torch.clamp(torch.floor((inside + FULL_SCALE) / self.width), 0, self.cells - 1)
        index = (which * self.cells + cell).long()
        offset = inside - self.edge[cell.long()]
        return self.value[index] + self.slope[index] * offset + (x - inside)


class ConditionedShaper(StreamingModel):
    """``shaper_knobs``: a table bank keyed by a discrete knob, then a conditioned LSTM/GRU core
    with skip (module docstring). Arguments as :class:`~distortion_bench.nn.models.ShaperModel`'s,
    plus the knob ``space``."""

    model_type = "shaper_knobs"

    def __init__(
        self,
        space: KnobSpace,
        cells: int = 4096,
        core: str = "lstm",
        hidden: int = 8,
        layers: int = 1,
        warmup: int = 1000,
        table_lr: float = 1.0,
        film_hidden: int = 16,
    ) -> None:
        super().__init__()
        keyed = [i for i, s in enumerate(space.specs) if s.scale == "integer"]
        if not keyed:
            raise ConfigError(
                f"shaper_knobs: its tables are keyed by an integer knob; the knobs {space.names} have none "
                "(lstm_knobs / tcn_knobs follow continuous knobs)"
            )
        self.key_index = keyed[0]
        spec = space.specs[self.key_index]
        self.key_min = float(spec.minimum)
        self.table_lr = float(table_lr)
        self.bank = TableBank(int(spec.maximum - spec.minimum) + 1, cells)
        self.core = ConditionedRecurrent(core, hidden, layers, space, warmup, film_hidden)
        nn.init.zeros_(self.core.linear.weight)  # untrained: the tables' output (identity) unchanged
        nn.init.zeros_(self.core.linear.bias)
        self.scaler = self.core.scaler  # the knob space, where processors look for it

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], sample_rate: int, key: str) -> ConditionedShaper:
        """``knobs``, ``cells``, ``core``, ``size``, ``layers``, ``warmup_samples``, ``table_lr``,
        ``film_hidden``."""
        size, layers = _positive_int(cfg, "size", key), _positive_int(cfg, "layers", key)
        warmup = _positive_int(cfg, "warmup_samples", key, minimum=0)
        cells = _positive_int(cfg, "cells", key, minimum=2)
        film_hidden = _positive_int({"film_hidden": cfg.get("film_hidden", 16)}, "film_hidden", key)
        if cells > MAX_CELLS:
            raise ConfigError(f"{key}.cells: expected an integer in [2, {MAX_CELLS}], got {cells!r}")
        core = cfg.get("core")
        if core not in SHAPER_CORES:
            raise ConfigError(f"{key}.core: expected one of {list(SHAPER_CORES)}, got {core!r}")
        table_lr = cfg.get("table_lr", 1.0)
        if isinstance(table_lr, bool) or not isinstance(table_lr, (int, float)) or not 0 < table_lr <= 100:
            raise ConfigError(f"{key}.table_lr: expected a learning-rate multiplier in (0, 100], got {table_lr!r}")
        space = knob_space_of(cfg, key)
        return cls(space, cells, str(core), size, layers, warmup, float(table_lr), film_hidden)

    def state_spec(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        return self.core.state_spec(batch)

    def warmup_samples(self) -> int:
        return self.core.warmup

    def forward(self, x: Tensor, state: State, knobs: Tensor | None = None) -> tuple[Tensor, State]:
        knobs = _check_knobs(knobs, len(self.scaler.space.specs), x)
        # the keyed knob's table: its value - min, rounded (the values are whole numbers)
        raw = knobs[:, self.key_index : self.key_index + 1]  # (batch, 1) or (batch, 1, time)
        which = torch.clamp(torch.floor(raw - self.key_min + 0.5), 0, self.bank.tables - 1)
        shaped = self.bank(x, which.unsqueeze(2) if which.dim() == 2 else which)
        return self.core(shaped, state, knobs)

    def optimizer_groups(self, lr: float) -> list[dict[str, Any]]:
        """The tables learn at ``table_lr * lr`` (why:
        :meth:`~distortion_bench.nn.models.ShaperModel.optimizer_groups`)."""
        return [
            {"params": list(self.bank.parameters()), "lr": self.table_lr * lr},
            {"params": list(self.core.parameters()), "lr": lr},
        ]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "cells": self.bank.cells,
            "tables": self.bank.tables,
            "table_knob": self.scaler.space.names[self.key_index],
            "table_lr": self.table_lr,
            "core": self.core.model_type.removesuffix("_knobs"),
            "hidden_size": self.core.hidden,
            "layers": self.core.layers,
            "knobs": self.scaler.space.as_dict(),
        }


register_family("shaper_knobs")(ConditionedShaper)
