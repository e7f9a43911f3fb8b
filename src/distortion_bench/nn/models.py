"""Causal, streamable models: every one is ``forward(x, state) -> (y, state)``.

- ``x`` and ``y``: float32 tensors of shape ``(batch, 1, time)``.
- ``state``: a tuple of tensors (names and shapes from :meth:`state_spec`); zeros, from
  :meth:`initial_state`, are the state after silence. Running a signal in chunks of any sizes
  with the state carried equals running it whole (up to float rounding).

The tuple-of-tensors state maps one-to-one onto explicit graph inputs/outputs in ONNX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from distortion_bench.errors import ConfigError

State = tuple[Tensor, ...]
MODEL_TYPES = ("tcn", "lstm", "gru")


class StreamingModel(nn.Module):
    """Base class: the streaming interface and facts for reports."""

    model_type: str

    def initial_state(self, batch: int = 1) -> State:
        """Zeros of the shapes in :meth:`state_spec` (the state after silence)."""
        param = next(self.parameters())
        return tuple(torch.zeros(shape, dtype=param.dtype, device=param.device)
                     for _, shape in self.state_spec(batch))

    def state_spec(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        """``[(name, shape), ...]`` of the state tensors for a batch size."""
        raise NotImplementedError

    def warmup_samples(self) -> int:
        """Samples to run before a loss is taken, so that the state reflects real input."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

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
        return x + self.mix(gated), gated, full[:, :, full.shape[2] - self.context:]


class StreamingTCN(StreamingModel):
    """Dilated causal TCN (Damskagg et al. 2019, "Deep learning for tube amplifier emulation").

    1x1 input conv -> gated residual blocks (one per dilation) -> sum of the blocks' gated
    outputs -> 1x1 output conv. Receptive field ``1 + (kernel_size - 1) * sum(dilations)``.

    Args:
        channels: width of every block (the model's size knob).
        kernel_size: taps of each dilated conv (>= 2).
        dilations: one block per entry, e.g. ``[1, 2, 4, ..., 64]``.
        sample_rate: in Hz, for the receptive field in ms.
    """

    model_type = "tcn"

    def __init__(self, channels: int = 16, kernel_size: int = 3,
                 dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64), sample_rate: int = 48000) -> None:
        super().__init__()
        self.channels = int(channels)
        self.kernel_size = int(kernel_size)
        self.dilations = [int(d) for d in dilations]
        self.sample_rate = int(sample_rate)
        self.input = nn.Conv1d(1, self.channels, 1)
        self.blocks = nn.ModuleList(GatedResidualBlock(self.channels, self.kernel_size, d)
                                    for d in self.dilations)
        self.output = nn.Conv1d(self.channels, 1, 1)

    @property
    def receptive_field(self) -> int:
        """Samples of input that one output sample depends on (itself included)."""
        return 1 + sum(block.context for block in self.blocks)

    def state_spec(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        return [(f"cache{i}", (batch, self.channels, block.context))
                for i, block in enumerate(self.blocks)]

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
        return self.output(skip), tuple(new_state)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "channels": self.channels, "kernel_size": self.kernel_size,
                "dilations": self.dilations, "receptive_field_samples": self.receptive_field,
                "receptive_field_ms": round(1000.0 * self.receptive_field / self.sample_rate, 3)}


class RecurrentModel(StreamingModel):
    """LSTM or GRU -> linear output, plus the input added to the output when ``skip``.

    With the skip the network learns only the difference the effect makes (Wright et al.
    2019, "Real-time guitar amplifier emulation with deep learning").

    State: LSTM ``(h, c)``, GRU ``(h,)``, each ``(layers, batch, hidden)``.
    """

    def __init__(self, cell: str = "lstm", hidden: int = 32, layers: int = 1, skip: bool = True,
                 warmup: int = 1000) -> None:
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
        return {**super().describe(), "hidden_size": self.hidden, "layers": self.layers,
                "skip": self.skip}


def _positive_int(cfg: Mapping[str, Any], name: str, key: str, minimum: int = 1) -> int:
    value = cfg.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key}.{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def build_model(cfg: Mapping[str, Any], sample_rate: int, key: str = "model") -> StreamingModel:
    """Build a model from its config mapping (``type`` and its hyper-parameters).

    ``size`` is the knob sweeps turn: TCN channels, or LSTM/GRU hidden units.
    """
    model_type = cfg.get("type")
    if model_type not in MODEL_TYPES:
        raise ConfigError(f"{key}.type: expected one of {list(MODEL_TYPES)}, got {model_type!r}")
    size = _positive_int(cfg, "size", key)
    if model_type == "tcn":
        kernel = _positive_int(cfg, "kernel_size", key, minimum=2)
        dilations = cfg.get("dilations")
        if (not isinstance(dilations, Sequence) or isinstance(dilations, str) or not dilations
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dilations)):
            raise ConfigError(f"{key}.dilations: expected a non-empty list of integers >= 1, got {dilations!r}")
        return StreamingTCN(size, kernel, list(dilations), sample_rate)
    layers = _positive_int(cfg, "layers", key)
    warmup = _positive_int(cfg, "warmup_samples", key, minimum=0)
    return RecurrentModel(model_type, size, layers, bool(cfg.get("skip", True)), warmup)


def stream(model: StreamingModel, x: Tensor, chunk_sizes: Sequence[int], state: State | None = None
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


