"""Audio file I/O through soundfile, with validation that fails early and clearly.

Reading (:func:`read_audio`) accepts WAV, FLAC and anything else libsndfile reads, and returns
mono float32 samples at the requested rate. Each way a file can be unusable gives an
:class:`AudioFileError` naming the file; each conversion that is made is documented here and
recorded in :attr:`LoadedAudio.conversions`:

- integer PCM (16/24/32-bit): scaled by libsndfile to float32 in [-1, 1).
- stereo: downmixed to the mean of both channels (``stereo="downmix"``) or rejected.
- another sample rate: resampled with a polyphase filter (``scipy.signal.resample_poly``) when
  ``resample=True``, else rejected.
- rejected outright: missing, empty, truncated or non-audio files, more than two channels, and
  NaN or Inf samples.

Writing (:func:`write_audio`) produces float32 WAV files that are byte-identical for identical
samples (libsndfile's PEAK chunk, which carries a wall-clock time stamp, is left out) and are
written atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from distortion_bench.atomic import atomic_path
from distortion_bench.errors import AudioFileError
from distortion_bench.portable_math import kaiser_lowpass_fir

#: File extensions picked up from the raw-audio folder (compared lower-case).
AUDIO_EXTENSIONS = (".wav", ".flac")

_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command id, from sndfile.h


@dataclass(frozen=True)
class LoadedAudio:
    """Mono audio read from a file.

    Attributes:
        samples: shape ``(time,)``, float32, at ``sample_rate`` Hz.
        sample_rate: rate of ``samples`` in Hz (the requested one).
        source_rate: the file's own rate in Hz.
        source_channels: the file's channel count (1 or 2).
        source_subtype: libsndfile's subtype name, e.g. ``"PCM_16"`` or ``"FLOAT"``.
        conversions: human-readable notes of every conversion applied.
    """

    samples: np.ndarray
    sample_rate: int
    source_rate: int
    source_channels: int
    source_subtype: str
    conversions: tuple[str, ...] = field(default_factory=tuple)


def read_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    *,
    stereo: str = "reject",
    resample: bool = False,
) -> LoadedAudio:
    """Read an audio file as mono float32 at ``sample_rate`` Hz, or raise :class:`AudioFileError`.

    Args:
        path: the file.
        sample_rate: the rate the caller needs, in Hz.
        stereo: ``"downmix"`` (mean of the two channels) or ``"reject"``.
        resample: resample a file at another rate (else reject it).
    """
    if stereo not in ("downmix", "reject"):
        raise ValueError(f"stereo must be 'downmix' or 'reject', got {stereo!r}")
    p = Path(path)
    if not p.is_file():
        raise AudioFileError(f"{p}: no such audio file")
    if p.stat().st_size == 0:
        raise AudioFileError(f"{p}: file is empty (0 bytes); expected an audio file")
    try:
        info = sf.info(str(p))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{p}: not a readable audio file ({exc}); expected WAV or FLAC") from exc
    # libsndfile reads what is there when a header promises more data than the file holds,
    # and notes "(should be N)" in its log; a silently shortened file is worse than an error.
    if "should be" in (info.extra_info or ""):
        raise AudioFileError(
            f"{p}: file is truncated or its header is corrupt (header sizes do not match the "
            f"file size of {p.stat().st_size} bytes)"
        )
    if info.frames == 0:
        raise AudioFileError(f"{p}: contains no audio frames; expected at least one sample")
    if info.channels > 2:
        raise AudioFileError(f"{p}: has {info.channels} channels; expected mono or stereo")
    if info.channels == 2 and stereo == "reject":
        raise AudioFileError(f"{p}: is stereo; expected mono (set data.raw.stereo=downmix to average the channels)")
    try:
        data, file_rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{p}: cannot decode audio ({exc}); the file may be truncated") from exc
    if data.shape[0] != info.frames:
        raise AudioFileError(
            f"{p}: decoded {data.shape[0]} frames but the header promises {info.frames}; the file is truncated"
        )

    conversions: list[str] = []
    if info.subtype.startswith("PCM") or info.subtype in ("ULAW", "ALAW"):
        conversions.append(f"integer {info.subtype} scaled to float32 in [-1, 1)")
    bad = ~np.isfinite(data)
    if bad.any():
        first = int(np.argmax(bad.any(axis=1)))
        raise AudioFileError(
            f"{p}: contains {int(bad.sum())} NaN/Inf samples (first at frame {first}, "
            f"{first / file_rate:.3f} s); expected finite samples"
        )
    if data.shape[1] == 2:
        mono = data.mean(axis=1, dtype=np.float64)
        conversions.append("stereo downmixed to mono (mean of channels)")
    else:
        mono = data[:, 0].astype(np.float64)
    if file_rate != sample_rate:
        if not resample:
            raise AudioFileError(
                f"{p}: sample rate is {file_rate} Hz; expected {sample_rate} Hz "
                "(set data.raw.resample=true to resample)"
            )
        mono = resample_to(mono, file_rate, sample_rate)
        conversions.append(f"resampled {file_rate} Hz -> {sample_rate} Hz (resample_poly)")
    return LoadedAudio(
        samples=np.ascontiguousarray(mono, dtype=np.float32),
        sample_rate=sample_rate,
        source_rate=int(file_rate),
        source_channels=int(info.channels),
        source_subtype=str(info.subtype),
        conversions=tuple(conversions),
    )


def resample_to(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample ``x`` (shape ``(time,)``) from ``from_rate`` to ``to_rate`` Hz, polyphase.

    The anti-alias filter is ``resample_poly``'s default (Kaiser, beta 5, 10 zero crossings per
    side), designed with :mod:`~distortion_bench.portable_math` instead of ``firwin``, whose
    ``sinc`` and Bessel window go through CPU-dependent NumPy kernels: an imported file then
    becomes the same dry corpus on every CPU.
    """
    ratio = Fraction(int(to_rate), int(from_rate))
    up, down = ratio.numerator, ratio.denominator
    if up == down:
        return np.array(x, dtype=np.float64)
    rate = max(up, down)
    taps = kaiser_lowpass_fir(2 * 10 * rate + 1, 1.0 / rate, 5.0)
    return resample_poly(x, up, down, window=taps)


def write_audio(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int) -> None:
    """Write mono float32 ``samples`` (shape ``(time,)``) as a float32 WAV file, atomically.

    The file is byte-identical for identical samples: no PEAK chunk (it holds a time stamp).
    """
    x = np.asarray(samples)
    if x.ndim != 1 or x.dtype != np.float32:
        raise ValueError(f"write_audio({path}): expected a 1-D float32 array, got shape {x.shape} {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"write_audio({path}): refusing to write NaN/Inf samples")
    with atomic_path(path, suffix=".wav") as tmp:
        with sf.SoundFile(str(tmp), "w", samplerate=int(sample_rate), channels=1, subtype="FLOAT", format="WAV") as f:
            sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
            f.write(x)


def find_audio_files(folder: str | os.PathLike[str]) -> list[Path]:
    """All WAV/FLAC files below ``folder`` (recursively), sorted by path for a stable order."""
    root = Path(folder)
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )
