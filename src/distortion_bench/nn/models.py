"""Causal, streamable models: every one is ``forward(x, state) -> (y, state)``.

- ``x`` and ``y``: float32 tensors of shape ``(batch, 1, time)``.
- ``state``: a tuple of tensors (names and shapes from :meth:`state_spec`); zeros, from
  :meth:`initial_state`, are the state after silence. Running a signal in chunks of any sizes
  with the state carried equals running it whole (up to float rounding).

The tuple-of-tensors state maps one-to-one onto explicit graph inputs/outputs in ONNX.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from distortion_bench.errors import ConfigError
from distortion_bench.nn.waveshaper import MAX_CELLS, PiecewiseLinearTable

State = tuple[Tensor, ...]
SHAPER_CORES = ("gru", "lstm")


class StreamingModel(nn.Module):
    """Base class: the streaming interface and facts for reports."""

    model_type: str

    def initial_state(self, batch: int = 1) -> State:
        """Zeros of the shapes in :meth:`state_spec` (the state after silence)."""
        param = next(self.parameters())
        return tuple(torch.zeros(shape, dtype=param.dtype, device=param.device) for _, shape in self.state_spec(batch))

    def state_spec(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        """``[(name, shape), ...]`` of the state tensors for a batch size."""
        raise NotImplementedError

    def warmup_samples(self) -> int:
        """Samples to run before a loss is taken, so that the state reflects real input."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def optimizer_groups(self, lr: float) -> list[dict[str, Any]]:
        """Parameter groups for the optimizer at learning rate ``lr`` (one group by default)."""
        return [{"params": list(self.parameters()), "lr": lr}]

    def describe(self) -> dict[str, Any]:
        """Facts for reports (JSON-serializable)."""
        return {"model_type": self.model_type, "params": self.num_parameters()}


class GatedResidualBlock(nn.Module):
    """WaveNet-style block: dilated causal conv -> tanh * sigmoid gate -> 1x1 mix + residual.

    Its streaming state is the last ``(kernel_size - 1) * dilation`` input samples (all
    channels), so a buffer of N samples costs N output positions of work, whatever the
    receptive field.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.context = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(channels, 2 * channels, kernel_size, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x``: ``(batch, channels, time)``; ``cache``: ``(batch, channels, context)``.

        Returns ``(residual_out, gated, new_cache)``; ``gated`` feeds the skip sum.
        """
        full = torch.cat([cache, x], dim=2)
        a, b = self.conv(full).chunk(2, dim=1)
        gated = torch.tanh(a) * torch.sigmoid(b)
        return x + self.mix(gated), gated, full[:, :, full.shape[2] - self.context :]


class StreamingTCN(StreamingModel):
    """Dilated causal TCN (Damskagg et al. 2019, "Deep learning for tube amplifier emulation").

    1x1 input conv -> gated residual blocks (one per dilation) -> sum of the blocks' gated
    outputs -> 1x1 output conv, plus the input when ``skip``. Receptive field
    ``1 + (kernel_size - 1) * sum(dilations)``.

    With the skip the output conv starts at zero, so an untrained model is the identity and the
    network learns only what the effect adds, as the recurrent models do. Without it every seed
    first has to learn to pass the signal through its gates; how well that went varied with the
    initialisation (test ESR 2.5x apart over three seeds of the same tube model).

    Args:
        channels: width of every block (the model's size knob).
        kernel_size: taps of each dilated conv (>= 2).
        dilations: one block per entry, e.g. ``[1, 2, 4, ..., 64]``.
        sample_rate: in Hz, for the receptive field in ms.
        skip: add the input to the output (and start the output conv at zero).
    """

    model_type = "tcn"

    def __init__(
        self,
        channels: int = 16,
        kernel_size: int = 3,
        dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
        sample_rate: int = 48000,
        skip: bool = True,
    ) -> None:
        super().__init__()
        self.skip = bool(skip)
        self.channels = int(channels)
        self.kernel_size = int(kernel_size)
        self.dilations = [int(d) for d in dilations]
        self.sample_rate = int(sample_rate)
        self.input = nn.Conv1d(1, self.channels, 1)
        self.blocks = nn.ModuleList(GatedResidualBlock(self.channels, self.kernel_size, d) for d in self.dilations)
        self.output = nn.Conv1d(self.channels, 1, 1)
        if self.skip:
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], sample_rate: int, key: str) -> StreamingTCN:
        """``size`` (channels), ``kernel_size``, ``dilations``, ``skip`` (absent in configs written
        before the skip existed: those models had none, so absent means false)."""
        size = _positive_int(cfg, "size", key)
        kernel = _positive_int(cfg, "kernel_size", key, minimum=2)
        dilations = cfg.get("dilations")
        if (
            not isinstance(dilations, Sequence)
            or isinstance(dilations, str)
            or not dilations
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dilations)
        ):
            raise ConfigError(f"{key}.dilations: expected a non-empty list of integers >= 1, got {dilations!r}")
        return cls(size, kernel, list(dilations), sample_rate, _flag(cfg, "skip", key, False))

    @property
    def receptive_field(self) -> int:
        """Samples of input that one output sample depends on (itself included)."""
        return 1 + sum(block.context for block in self.blocks)

    def state_spec(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        return [(f"cache{i}", (batch, self.channels, block.context)) for i, block in enumerate(self.blocks)]

    def warmup_samples(self) -> int:
        return self.receptive_field - 1

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h = self.input(x)
        skip = torch.zeros_like(h)
        new_state = []
        for block, cache in zip(self.blocks, state):
            h, gated, new_cache = block(h, cache)
            skip = skip + gated
            new_state.append(new_cache)
        y = self.output(skip)
        return (y + x if self.skip else y), tuple(new_state)

    def num_parameters(self) -> int:
        """Parameters the output depends on: the last block's residual mix feeds nothing (only
        its gated output reaches the skip sum), so it is neither counted nor exported."""
        unused = sum(p.numel() for p in self.blocks[-1].mix.parameters())
        return super().num_parameters() - unused

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "channels": self.channels,
            "kernel_size": self.kernel_size,
            "dilations": self.dilations,
            "skip": self.skip,
            "receptive_field_samples": self.receptive_field,
            "receptive_field_ms": round(1000.0 * self.receptive_field / self.sample_rate, 3),
        }


