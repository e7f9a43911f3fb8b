"""Third-octave band levels of a signal, and how far two signals' spectra differ.

On real playing there is no single sine whose harmonics can be read off, so the harmonic
content a distortion adds is compared band by band instead: the long-term average spectrum
(Welch, Hann windows of :data:`SEGMENT` = 2^17 samples, 50 % overlap; a single periodogram for
shorter signals) summed into third-octave bands from 25 Hz to 20 kHz (IEC 61260 centre
frequencies ``1000 * 2^(k/3)``), in dB. The long segments matter at the bottom: the 25 Hz band
is 5.8 Hz wide, so 8192-sample segments (5.9 Hz bins) gave it one or two bins and leaked an
18 Hz rumble into it at +15 dB; at 48 kHz 2^17 samples give 0.37 Hz bins, 16 in that band.

The difference of two signals is the largest absolute band difference over the bands where
*either* signal is within ``range_db`` (60 dB) of its own loudest band. Masking by the reference
alone would hide exactly what a model adds where the DSP is quiet (a whine, aliasing above the
DSP's low-pass); bands where both are quiet are left out, since there a difference is inaudible
and dominated by noise. The figure is magnitude only: a polarity inversion or a phase error
reads 0 dB here, which is why every table that shows it shows ESR and residual ESR beside it.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

#: third-octave band indices k (centre 1000 * 2^(k/3) Hz): 25 Hz .. 20 kHz
BANDS = np.arange(-16, 14)
#: Welch segment length (samples): resolution for the lowest bands
SEGMENT = 2**17
#: levels of an empty band (dB)
FLOOR_DB = -200.0


def band_levels_db(x: np.ndarray, sample_rate: int, nperseg: int = SEGMENT) -> tuple[np.ndarray, np.ndarray]:
    """``(centres_hz, levels_db)`` of a ``(time,)`` signal; bands above Nyquist are dropped and
    levels are floored at :data:`FLOOR_DB` (an empty band)."""
    x = np.asarray(x, np.float64)
    # a power spectral density times the bin width sums to the power in a band (a sine of
    # amplitude A reads A^2/2 whatever the window's spread)
    freqs, psd = welch(x, fs=sample_rate, window="hann", nperseg=min(nperseg, max(x.size, 16)), scaling="density")
    psd = psd * (freqs[1] - freqs[0])
    centres = 1000.0 * 2.0 ** (BANDS / 3.0)
    centres = centres[centres * 2 ** (1 / 6) < sample_rate / 2]
    levels = np.empty(centres.size)
    for i, fc in enumerate(centres):
        band = (freqs >= fc * 2 ** (-1 / 6)) & (freqs < fc * 2 ** (1 / 6))
        levels[i] = 10 * np.log10(max(float(psd[band].sum()), 10 ** (FLOOR_DB / 10)))
    return centres, levels


def level_difference_db(reference_db: np.ndarray, estimate_db: np.ndarray, range_db: float = 60.0) -> float | None:
    """Largest |band level difference| (dB) over the bands where either signal is within
    ``range_db`` of its own loudest band, from levels of :func:`band_levels_db`; None when both
    are silent."""
    loud = [
        levels >= levels.max() - range_db for levels in (reference_db, estimate_db) if levels.max() > FLOOR_DB + 1.0
    ]
    if not loud:
        return None
    used = np.logical_or.reduce(loud)
    return float(np.max(np.abs(estimate_db[used] - reference_db[used])))


def band_difference_db(
    reference: np.ndarray, estimate: np.ndarray, sample_rate: int, range_db: float = 60.0
) -> float | None:
    """:func:`level_difference_db` of two ``(time,)`` signals; None when both are silent."""
    return level_difference_db(
        band_levels_db(reference, sample_rate)[1], band_levels_db(estimate, sample_rate)[1], range_db
    )
