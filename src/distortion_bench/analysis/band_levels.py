"""Third-octave band levels of a signal, and how far two signals' spectra differ.

On real playing there is no single sine whose harmonics can be read off, so the harmonic
content a distortion adds is compared band by band instead: the long-term average spectrum
(Welch, Hann windows of 8192 samples, 50 % overlap) summed into third-octave bands from 25 Hz
to 20 kHz (IEC 61260 centre frequencies ``1000 * 2^(k/3)``), in dB. The difference of two
signals is the largest absolute band difference over the bands where the reference is within
``range_db`` (60 dB) of its loudest band: quieter bands are left out, since there a difference
is inaudible and dominated by noise.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

#: third-octave band indices k (centre 1000 * 2^(k/3) Hz): 25 Hz .. 20 kHz
BANDS = np.arange(-16, 14)


def band_levels_db(x: np.ndarray, sample_rate: int, nperseg: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """``(centres_hz, levels_db)`` of a ``(time,)`` signal; bands above Nyquist are dropped and
    levels are floored at -200 dB (an empty band)."""
    x = np.asarray(x, np.float64)
    # a power spectral density times the bin width sums to the power in a band (a sine of
    # amplitude A reads A^2/2 whatever the window's spread)
    freqs, psd = welch(x, fs=sample_rate, window="hann", nperseg=min(nperseg, max(x.size, 16)),
                       scaling="density")
    psd = psd * (freqs[1] - freqs[0])
    centres = 1000.0 * 2.0 ** (BANDS / 3.0)
    centres = centres[centres * 2 ** (1 / 6) < sample_rate / 2]
    levels = np.empty(centres.size)
    for i, fc in enumerate(centres):
        band = (freqs >= fc * 2 ** (-1 / 6)) & (freqs < fc * 2 ** (1 / 6))
        levels[i] = 10 * np.log10(max(float(psd[band].sum()), 1e-20))
    return centres, levels


def level_difference_db(reference_db: np.ndarray, estimate_db: np.ndarray, range_db: float = 60.0) -> float | None:
    """Largest |band level difference| (dB) over the reference's bands within ``range_db`` of
    its loudest, from levels of :func:`band_levels_db`; None when the reference is silent."""
    if reference_db.max() <= -199.0:
        return None
    used = reference_db >= reference_db.max() - range_db
    return float(np.max(np.abs(estimate_db[used] - reference_db[used])))


def band_difference_db(reference: np.ndarray, estimate: np.ndarray, sample_rate: int,
                       range_db: float = 60.0) -> float | None:
    """:func:`level_difference_db` of two ``(time,)`` signals; None when the reference is silent."""
    return level_difference_db(band_levels_db(reference, sample_rate)[1], band_levels_db(estimate, sample_rate)[1],
                               range_db)
