"""Quality of a processor's output against the DSP reference (DESIGN section 5 metrics).

Signal metrics are taken over the whole test audio: every take streamed separately from
``reset()`` and the takes concatenated, the way a user would hear them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from distortion_bench.analysis.harmonics import Fingerprint, SineSpec, fingerprint, make_sine
from distortion_bench.analysis.metrics import esr, esr_pre_emphasis, residual_esr
from distortion_bench.engine.processor import Processor


def mrstft_distance(target: np.ndarray, estimate: np.ndarray) -> float:
    """auraloss's multi-resolution STFT distance (default resolutions) of two ``(time,)`` signals."""
    import auraloss  # imports torch: only when asked for
    import torch

    with torch.no_grad():
        loss = auraloss.freq.MultiResolutionSTFTLoss()(
            torch.from_numpy(np.asarray(estimate, np.float32))[None, None],
            torch.from_numpy(np.asarray(target, np.float32))[None, None])
    return float(loss)


def signal_quality(dry: np.ndarray, target: np.ndarray, estimate: np.ndarray) -> dict[str, float | None]:
    """ESR, pre-emphasised ESR, residual ESR (ratios, None where undefined) and MR-STFT distance."""
    return {
        "esr": esr(target, estimate),
        "esr_pre": esr_pre_emphasis(target, estimate),
        "residual_esr": residual_esr(dry, target, estimate),
        "mrstft": mrstft_distance(target, estimate),
    }


def stream_takes(processor: Processor, takes: Sequence[np.ndarray], buffer_size: int) -> np.ndarray:
    """Each take (``(time,)``) streamed from ``reset()`` in buffers; the outputs concatenated."""
    return np.concatenate([processor.process_signal(t, buffer_size) for t in takes])


def sine_fingerprints(processor: Processor, specs: Sequence[SineSpec], sample_rate: int,
                      buffer_size: int, max_harmonic: int) -> list[Fingerprint]:
    """The processor's fingerprint for every test sine (each streamed from ``reset()``)."""
    return [fingerprint(processor.process_signal(make_sine(s, sample_rate), buffer_size), s,
                        sample_rate, max_harmonic) for s in specs]


def as_jsonable(value: Any) -> Any:
    """Floats rounded for reports (6 significant digits); None kept."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: as_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_jsonable(v) for v in value]
    return value
