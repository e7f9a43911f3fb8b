"""Clicks after a knob change: how much high-frequency energy a step adds.

A knob that jumps (a gain set from one buffer to the next) puts a corner into the waveform; the
corner's energy is spread over the whole spectrum and heard as a click, or as zipper noise when
it repeats. :func:`click_energy_db` measures it as the energy above ``cutoff_hz`` in a short
window after the change, in dB relative to the energy of the whole signal in that window: a
smoothed change of a low tone scores far lower than a jump. The same figure is taken for the DSP
and for a network following the same knob change, so the two can be compared.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

#: dB returned when the window holds no signal at all
SILENT_DB = -200.0


def click_energy_db(
    y: np.ndarray, at: int, sample_rate: int, window_s: float = 0.01, cutoff_hz: float = 2000.0
) -> float:
    """High-passed energy over ``[at, at + window)`` relative to the signal's energy there, dB.

    Args:
        y: ``(time,)`` the processed signal.
        at: sample index of the knob change.
        sample_rate: in Hz.
        window_s: window length in seconds (10 ms: a click, not the tone that follows).
        cutoff_hz: 4th-order Butterworth high-pass cutoff (above the test tone and its first
            harmonics).
    """
    y = np.asarray(y, np.float64)
    n = int(round(window_s * sample_rate))
    if at < 0 or at + n > y.shape[0]:
        raise ValueError(f"click_energy_db: window [{at}, {at + n}) is outside the signal of {y.shape[0]} samples")
    high = sosfilt(butter(4, cutoff_hz, "highpass", fs=sample_rate, output="sos"), y)
    total = float(np.sum(y[at : at + n] ** 2))
    if total == 0.0:
        return SILENT_DB
    hf = float(np.sum(high[at : at + n] ** 2))
    return 10.0 * float(np.log10(max(hf / total, 1e-20)))