class RecurrentModel(StreamingModel):
    """LSTM or GRU -> linear output, plus the input added to the output when ``skip``.

    With the skip the network learns only the difference the effect makes (Wright et al.
    2019, "Real-time guitar amplifier emulation with deep learning").

    State: LSTM ``(h, c)``, GRU ``(h,)``, each ``(layers, batch, hidden)``.
    """

    def __init__(
        self, cell: str = "lstm", hidden: int = 32, layers: int = 1, skip: bool = True, warmup: int = 1000
    ) -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        self.model_type = cell
        self.hidden = int(hidden)
        self.layers = int(layers)
        self.skip = bool(skip)
        self.warmup = int(warmup)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(1, self.hidden, self.layers, batch_first=True)
        self.linear = nn.Linear(self.hidden, 1)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], sample_rate: int, key: str) -> RecurrentModel:
        """``type`` (the cell), ``size`` (hidden units), ``layers``, ``skip``, ``warmup_samples``."""
        size, layers = _positive_int(cfg, "size", key), _positive_int(cfg, "layers", key)
        warmup = _positive_int(cfg, "warmup_samples", key, minimum=0)
        return cls(str(cfg["type"]), size, layers, _flag(cfg, "skip", key, True), warmup)

    def state_spec(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        shape = (self.layers, batch, self.hidden)
        return [("h", shape), ("c", shape)] if self.model_type == "lstm" else [("h", shape)]

    def warmup_samples(self) -> int:
        return self.warmup

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        seq = x.transpose(1, 2)  # (batch, time, 1)
        if self.model_type == "lstm":
            out, (h, c) = self.rnn(seq, (state[0], state[1]))
            new_state: State = (h, c)
        else:
            out, h = self.rnn(seq, state[0])
            new_state = (h,)
        y = self.linear(out).transpose(1, 2)
        return (y + x if self.skip else y), new_state

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "hidden_size": self.hidden, "layers": self.layers, "skip": self.skip}


class ShaperModel(StreamingModel):
    """A learned waveshaper table, then a small recurrent network (Hammerstein structure).

    ``x -> PiecewiseLinearTable(cells) -> LSTM/GRU with skip -> y``. The table holds what is
    memoryless (a quantizer's staircase, a saturator's curve; see
    :mod:`distortion_bench.nn.waveshaper` for why a table and not smooth or periodic units),
    the recurrent core what has memory (a low-pass, sample-and-hold). The core's output layer
    starts at zero, so an untrained model is the identity and training starts from the table.

    Shapes: ``x``, ``y`` ``(batch, 1, time)``; state: the core's, ``(layers, batch, hidden)`` each.

    Args:
        cells: table cells over ``[-1, 1]`` (resolution ``2 / cells`` of full scale).
        core: ``"gru"`` or ``"lstm"``.
        hidden: the core's hidden units (the size knob).
        layers: the core's layers.
        warmup: samples run before the loss is taken.
    """

    model_type = "shaper"

    def __init__(
        self,
        cells: int = 4096,
        core: str = "gru",
        hidden: int = 8,
        layers: int = 1,
        warmup: int = 1000,
        table_lr: float = 1.0,
    ) -> None:
        super().__init__()
        self.table_lr = float(table_lr)
        self.table = PiecewiseLinearTable(cells)
        self.core = RecurrentModel(core, hidden, layers, True, warmup)
        nn.init.zeros_(self.core.linear.weight)
        nn.init.zeros_(self.core.linear.bias)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], sample_rate: int, key: str) -> ShaperModel:
        """``cells``, ``core``, ``size`` (the core's hidden units), ``layers``, ``warmup_samples``,
        ``table_lr``."""
        size, layers = _positive_int(cfg, "size", key), _positive_int(cfg, "layers", key)
        warmup = _positive_int(cfg, "warmup_samples", key, minimum=0)
        cells = _positive_int(cfg, "cells", key, minimum=2)
        if cells > MAX_CELLS:
            raise ConfigError(f"{key}.cells: expected an integer in [2, {MAX_CELLS}], got {cells!r}")
        core = cfg.get("core")
        if core not in SHAPER_CORES:
            raise ConfigError(f"{key}.core: expected one of {list(SHAPER_CORES)}, got {core!r}")
        table_lr = cfg.get("table_lr", 1.0)
        if isinstance(table_lr, bool) or not isinstance(table_lr, (int, float)) or not 0 < table_lr <= 100:
            raise ConfigError(f"{key}.table_lr: expected a learning-rate multiplier in (0, 100], got {table_lr!r}")
        return cls(cells, core, size, layers, warmup, float(table_lr))

    def state_spec(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        return self.core.state_spec(batch)

    def warmup_samples(self) -> int:
        return self.core.warmup

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.core(self.table(x), state)

    def optimizer_groups(self, lr: float) -> list[dict[str, Any]]:
        """The table learns at ``table_lr * lr``: Adam moves every parameter by about ``lr`` per
        step whatever its gradient, and a table value is an output level itself (an 8-bit
        step is 0.0078 of full scale), where the core's weights are not."""
        return [
            {"params": list(self.table.parameters()), "lr": self.table_lr * lr},
            {"params": list(self.core.parameters()), "lr": lr},
        ]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "cells": self.table.cells,
            "table_lr": self.table_lr,
            "core": self.core.model_type,
            "hidden_size": self.core.hidden,
            "layers": self.core.layers,
        }


def _positive_int(cfg: Mapping[str, Any], name: str, key: str, minimum: int = 1) -> int:
    value = cfg.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key}.{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def _flag(cfg: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
    value = cfg.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}.{name}: expected true or false, got {value!r}")
    return value


#: model families by their config ``type``: each builds itself from its config mapping
FAMILIES: dict[str, Callable[[Mapping[str, Any], int, str], StreamingModel]] = {}


def register_family(*names: str) -> Callable[[type[StreamingModel]], type[StreamingModel]]:
    """Class decorator: the class's ``from_config(cfg, sample_rate, key)`` builds config ``type`` s ``names``."""

    def register(cls: type[StreamingModel]) -> type[StreamingModel]:
        for name in names:
            FAMILIES[name] = cls.from_config  # type: ignore[attr-defined]
        return cls

    return register


register_family("tcn")(StreamingTCN)
register_family("lstm", "gru")(RecurrentModel)
register_family("shaper")(ShaperModel)
MODEL_TYPES = tuple(FAMILIES)


def build_model(cfg: Mapping[str, Any], sample_rate: int, key: str = "model") -> StreamingModel:
    """Build a model from its config mapping (``type`` and its hyper-parameters).

    ``size`` is the knob sweeps turn: TCN channels, or LSTM/GRU hidden units (the shaper's
    core's). A family is added by a class with ``from_config`` and :func:`register_family`.
    """
    model_type = cfg.get("type")
    if model_type not in FAMILIES:
        raise ConfigError(f"{key}.type: expected one of {list(FAMILIES)}, got {model_type!r}")
    return FAMILIES[model_type](cfg, sample_rate, key)


def stream(
    model: StreamingModel, x: Tensor, chunk_sizes: Sequence[int], state: State | None = None
) -> tuple[Tensor, State]:
    """Run ``x`` (``(batch, 1, time)``) through ``model`` in chunks, cycling ``chunk_sizes``."""
    if state is None:
        state = model.initial_state(x.shape[0])
    outputs, start, i = [], 0, 0
    while start < x.shape[2]:
        stop = min(start + int(chunk_sizes[i % len(chunk_sizes)]), x.shape[2])
        y, state = model(x[:, :, start:stop], state)
        outputs.append(y)
        start, i = stop, i + 1
    return torch.cat(outputs, dim=2), state
