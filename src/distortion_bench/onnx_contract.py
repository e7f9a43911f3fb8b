"""The graph contract of the project's ONNX files, and its check (no PyTorch needed).

- inputs: ``audio`` ``(1, 1, time)`` float32 first, then, for a knob-conditioned model, ``knobs``
  ``(1, K)`` float32 (one setting per call, in the knobs' units), then the state tensors named in
  the metadata's ``state_names``, shapes from ``state_shapes`` (batch 1);
- outputs: ``audio_out`` ``(1, 1, time)`` first, then ``<state name>_out`` in the same order;
- ``time`` is a dynamic axis; zeros are a valid initial state;
- metadata (``metadata_props``, JSON values) with at least ``sample_rate``, ``state_names``,
  ``state_shapes``; a conditioned model also ``knobs`` (``{name: {min, max, scale, unit}}`` in
  input order): a file with a ``knobs`` input and no such metadata is refused, and so is one
  whose metadata names knobs its graph does not take.

Kept apart from :mod:`distortion_bench.nn.export` so that a process that only runs exported
files (ONNX Runtime) never imports PyTorch: its memory is then what a deployment would use.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from distortion_bench.errors import DistortionBenchError

AUDIO_IN, AUDIO_OUT, KNOBS_IN = "audio", "audio_out", "knobs"
#: the knobs input's last axis: 1 (one setting for the call) or the audio's length (per sample)
KNOB_TIME = "knob_time"
REQUIRED_METADATA = ("sample_rate", "state_names", "state_shapes")


class OnnxModelError(DistortionBenchError):
    """An ONNX file is missing, unreadable, or breaks the graph contract; names the file."""


@dataclass(frozen=True)
class OnnxContract:
    """What a valid exported file promises (from its metadata, checked against its graph)."""

    path: Path
    metadata: dict[str, Any]
    state_names: list[str]
    state_shapes: list[tuple[int, ...]]
    knobs: dict[str, dict[str, Any]] | None = None


def _dims(value_info: Any) -> list[Any]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def read_onnx_contract(path: str | os.PathLike[str]) -> OnnxContract:
    """Load and validate an exported file, or raise :class:`OnnxModelError` saying what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise OnnxModelError(f"{p}: no such ONNX file; run the export_onnx stage (dvc repro export_onnx)")
    try:
        proto = onnx.load(str(p))
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ... for damaged files
        raise OnnxModelError(
            f"{p}: not a valid ONNX model ({type(exc).__name__}: {exc}); the file may be truncated: re-export it"
        ) from exc
    try:
        meta = {e.key: json.loads(e.value) for e in proto.metadata_props}
    except json.JSONDecodeError as exc:
        raise OnnxModelError(f"{p}: metadata is not JSON ({exc}); re-export it") from exc
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise OnnxModelError(f"{p}: metadata lacks {missing}; not exported by this project's export_onnx")
    names = [str(n) for n in meta["state_names"]]
    shapes = [tuple(int(d) for d in s) for s in meta["state_shapes"]]
    inputs = [i.name for i in proto.graph.input]
    outputs = [o.name for o in proto.graph.output]
    knobs = _knob_metadata(p, meta, KNOBS_IN in inputs)
    expected_in = [AUDIO_IN, *([KNOBS_IN] if knobs else []), *names]
    expected_out = [AUDIO_OUT, *[f"{n}_out" for n in names]]
    if inputs != expected_in or outputs != expected_out:
        raise OnnxModelError(
            f"{p}: graph inputs {inputs} / outputs {outputs} do not match the state names in its "
            f"metadata (expected inputs {expected_in}, outputs {expected_out})"
        )
    if knobs and _dims(proto.graph.input[1]) != [1, len(knobs), KNOB_TIME]:
        raise OnnxModelError(
            f"{p}: input 'knobs' has shape {_dims(proto.graph.input[1])}, expected [1, {len(knobs)}, "
            f"{KNOB_TIME!r}] (one setting per call as time 1, or one per sample) for the knobs "
            f"{list(knobs)} of its metadata; a file from before the time axis: re-export it (dvc repro export_knobs)"
        )
    for vi, shape in zip(proto.graph.input[2 if knobs else 1 :], shapes):
        if _dims(vi) != list(shape):
            raise OnnxModelError(f"{p}: state input {vi.name!r} has shape {_dims(vi)}, metadata says {list(shape)}")
    audio_dims = _dims(proto.graph.input[0])
    if len(audio_dims) != 3 or not isinstance(audio_dims[2], str):
        raise OnnxModelError(f"{p}: input 'audio' must be (1, 1, time) with a dynamic time axis, got {audio_dims}")
    return OnnxContract(p, meta, names, shapes, knobs)


def _knob_metadata(p: Path, meta: dict[str, Any], has_input: bool) -> dict[str, dict[str, Any]] | None:
    knobs = meta.get("knobs")
    if has_input and not knobs:
        raise OnnxModelError(
            f"{p}: the graph takes 'knobs' but the metadata does not name them (knobs: {{name: {{min, max, "
            "scale, unit}}}}); without the names, ranges and units nobody can set them: re-export it"
        )
    if knobs and not has_input:
        raise OnnxModelError(f"{p}: metadata names knobs {list(knobs)} but the graph has no 'knobs' input")
    if not knobs:
        return None
    for name, k in knobs.items():
        if not isinstance(k, dict) or not {"min", "max", "scale", "unit"} <= set(k):
            raise OnnxModelError(f"{p}: metadata knob {name!r} is {k!r}; expected {{min, max, scale, unit}}")
    return dict(knobs)
