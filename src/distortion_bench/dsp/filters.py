"""Filter design for the effects (scipy.signal), as second-order sections."""

from __future__ import annotations

import numpy as np
from scipy.signal import butter


def butter_lowpass_sos(cutoff_hz: float, order: int, sample_rate: int) -> np.ndarray:
    """Butterworth low-pass as second-order sections.

    Args:
        cutoff_hz: -3 dB frequency in Hz, in (0, sample_rate / 2).
        order: filter order >= 1 (an odd order has one first-order section, padded as SOS).
        sample_rate: in Hz.

    Returns:
        float64 array of shape ``(sections, 6)``: rows ``[b0, b1, b2, 1, a1, a2]``, C-contiguous.
    """
    nyquist = sample_rate / 2.0
    if not 0.0 < cutoff_hz < nyquist:
        raise ValueError(f"cutoff {cutoff_hz} Hz must lie in (0, {nyquist}) Hz")
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    sos = butter(int(order), float(cutoff_hz), btype="lowpass", fs=float(sample_rate), output="sos")
    return np.ascontiguousarray(sos, dtype=np.float64)
