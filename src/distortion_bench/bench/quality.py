"""Quality of a processor's output against the DSP reference (the metrics of :mod:`.metrics`).

Signal metrics are taken over the whole test audio: every take streamed separately from
``reset()`` and the takes concatenated, the way a user would hear them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from distortion_bench.analysis.harmonics import Fingerprint, SineSpec, fingerprint, make_sine
from distortion_bench.analysis.metrics import (
    category_of,
    material_group,
    mrstft_distance,
    quality_by_category,
    signal_quality,
)
from distortion_bench.engine.processor import Processor

__all__ = [
    "as_jsonable",
    "mrstft_distance",
    "quality_by_category",
    "quality_by_material",
    "signal_quality",
    "sine_fingerprints",
    "stream_takes",
    "stream_each_take",
    "material_group",
]


def quality_by_material(
    paths: Sequence[str],
    dry: Sequence[np.ndarray],
    target: Sequence[np.ndarray],
    estimate: Sequence[np.ndarray],
    sample_rate: int,
) -> dict[str, Any]:
    """Pooled quality (:func:`signal_quality`) of whole takes, with ``by_category`` (each kind of
    material, see :func:`quality_by_category`) and ``by_group`` (``guitar`` vs ``measurement``
    signals, each scored as one concatenated signal with its ``share_of_error``)."""
    by_category = quality_by_category(paths, dry, target, estimate, sample_rate)
    pooled = by_category.pop("pooled")
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        groups.setdefault(material_group(category_of(path)), []).append(i)
    by_group = {}
    for group in ("guitar", "measurement", "other"):
        if group in groups:
            sub = quality_by_category(
                [paths[i] for i in groups[group]],
                [dry[i] for i in groups[group]],
                [target[i] for i in groups[group]],
                [estimate[i] for i in groups[group]],
                sample_rate,
            )["pooled"]
            shares = [by_category[c]["share_of_error"] for c in by_category if material_group(c) == group]
            sub["share_of_error"] = None if any(x is None for x in shares) else sum(shares)
            by_group[group] = sub
    return {**pooled, "by_group": by_group, "by_category": by_category}


def stream_each_take(processor: Processor, takes: Sequence[np.ndarray], buffer_size: int) -> list[np.ndarray]:
    """Each take (``(time,)``) streamed from ``reset()`` in buffers of ``buffer_size`` samples,
    aligned with the take by the processor's reported latency (an oversampling DSP's filters:
    :meth:`~distortion_bench.engine.processor.Processor.process_aligned`), as the targets are."""
    return [processor.process_aligned(t, buffer_size) for t in takes]


def stream_takes(processor: Processor, takes: Sequence[np.ndarray], buffer_size: int) -> np.ndarray:
    """Each take (``(time,)``) streamed from ``reset()`` in buffers; the outputs concatenated."""
    return np.concatenate(stream_each_take(processor, takes, buffer_size))


def sine_fingerprints(
    processor: Processor, specs: Sequence[SineSpec], sample_rate: int, buffer_size: int, max_harmonic: int
) -> list[Fingerprint]:
    """The processor's fingerprint for every test sine (each streamed from ``reset()``)."""
    return [
        fingerprint(processor.process_signal(make_sine(s, sample_rate), buffer_size), s, sample_rate, max_harmonic)
        for s in specs
    ]


def as_jsonable(value: Any) -> Any:
    """Floats rounded for reports (6 significant digits); None kept."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: as_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_jsonable(v) for v in value]
    return value
