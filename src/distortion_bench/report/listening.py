"""A/B listening excerpts: the same moment of a test take through the DSP and every processor.

The offline bench writes ``paths.processed/<effect>/<processor>.wav``: the effect's test takes,
concatenated in dataset order and cut to ``bench.listen_seconds``. An excerpt is the start of
one take inside that window (guitar material first, one per kind of material). Within an
excerpt row every player is gain-matched to the same integrated loudness (ITU-R BS.1770,
pyloudnorm), so level never decides which one sounds "better"; ESR is measured on the
un-matched audio against the DSP reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf

from distortion_bench.analysis.metrics import category_of, esr, residual_esr
from distortion_bench.atomic import atomic_path
from distortion_bench.bench.quality import material_group
from distortion_bench.report.inputs import ReportError


@dataclass(frozen=True)
class TakeSpan:
    """Where one test take lies in the processed (concatenated) audio, in samples."""

    path: str
    start: int
    length: int

    @property
    def category(self) -> str:
        return category_of(self.path)


@dataclass(frozen=True)
class Excerpt:
    """A stretch of the processed audio: ``[start, start + length)`` samples of take ``path``."""

    path: str
    category: str
    start: int
    length: int


@dataclass
class Player:
    """One audio player of an excerpt row.

    Attributes:
        name: registry name (``onnx:tube-tcn``), or ``dry``.
        audio: the excerpt as processed, ``(time,)`` float32.
        esr / residual_esr: against the DSP reference's excerpt (ratios; None where undefined).
        loudness_lufs: integrated loudness before matching (-inf for silence).
        gain_db: the gain the row applied to match loudness.
    """

    name: str
    audio: np.ndarray
    esr: float | None = None
    residual_esr: float | None = None
    loudness_lufs: float = -math.inf
    gain_db: float = 0.0

    @property
    def matched(self) -> np.ndarray:
        """The loudness-matched excerpt, ``(time,)`` float32."""
        return (self.audio * np.float32(10.0 ** (self.gain_db / 20.0))).astype(np.float32)


def take_spans(paths: Sequence[str], lengths: Sequence[int]) -> list[TakeSpan]:
    """Each take's place in the concatenation of all takes (dataset order)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int) if len(lengths) else []
    return [TakeSpan(p, int(s), int(n)) for p, s, n in zip(paths, starts, lengths)]


def choose_excerpts(
    spans: Sequence[TakeSpan], available: int, count: int, max_samples: int, min_samples: int
) -> list[Excerpt]:
    """Up to ``count`` excerpts from the takes inside the first ``available`` samples.

    Played material (guitar, bass) comes first, then measurement signals; within a group the
    kinds of material take turns (a pluck, a chord, a palm mute, ... before a second pluck).
    Each excerpt starts where its take starts (the attack is heard) and lasts at most
    ``max_samples``; a take with fewer than ``min_samples`` inside the window is skipped.
    """
    usable = [s for s in spans if min(s.length, available - s.start) >= min_samples]
    chosen: list[TakeSpan] = []
    for group in ("guitar", "measurement", "other"):
        kinds: dict[str, list[TakeSpan]] = {}
        for s in usable:
            if material_group(s.category) == group:
                kinds.setdefault(s.category, []).append(s)
        queues = list(kinds.values())
        while queues and len(chosen) < count:
            for queue in queues:
                if len(chosen) < count:
                    chosen.append(queue.pop(0))
            queues = [q for q in queues if q]
    return [Excerpt(s.path, s.category, s.start, min(s.length, available - s.start, max_samples)) for s in chosen]


def match_loudness(players: Sequence[Player], sample_rate: int, target_lufs: float, peak_dbfs: float) -> float:
    """Set every player's ``gain_db`` so the row shares one integrated loudness; returns it (LUFS).

    The common loudness is ``target_lufs``, lowered where a player would otherwise peak above
    ``peak_dbfs``; a silent player keeps gain 0 dB.
    """
    meter = pyloudnorm.Meter(sample_rate)
    row = float(target_lufs)
    for p in players:
        p.loudness_lufs = float(meter.integrated_loudness(p.audio.astype(np.float64)))
        peak = float(np.max(np.abs(p.audio))) if p.audio.size else 0.0
        if math.isfinite(p.loudness_lufs) and peak > 0.0:
            row = min(row, p.loudness_lufs + peak_dbfs - 20.0 * math.log10(peak))
    for p in players:
        p.gain_db = row - p.loudness_lufs if math.isfinite(p.loudness_lufs) else 0.0
    return row


def excerpt_players(processed: dict[str, np.ndarray], reference: str, excerpt: Excerpt) -> list[Player]:
    """The row's players: dry, the DSP reference, then every other processor (in the order given),
    each with ESR and residual ESR against the reference over the excerpt."""
    cut = slice(excerpt.start, excerpt.start + excerpt.length)
    dry, ref = processed["dry"][cut], processed[reference][cut]
    players = []
    for name in ["dry", reference, *[n for n in processed if n not in ("dry", reference)]]:
        audio = np.ascontiguousarray(processed[name][cut], dtype=np.float32)
        players.append(Player(name, audio, esr(ref, audio), residual_esr(dry, ref, audio)))
    return players


def check_layout(processed_dry: np.ndarray, dataset_dry: np.ndarray, where: Path) -> None:
    """Refuse processed audio that is not the dataset's test takes (a stale ``offline_bench`` output)."""
    n = min(processed_dry.size, dataset_dry.size)
    if processed_dry.size > dataset_dry.size or not np.allclose(processed_dry[:n], dataset_dry[:n], atol=1e-6):
        raise ReportError(
            f"{where}: does not hold the start of the test takes of the dataset; the processed "
            "audio is from another run: run `dvc repro offline_bench`"
        )


def read_processed(folder: Path, sample_rate: int) -> dict[str, np.ndarray]:
    """``<folder>/<stem>.wav`` as ``{registry name: (time,) float32}`` (``onnx_tube-tcn`` -> ``onnx:tube-tcn``)."""
    out = {}
    for path in sorted(folder.glob("*.wav")):
        try:
            audio, sr = sf.read(str(path), dtype="float32", always_2d=False)
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            raise ReportError(f"{path}: cannot read it as audio ({exc})") from exc
        if sr != sample_rate or audio.ndim != 1:
            raise ReportError(
                f"{path}: expected mono audio at {sample_rate} Hz (audio.sample_rate), got "
                f"{audio.ndim} channel(s) at {sr} Hz"
            )
        out[path.stem if path.stem == "dry" else path.stem.replace("_", ":", 1)] = audio
    return out


def write_mp3(path: Path, audio: np.ndarray, sample_rate: int, quality: float) -> float:
    """``audio`` (``(time,)`` float32, clipped to [-1, 1]) as a mono VBR MP3, atomically; returns
    the decoded file's peak in dBFS (-inf when silent).

    ``quality`` is libsndfile's compression level: 0 best and largest, 1 smallest. The encoder is
    deterministic: equal audio gives a byte-identical file. The peak is read back from the file
    because MP3 encoding moves peaks (its filter bank overshoots by a few tenths of a dB).
    """
    with atomic_path(path, suffix=".mp3") as tmp:
        sf.write(
            str(tmp),
            np.clip(audio, -1.0, 1.0),
            sample_rate,
            format="MP3",
            subtype="MPEG_LAYER_III",
            compression_level=float(quality),
            bitrate_mode="VARIABLE",
        )
        decoded, _ = sf.read(str(tmp), dtype="float32", always_2d=False)
    peak = float(np.max(np.abs(decoded))) if decoded.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0.0 else float("-inf")


#: encode a row at most this many times while lowering it under the ceiling
MP3_CEILING_TRIES = 4
#: headroom (dB) added to each correction, so the next encoding lands under the ceiling
MP3_CEILING_MARGIN_DB = 0.05


def write_row_mp3(
    players: Sequence[Player], paths: Sequence[Path], sample_rate: int, quality: float, ceiling_dbfs: float
) -> float:
    """Every player of a row as MP3 with no decoded peak above ``ceiling_dbfs``.

    Where an encoded file overshoots, the whole row is lowered by the overshoot (keeping its
    players' loudness equal) and encoded again. Returns the correction applied (dB, <= 0); the
    players' ``gain_db`` include it.
    """
    correction = 0.0
    for _ in range(MP3_CEILING_TRIES):
        peaks = [write_mp3(path, p.matched, sample_rate, quality) for p, path in zip(players, paths)]
        over = max(peaks, default=float("-inf")) - ceiling_dbfs
        if over <= 0.0:
            return correction
        step = over + MP3_CEILING_MARGIN_DB
        correction -= step
        for p in players:
            p.gain_db -= step
    raise ReportError(
        f"{paths[0].parent}: the MP3s still peak above {ceiling_dbfs} dBFS after "
        f"{MP3_CEILING_TRIES} encodings (lowered {-correction:.2f} dB)"
    )
