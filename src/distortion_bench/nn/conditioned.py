"""Networks that follow an effect's knobs: the streaming contract with a knob vector beside the audio.

``forward(x, state, knobs) -> (y, state)``: ``x``, ``y`` ``(batch, 1, time)``; ``knobs`` ``(batch, K)``
or ``(batch, K, 1)`` (one setting for the whole call, as a plugin reads its knobs once per buffer)
or ``(batch, K, time)`` (a setting per sample: automation takes in training, a knob gliding to a
new value; the exported ONNX file takes ``(1, K, 1)`` or ``(1, K, time)``). The knob values
are in their own units (dB, bits, ...) and the model maps each onto [-1, 1] by the range and
scale it was trained on (:class:`KnobScaler`, from the knob space), so a model file says which
ranges it knows. Chunked with the state carried equals whole, with the knobs changing between
calls, as for the fixed-setting models.

- :class:`ConditionedRecurrent` (``lstm_knobs``, ``gru_knobs``): the scaled knobs are extra inputs
  to the recurrent cell at every sample (Wright et al. 2020 condition an LSTM amplifier model on
  its gain the same way), and the audio it reads is first scaled and shifted by a small MLP of
  the knobs (FiLM on the input: ``x (1 + gamma) + beta``), plus the input added to the output
  (skip). The input FiLM gives a drive knob its natural form, a gain before the nonlinearity; the
  cell alone can only add a knob's value to its gates (trained that way, the tube's conditioned
  LSTM ended 5-7x above its fixed-setting twin's validation ESR).
- :class:`FiLMTCN` (``tcn_knobs``): the streaming TCN whose input projection and blocks' gated
  outputs are scaled and shifted per channel by a small MLP of the knobs (FiLM, Perez et al.
  2018): ``h * (1 + gamma) + beta``. The input projection's FiLM puts a knob's effect before the
  first nonlinearity: a drive knob scales what the gates saturate, which FiLM after the gates
  alone cannot (trained with block FiLM only, the tube's conditioned TCN ended 10-20x above its
  fixed-setting twin's validation ESR). With one setting per call the MLP runs once per call,
  not per sample. Its last layer starts at zero, so an untrained FiLM TCN is the plain TCN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.errors import ConfigError
from distortion_bench.nn.models import RecurrentModel, State, StreamingTCN, _positive_int, register_family


class KnobScaler(nn.Module):
    """Knob values in their units -> [-1, 1] per knob (log knobs by their logarithm).

    ``knobs``: ``(batch, K)`` or ``(batch, K, time)``; out: the same shape. Values outside the
    trained range map outside [-1, 1]; refusing them is the processor's job (it knows the space).
    """

    def __init__(self, space: KnobSpace) -> None:
        super().__init__()
        if not space.specs:
            raise ConfigError("a conditioned model needs at least one knob (model.knobs)")
        self.space = space
        log, lo, span = space.unit_bounds()
        self.register_buffer("log", torch.from_numpy(log), persistent=False)
        self.register_buffer("lo", torch.from_numpy(lo).float(), persistent=False)
        self.register_buffer("span", torch.from_numpy(span).float(), persistent=False)

    def forward(self, knobs: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (knobs.dim() - 2)
        v = torch.where(self.log.view(shape), knobs.clamp_min(1e-30).log(), knobs)
        return 2.0 * (v - self.lo.view(shape)) / self.span.view(shape) - 1.0


def _check_knobs(knobs: Tensor | None, count: int, x: Tensor) -> Tensor:
    if knobs is None:
        raise ValueError(f"this model follows {count} knob(s): forward(x, state, knobs) needs knobs")
    if knobs.dim() not in (2, 3) or knobs.shape[0] != x.shape[0] or knobs.shape[1] != count:
        raise ValueError(f"knobs: expected (batch, {count}) or (batch, {count}, time), got {tuple(knobs.shape)}")
    if knobs.dim() == 3 and knobs.shape[2] not in (1, x.shape[2]):
        raise ValueError(
            f"knobs: a per-sample trajectory needs {x.shape[2]} samples (or 1: one setting), got {knobs.shape[2]}"
        )
    return knobs


def knob_space_of(cfg: Mapping[str, Any], key: str) -> KnobSpace:
    """``model.knobs``: ``{name: {min, max, scale, unit}}`` (what the effect's knob space gives)."""
    return KnobSpace.from_dict(cfg.get("knobs"), f"{key}.knobs")


class ConditionedRecurrent(RecurrentModel):
    """LSTM or GRU with the scaled knobs as extra inputs per sample, and the skip.

    Shapes: ``x``, ``y`` ``(batch, 1, time)``; ``knobs`` ``(batch, K)`` or ``(batch, K, time)``;
    state as :class:`~distortion_bench.nn.models.RecurrentModel`.
    """

    def __init__(
        self, cell: str, hidden: int, layers: int, space: KnobSpace, warmup: int = 1000, film_hidden: int = 16
    ) -> None:
        super().__init__(cell, hidden, layers, True, warmup)
        self.model_type = f"{cell}_knobs"
        self.scaler = KnobScaler(space)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(1 + len(space.specs), self.hidden, self.layers, batch_first=True)
        # 1x1 convolutions, as the TCN's FiLM: the input's scale and shift, once per call with one setting
        self.film = nn.Sequential(nn.Conv1d(len(space.specs), film_hidden, 1), nn.Tanh(), nn.Conv1d(film_hidden, 2, 1))
        nn.init.zeros_(self.film[2].weight)  # untrained: the input unchanged
        nn.init.zeros_(self.film[2].bias)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], sample_rate: int, key: str) -> ConditionedRecurrent:
        size, layers = _positive_int(cfg, "size", key), _positive_int(cfg, "layers", key)
        warmup = _positive_int(cfg, "warmup_samples", key, minimum=0)
        film_hidden = _positive_int({"film_hidden": cfg.get("film_hidden", 16)}, "film_hidden", key)
        cell = str(cfg["type"]).removesuffix("_knobs")
        return cls(cell, size, layers, knob_space_of(cfg, key), warmup, film_hidden)

    def forward(self, x: Tensor, state: State, knobs: Tensor | None = None) -> tuple[Tensor, State]:
        k = self.scaler(_check_knobs(knobs, len(self.scaler.space.specs), x))
        k = k.unsqueeze(2) if k.dim() == 2 else k  # (batch, K, 1 or time)
        film = self.film(k)  # (batch, 2, 1 or time): the MLP once per call for one setting
        scaled = x * (1.0 + film[:, :1]) + film[:, 1:]
        k = k.expand(-1, -1, x.shape[2])
        seq = torch.cat([scaled, k], dim=1).transpose(1, 2)  # (batch, time, 1 + K)
        if self.model_type == "lstm_knobs":
            out, (h, c) = self.rnn(seq, (state[0], state[1]))
            new_state: State = (h, c)
        else:
            out, h = self.rnn(seq, state[0])
            new_state = (h,)
        return self.linear(out).transpose(1, 2) + x, new_state

    def state_spec(self, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        shape = (self.layers, batch, self.hidden)
        return [("h", shape), ("c", shape)] if self.model_type == "lstm_knobs" else [("h", shape)]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "knobs": self.scaler.space.as_dict()}


