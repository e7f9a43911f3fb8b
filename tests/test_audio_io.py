"""Audio file I/O: every unusable file gives a clear error naming it; conversions are exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SAMPLE_RATE, sine
from distortion_bench.audio_io import find_audio_files, read_audio, write_audio
from distortion_bench.errors import AudioFileError


def write(path: Path, data: np.ndarray, rate: int = SAMPLE_RATE, subtype: str = "FLOAT") -> Path:
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def test_float_wav_round_trip_is_exact(tmp_path):
    x = sine(440.0, 0.5, 1000)
    write_audio(tmp_path / "a.wav", x, SAMPLE_RATE)
    loaded = read_audio(tmp_path / "a.wav", SAMPLE_RATE)
    np.testing.assert_array_equal(loaded.samples, x)
    assert loaded.samples.dtype == np.float32 and loaded.conversions == ()


def test_written_files_are_byte_identical_and_have_no_timestamped_peak_chunk(tmp_path):
    x = sine(440.0, 0.5, 1000)
    write_audio(tmp_path / "a.wav", x, SAMPLE_RATE)
    write_audio(tmp_path / "b.wav", x, SAMPLE_RATE)
    a, b = (tmp_path / "a.wav").read_bytes(), (tmp_path / "b.wav").read_bytes()
    assert a == b
    assert b"PEAK" not in a


def test_write_refuses_nan_and_keeps_the_existing_file(tmp_path):
    target = tmp_path / "a.wav"
    write_audio(target, sine(440.0, 0.5, 100), SAMPLE_RATE)
    before = target.read_bytes()
    bad = sine(440.0, 0.5, 100)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_audio(target, bad, SAMPLE_RATE)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temporary file left behind


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match=r"nope\.wav: no such audio file"):
        read_audio(tmp_path / "nope.wav", SAMPLE_RATE)


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioFileError, match=r"empty\.wav: file is empty"):
        read_audio(tmp_path / "empty.wav", SAMPLE_RATE)


def test_wav_with_no_frames(tmp_path):
    write(tmp_path / "zero.wav", np.zeros(0, np.float32))
    with pytest.raises(AudioFileError, match=r"zero\.wav: contains no audio frames"):
        read_audio(tmp_path / "zero.wav", SAMPLE_RATE)


def test_non_audio_file(tmp_path):
    (tmp_path / "notes.wav").write_text("these are not samples\n" * 20)
    with pytest.raises(AudioFileError, match=r"notes\.wav: not a readable audio file.*expected WAV or FLAC"):
        read_audio(tmp_path / "notes.wav", SAMPLE_RATE)


@pytest.mark.parametrize("fmt, subtype", [("wav", "FLOAT"), ("wav", "PCM_16"), ("flac", "PCM_16")])
def test_truncated_file(tmp_path, fmt, subtype):
    full = write(tmp_path / f"full.{fmt}", sine(440.0, 0.5, 20000), subtype=subtype)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match=rf"cut\.{fmt}: .*truncated"):
        read_audio(cut, SAMPLE_RATE)


@pytest.mark.parametrize("value, name", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "neginf")])
def test_non_finite_samples(tmp_path, value, name):
    x = sine(440.0, 0.5, 4800)
    x[2400] = value
    path = write(tmp_path / f"{name}.wav", x)
    with pytest.raises(
        AudioFileError, match=rf"{name}\.wav: contains 1 NaN/Inf samples \(first at frame 2400, 0\.050 s\)"
    ):
        read_audio(path, SAMPLE_RATE)


@pytest.mark.parametrize("subtype, peak_code", [("PCM_16", 2**15), ("PCM_24", 2**23), ("PCM_32", 2**31)])
def test_integer_formats_are_scaled_to_float(tmp_path, subtype, peak_code):
    codes = np.array([0, peak_code // 2, -peak_code, peak_code - 1], dtype=np.int64)
    dtype = np.int16 if subtype == "PCM_16" else np.int32
    scaled = codes if subtype != "PCM_24" else codes << 8  # soundfile takes 24-bit in int32's top bits
    path = write(tmp_path / "int.wav", scaled.astype(dtype), subtype=subtype)
    loaded = read_audio(path, SAMPLE_RATE)
    np.testing.assert_allclose(loaded.samples, codes / peak_code, atol=1e-7)
    assert loaded.conversions == (f"integer {subtype} scaled to float32 in [-1, 1)",)


def test_stereo_is_downmixed_or_rejected(tmp_path):
    left, right = sine(440.0, 0.5, 1000), sine(660.0, 0.25, 1000)
    path = write(tmp_path / "stereo.wav", np.stack([left, right], axis=1))
    mixed = read_audio(path, SAMPLE_RATE, stereo="downmix")
    np.testing.assert_allclose(mixed.samples, (left + right) / 2, atol=1e-7)
    assert "stereo downmixed to mono (mean of channels)" in mixed.conversions
    with pytest.raises(AudioFileError, match=r"stereo\.wav: is stereo; expected mono \(set data\.raw\.stereo=downmix"):
        read_audio(path, SAMPLE_RATE, stereo="reject")


def test_more_than_two_channels_is_rejected(tmp_path):
    path = write(tmp_path / "surround.wav", np.zeros((100, 6), np.float32))
    with pytest.raises(AudioFileError, match=r"surround\.wav: has 6 channels; expected mono or stereo"):
        read_audio(path, SAMPLE_RATE, stereo="downmix")


def test_wrong_sample_rate_is_rejected_or_resampled(tmp_path):
    x = sine(1000.0, 0.5, 44100, sample_rate=44100)  # 1 s of 1 kHz at 44.1 kHz
    path = write(tmp_path / "cd.wav", x, rate=44100)
    with pytest.raises(AudioFileError, match=r"cd\.wav: sample rate is 44100 Hz; expected 48000 Hz"):
        read_audio(path, SAMPLE_RATE)
    loaded = read_audio(path, SAMPLE_RATE, resample=True)
    assert loaded.samples.shape == (48000,) and loaded.source_rate == 44100
    spectrum = np.abs(np.fft.rfft(loaded.samples * np.hanning(48000)))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins: the tone is still at 1 kHz
    assert "resampled 44100 Hz -> 48000 Hz (resample_poly)" in loaded.conversions


def test_find_audio_files_is_sorted_and_filters_extensions(tmp_path):
    for name in ["b.WAV", "a.flac", "sub/c.wav", "notes.txt", ".hidden.wav"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)] == ["a.flac", "b.WAV", "sub/c.wav"]
    assert find_audio_files(tmp_path / "missing") == []
