"""The data stages as library calls on the smoke config, in a temporary folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import SAMPLE_RATE, compose, sine
from distortion_bench.audio_io import read_audio
from distortion_bench.data import dataset, dry_corpus, render
from distortion_bench.dsp import build_effect
from distortion_bench.errors import AudioFileError, DistortionBenchError


def smoke_cfg(root: Path, *extra: str):
    return compose(
        "experiment=smoke",
        f"paths.raw={root}/raw",
        f"paths.dry={root}/dry",
        f"paths.targets={root}/targets",
        f"paths.datasets={root}/datasets",
        *extra,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Dry corpus (with two user files), targets and datasets for both effects."""
    root = tmp_path_factory.mktemp("smoke")
    (root / "raw" / "takes").mkdir(parents=True)
    stereo = np.stack([sine(220.0, 0.5, 44100, 44100), sine(330.0, 0.3, 44100, 44100)], axis=1)
    sf.write(root / "raw" / "takes" / "stereo_cd.wav", stereo, 44100, subtype="PCM_16")
    sf.write(root / "raw" / "mono.flac", sine(110.0, 0.8, 24000), SAMPLE_RATE, subtype="PCM_24")
    cfg = smoke_cfg(root)
    dry_corpus.run(cfg)
    render.run(cfg)
    dataset.run(cfg)
    return root, cfg


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_dry_manifest_lists_synth_and_converted_user_files(built):
    root, _ = built
    manifest = load(root / "dry" / "manifest.json")
    by_path = {f["path"]: f for f in manifest["files"]}
    user = by_path["user/takes/stereo_cd.wav"]
    assert user["category"] == "user" and user["source"] == "user:takes/stereo_cd.wav"
    assert user["frames"] == SAMPLE_RATE  # 1 s at 44.1 kHz resampled to 48 kHz
    assert user["conversions"] == [
        "integer PCM_16 scaled to float32 in [-1, 1)",
        "stereo downmixed to mono (mean of channels)",
        "resampled 44100 Hz -> 48000 Hz (resample_poly)",
    ]
    assert by_path["user/mono.wav"]["frames"] == 24000
    categories = {f["category"] for f in manifest["files"]}
    assert categories == {"pluck", "chord", "palm_mute", "slide", "bass", "sweep", "tone", "noise", "user"}
    total = sum(f["seconds"] for f in manifest["files"])
    assert manifest["total_seconds"] == pytest.approx(total, abs=1e-3)
    for f in manifest["files"]:
        info = sf.info(root / "dry" / f["path"])
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (SAMPLE_RATE, 1, "FLOAT", f["frames"])


@pytest.mark.parametrize("effect_name", ["tube", "bitcrush", "clipper"])
def test_targets_are_the_numba_effect_of_each_dry_file(built, effect_name):
    """Each target is the Numba effect of its dry file, aligned by the effect's latency (the
    clipper's oversampling filters: 23 samples), and the NumPy form agrees."""
    root, cfg = built
    manifest = load(root / "targets" / effect_name / "manifest.json")
    assert manifest["params"]["implementation"] == "numba"
    numba_fx = build_effect(cfg.effects[effect_name], SAMPLE_RATE, "numba")
    numpy_fx = build_effect(cfg.effects[effect_name], SAMPLE_RATE, "numpy")
    assert numba_fx.latency_samples() == (23 if effect_name == "clipper" else 0)
    # the clipper's NumPy solver is a Python loop per high-rate sample: two files are enough
    for f in manifest["files"][:: 13 if effect_name == "clipper" else 5]:
        x = read_audio(root / "dry" / f["path"], SAMPLE_RATE).samples
        y = read_audio(root / "targets" / effect_name / f["path"], SAMPLE_RATE).samples
        np.testing.assert_array_equal(y, numba_fx.process_aligned(x))
        assert np.max(np.abs(y - numpy_fx.process_aligned(x))) <= 1e-6