class FiLMTCN(StreamingTCN):
    """:class:`~distortion_bench.nn.models.StreamingTCN` with FiLM from the knobs (module docstring).

    Shapes: ``x``, ``y`` ``(batch, 1, time)``; ``knobs`` ``(batch, K)`` or ``(batch, K, time)``;
    state as the TCN's. ``film_hidden``: width of the knobs' MLP.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        dilations: Sequence[int],
        sample_rate: int,
        space: KnobSpace,
        film_hidden: int = 16,
    ) -> None:
        super().__init__(channels, kernel_size, dilations, sample_rate, skip=True)
        self.model_type = "tcn_knobs"
        self.scaler = KnobScaler(space)
        outputs = 2 * self.channels * (len(self.blocks) + 1)  # the input projection, then the blocks
        # 1x1 convolutions: the same MLP per call (knobs (batch, K, 1)) or per sample
        self.film = nn.Sequential(
            nn.Conv1d(len(space.specs), film_hidden, 1), nn.Tanh(), nn.Conv1d(film_hidden, outputs, 1)
        )
        nn.init.zeros_(self.film[2].weight)
        nn.init.zeros_(self.film[2].bias)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], sample_rate: int, key: str) -> FiLMTCN:
        base = StreamingTCN.from_config({**cfg, "skip": True}, sample_rate, key)
        film_hidden = _positive_int({"film_hidden": cfg.get("film_hidden", 16)}, "film_hidden", key)
        return cls(base.channels, base.kernel_size, base.dilations, sample_rate, knob_space_of(cfg, key), film_hidden)

    def forward(self, x: Tensor, state: State, knobs: Tensor | None = None) -> tuple[Tensor, State]:
        k = self.scaler(_check_knobs(knobs, len(self.scaler.space.specs), x))
        film = self.film(k.unsqueeze(2) if k.dim() == 2 else k)  # (batch, 2 C (blocks + 1), 1 or time)
        half = self.channels * (len(self.blocks) + 1)  # a constant (the graph computes no shapes)
        gammas = film[:, :half].split(self.channels, dim=1)
        betas = film[:, half:].split(self.channels, dim=1)
        h = self.input(x) * (1.0 + gammas[0]) + betas[0]
        total = torch.zeros_like(h)
        new_state = []
        for block, cache, gamma, beta in zip(self.blocks, state, gammas[1:], betas[1:]):
            full = torch.cat([cache, h], dim=2)
            a, b = block.conv(full).chunk(2, dim=1)
            gated = torch.tanh(a) * torch.sigmoid(b) * (1.0 + gamma) + beta
            h = h + block.mix(gated)
            total = total + gated
            new_state.append(full[:, :, full.shape[2] - block.context :])
        return self.output(total) + x, tuple(new_state)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "knobs": self.scaler.space.as_dict()}


register_family("lstm_knobs", "gru_knobs")(ConditionedRecurrent)
register_family("tcn_knobs")(FiLMTCN)


def stream_with_knobs(
    model: nn.Module, x: Tensor, knobs: Tensor, chunk_sizes: Sequence[int], state: State | None = None
) -> tuple[Tensor, State]:
    """``x`` ``(batch, 1, time)`` in chunks cycling ``chunk_sizes``, each chunk with the setting of
    its first sample from ``knobs`` ``(batch, K, time)`` (one setting per call, as a plugin)."""
    if state is None:
        state = model.initial_state(x.shape[0])
    outputs, start, i = [], 0, 0
    while start < x.shape[2]:
        stop = min(start + int(chunk_sizes[i % len(chunk_sizes)]), x.shape[2])
        y, state = model(x[:, :, start:stop], state, knobs[:, :, start])
        outputs.append(y)
        start, i = stop, i + 1
    return torch.cat(outputs, dim=2), state
