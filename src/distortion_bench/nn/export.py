"""ONNX export of streaming models with the state as explicit graph inputs and outputs.

Graph contract (:mod:`distortion_bench.onnx_contract`, checked whenever a file is loaded):

- inputs: ``audio`` ``(1, 1, time)`` float32 first, then the state tensors named in the
  metadata's ``state_names``, shapes from ``state_shapes`` (batch 1);
- outputs: ``audio_out`` ``(1, 1, time)`` first, then ``<state name>_out`` in the same order;
- ``time`` is a dynamic axis, so one file serves every buffer size; zeros are a valid initial
  state (the state after silence);
- metadata (``metadata_props``, JSON values): ``sample_rate``, ``state_names``, ``state_shapes``,
  ``receptive_field_samples`` (null for recurrent models), ``model_type``, ``effect``,
  ``params``, ``mlflow_run_id``.

The exporter is PyTorch's TorchScript-based one (``dynamo=False``): in torch 2.13 the
``torch.export`` path fails on these models' state handling, and the legacy path gives graphs
that match PyTorch to ~1e-7.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import onnx
import torch
from torch import Tensor, nn

from distortion_bench.atomic import atomic_path
from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.nn.models import StreamingModel, StreamingTCN

# the contract lives apart so that running an exported file never imports PyTorch
from distortion_bench.onnx_contract import (  # noqa: F401 - re-exported
    AUDIO_IN,
    AUDIO_OUT,
    KNOB_TIME,
    KNOBS_IN,
    REQUIRED_METADATA,
    OnnxContract,
    OnnxModelError,
    read_onnx_contract,
)

OPSET = 17


class _ExportTCN(nn.Module):
    """The trained :class:`StreamingTCN`'s arithmetic, written so the traced graph is lean.

    Same layers and weights, same results (the export stage's parity check compares the file
    with the PyTorch model); only the tracing differs: the cache is cut with a constant negative
    slice (the model's ``full[:, :, full.shape[2] - context:]`` traces into Shape/Gather/Sub
    nodes because ``time`` is dynamic), the gate halves with a constant split, and the skip sum
    starts from the first block's output instead of ``zeros_like``. ONNX Runtime pays roughly
    half a microsecond per node per call, which at small buffers is most of the cost: this
    takes the default TCN from 233 nodes to 104 (69 of them
    compute; the rest constants).
    """

    def __init__(self, model: StreamingTCN) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        m = self.model
        h = m.input(x)
        total: Tensor | None = None  # the skip sum of the gated outputs
        new_state = []
        for block, cache in zip(m.blocks, state):
            full = torch.cat([cache, h], dim=2)
            a, b = torch.split(block.conv(full), m.channels, dim=1)
            gated = torch.tanh(a) * torch.sigmoid(b)
            h = h + block.mix(gated)
            total = gated if total is None else total + gated
            new_state.append(full[:, :, -block.context :])
        assert total is not None
        y = m.output(total)
        return (y + x if m.skip else y), tuple(new_state)


class _Flat(nn.Module):
    """``forward(audio, *state) -> (audio_out, *state_out)``: the tuple state made explicit."""

    def __init__(self, model: StreamingModel) -> None:
        super().__init__()
        self.model: nn.Module = _ExportTCN(model) if type(model) is StreamingTCN else model

    def forward(self, audio: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        y, new_state = self.model(audio, tuple(state))
        return (y, *new_state)


class _FlatKnobs(nn.Module):
    """``forward(audio, knobs, *state) -> (audio_out, *state_out)`` for a knob-conditioned model."""

    def __init__(self, model: StreamingModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, audio: Tensor, knobs: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        y, new_state = self.model(audio, tuple(state), knobs)
        return (y, *new_state)


def knob_space(model: StreamingModel) -> KnobSpace | None:
    """The knob space of a conditioned model (None for a fixed-setting one)."""
    scaler = getattr(model, "scaler", None)
    return scaler.space if scaler is not None else None


def export_onnx(
    model: StreamingModel, path: str | os.PathLike[str], sample_rate: int, metadata: dict[str, Any]
) -> None:
    """Export ``model`` (batch 1) to ``path`` atomically, with metadata, checked by onnx.checker."""
    model = model.eval()
    spec = model.state_spec(1)
    names = [n for n, _ in spec]
    space = knob_space(model)
    knob_in = [KNOBS_IN] if space is not None else []
    # knobs (1, K, 1) for one setting per call or (1, K, time) for a setting per sample (a glide)
    knob_example = (torch.tensor([[[s.minimum] for s in space.specs]]),) if space is not None else ()
    example = (torch.zeros(1, 1, 64), *knob_example, *model.initial_state(1))
    meta = {
        "sample_rate": int(sample_rate),
        "state_names": names,
        "state_shapes": [list(s) for _, s in spec],
        "receptive_field_samples": model.receptive_field if isinstance(model, StreamingTCN) else None,
        "model_type": model.model_type,
        "params": model.num_parameters(),
        **({"knobs": space.as_dict()} if space is not None else {}),
        **metadata,
    }
    with atomic_path(path, suffix=".onnx") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                _FlatKnobs(model) if space is not None else _Flat(model),
                example,
                str(tmp),
                dynamo=False,
                opset_version=OPSET,
                input_names=[AUDIO_IN, *knob_in, *names],
                output_names=[AUDIO_OUT, *[f"{n}_out" for n in names]],
                dynamic_axes={
                    AUDIO_IN: {2: "time"},
                    AUDIO_OUT: {2: "time"},
                    **({KNOBS_IN: {2: KNOB_TIME}} if space is not None else {}),
                },
            )
        proto = onnx.load(str(tmp))
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    read_onnx_contract(path)  # the file we wrote must pass the check every reader makes