@pytest.mark.parametrize("effect_name", ["tube", "bitcrush"])
def test_dataset_segments_are_aligned_slices_of_whole_takes(built, effect_name):
    root, _ = built
    folder = root / "datasets" / effect_name
    manifest = load(folder / "manifest.json")
    seg = manifest["segment_samples"]
    assert seg == 12000  # smoke: 0.25 s
    seen: dict[str, str] = {}
    for split, info in manifest["splits"].items():
        inputs = np.load(folder / split / "input.npy", mmap_mode="r")
        targets = np.load(folder / split / "target.npy", mmap_mode="r")
        assert inputs.shape == targets.shape == (info["segments"], seg)
        assert inputs.dtype == targets.dtype == np.float32
        assert info["seconds"] == pytest.approx(info["segments"] * seg / SAMPLE_RATE)
        assert sum(info["seconds_by_category"].values()) == pytest.approx(info["seconds"], abs=1e-2)
        assert info["segments"] > 0
        for take in info["takes"]:
            assert take["path"] not in seen, f"{take['path']} in {seen.get(take['path'])} and {split}"
            seen[take["path"]] = split
            x = read_audio(root / "dry" / take["path"], SAMPLE_RATE).samples
            y = read_audio(root / "targets" / effect_name / take["path"], SAMPLE_RATE).samples
            rows = slice(take["first_segment"], take["first_segment"] + take["segments"])
            used = take["segments"] * seg
            np.testing.assert_array_equal(inputs[rows].reshape(-1), x[:used])
            np.testing.assert_array_equal(targets[rows].reshape(-1), y[:used])
            assert take["dropped_samples"] == x.size - used < seg
    # Each synthesized kind of material (3 takes each in smoke) is in every split.
    for split in ("train", "val", "test"):
        categories = {t["category"] for t in manifest["splits"][split]["takes"]}
        assert {"pluck", "chord", "palm_mute", "slide", "bass", "sweep"} <= categories


def test_both_effects_use_the_same_split(built):
    root, _ = built

    def split_of(effect_name):
        m = load(root / "datasets" / effect_name / "manifest.json")
        return {t["path"]: s for s, info in m["splits"].items() for t in info["takes"]}

    assert split_of("tube") == split_of("bitcrush")


def test_rejected_user_file_leaves_previous_corpus_intact(built, tmp_path):
    root, _ = built
    work = tmp_path / "work"
    shutil.copytree(root / "dry", work / "dry")
    (work / "raw").mkdir()
    before = (work / "dry" / "manifest.json").read_bytes()
    sf.write(work / "raw" / "stereo.wav", np.zeros((100, 2), np.float32), SAMPLE_RATE)
    cfg = smoke_cfg(work, "data.raw.stereo=reject")
    with pytest.raises(AudioFileError, match=r"stereo\.wav: is stereo; expected mono"):
        dry_corpus.run(cfg)
    assert (work / "dry" / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in work.iterdir()) == ["dry", "raw"]  # no temporary folder left


def test_stages_explain_what_is_missing_or_stale(built, tmp_path):
    root, _ = built
    cfg = smoke_cfg(tmp_path)
    with pytest.raises(DistortionBenchError, match=r"dry/manifest\.json: missing; run the `prepare_dry` stage"):
        render.run(cfg)
    shutil.copytree(root / "dry", tmp_path / "dry")
    shutil.copytree(root / "targets", tmp_path / "targets")
    (tmp_path / "dry" / "extra").mkdir()
    manifest = load(tmp_path / "dry" / "manifest.json")
    manifest["files"].append({**manifest["files"][0], "path": "extra/new.wav"})
    (tmp_path / "dry" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DistortionBenchError, match="targets do not match the dry corpus.*re-run render_targets"):
        dataset.run(cfg)


def test_segments_longer_than_every_take_are_refused(built, tmp_path):
    root, _ = built
    shutil.copytree(root / "dry", tmp_path / "dry")
    shutil.copytree(root / "targets", tmp_path / "targets")
    with pytest.raises(DistortionBenchError, match=r"split '\w+' has no segments.*data\.segment_seconds=30"):
        dataset.run(smoke_cfg(tmp_path, "data.segment_seconds=30"))
    assert not (tmp_path / "datasets" / "tube").exists()
