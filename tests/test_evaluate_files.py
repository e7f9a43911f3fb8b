"""`distortion-bench evaluate`: your own recordings through the DSP reference and processors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, compose, noise, sine
from distortion_bench.analysis.band_levels import band_difference_db, band_levels_db
from distortion_bench.analysis.metrics import esr, signal_quality
from distortion_bench.bench.evaluate_files import EvaluationPlan, evaluate_folder, plan_from_config
from distortion_bench.config import plain
from distortion_bench.dsp.knobs import KnobError
from distortion_bench.engine.dsp_processors import dsp_processor
from distortion_bench.engine.registry import build_processor
from distortion_bench.errors import AudioFileError, ConfigError

SR = 48000


@pytest.fixture
def recordings(tmp_path):
    folder = tmp_path / "di"
    (folder / "bass").mkdir(parents=True)
    sf.write(folder / "riff.wav", sine(220.0, 0.25, SR // 2), SR, subtype="PCM_24")
    stereo = np.stack([noise(SR // 4, 0.1, seed=1), noise(SR // 4, 0.1, seed=2)], axis=1)
    sf.write(folder / "bass" / "line.flac", stereo, 44100)  # stereo, another rate: downmixed, resampled
    return folder


def _exact_tube(cfg):
    """The exact sample-by-sample tube, what evaluate scores against (``numba:tube`` streams the fast form)."""
    return dsp_processor(plain(cfg.effects.tube), "tube", SR, "numba", exact=True)


def test_evaluate_writes_the_table_and_the_audio(recordings, tmp_path):
    cfg = compose()
    plan = EvaluationPlan(("numba:tube", "pedalboard:tube"), True, (-6.0,), 256)
    rows = evaluate_folder(cfg, recordings, tmp_path / "out", plan)
    assert [(r["file"], r["level"], r["processor"]) for r in rows] == [
        (f, lv, p)
        for f in ("bass/line.flac", "riff.wav")
        for lv in ("file", "-6dBFS")
        for p in ("numba:tube", "pedalboard:tube")
    ]
    by = {(r["file"], r["level"], r["processor"]): r for r in rows}
    # the benches' fast form against the exact reference: float32 rounding apart (within 2e-6 of
    # full scale); pedalboard's approximation: measurably not
    assert 0.0 <= by[("riff.wav", "file", "numba:tube")]["esr"] < 1e-10
    assert abs(by[("riff.wav", "file", "numba:tube")]["band_diff_db"]) < 1e-3
    riff = sf.read(recordings / "riff.wav", dtype="float32")[0]  # what the loader reads (24-bit PCM)
    want = esr(
        _exact_tube(cfg).process_signal(riff, 256),
        build_processor("pedalboard:tube", cfg).process_signal(riff, 256),
    )
    assert by[("riff.wav", "file", "pedalboard:tube")]["esr"] == pytest.approx(want, rel=1e-9)
    assert by[("riff.wav", "-6dBFS", "numba:tube")]["peak_dbfs"] == pytest.approx(-6.0, abs=0.01)
    assert by[("riff.wav", "file", "numba:tube")]["peak_dbfs"] == pytest.approx(-12.04, abs=0.01)
    with open(tmp_path / "out" / "evaluate.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
    md = (tmp_path / "out" / "evaluate.md").read_text()
    assert "## Median over files" in md and "| `pedalboard:tube` | -6dBFS |" in md
    audio = tmp_path / "out" / "audio" / "riff" / "file"
    assert sorted(p.name for p in audio.iterdir()) == [
        "dry.wav",
        "numba_tube.wav",
        "pedalboard_tube.wav",
        "reference_tube.wav",
    ]
    dry, rate = sf.read(audio / "dry.wav", dtype="float32")
    assert rate == SR and np.max(np.abs(dry - riff)) == 0.0
    # the written reference is exactly what was scored (float: a tube output past full scale stays unclipped)
    reference, _ = sf.read(audio / "reference_tube.wav", dtype="float32")
    np.testing.assert_array_equal(reference, _exact_tube(cfg).process_signal(dry, 256))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: (d / "empty.wav").write_bytes(b""), r"empty\.wav: file is empty"),
        (lambda d: (d / "text.flac").write_text("not audio"), r"text\.flac: not a readable audio file"),
        (lambda d: sf.write(d / "four.wav", np.zeros((100, 4)), SR), r"four\.wav: has 4 channels"),
    ],
)
def test_bad_files_get_the_loaders_clear_errors_and_nothing_is_written(recordings, tmp_path, make, match):
    make(recordings)
    out = tmp_path / "out"
    with pytest.raises(AudioFileError, match=match):
        evaluate_folder(compose(), recordings, out, EvaluationPlan(("numba:tube",), True, (), 256))
    assert not out.exists()


def test_missing_or_empty_folder(tmp_path):
    plan = EvaluationPlan(("numba:tube",), True, (), 256)
    with pytest.raises(AudioFileError, match="no such folder"):
        evaluate_folder(compose(), tmp_path / "nope", tmp_path / "out", plan)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioFileError, match="no WAV or FLAC files"):
        evaluate_folder(compose(), tmp_path / "empty", tmp_path / "out", plan)


def test_plan_from_config_and_bad_values():
    plan = plan_from_config(compose())
    assert plan.processors == (
        "pedalboard:tube",
        "onnx:tube-tcn",
        "onnx:tube-lstm",
        "onnx:tube-shaper",
        "pedalboard:bitcrush",
        "onnx:bitcrush-shaper",
        # pedalboard has no diode clipper (bench.dsp_by_effect.clipper)
        "onnx:clipper-lstm8",
        "onnx:clipper-tcn_short",
    )
    assert plan.peak_levels_dbfs == (-18.0, -6.0, 0.0) and plan.file_level and plan.buffer_size == 512
    with pytest.raises(ConfigError, match=r"evaluate\.peak_levels_dbfs: expected peak levels in -120\.\.0"):
        plan_from_config(compose("evaluate.peak_levels_dbfs=[3.0]"))
    with pytest.raises(ConfigError, match=r"evaluate\.buffer_size: expected a positive number"):
        plan_from_config(compose("evaluate.buffer_size=0"))


def test_band_levels_of_a_sine_and_its_difference():
    x = sine(1000.0, 0.5, SR)
    centres, levels = band_levels_db(x, SR)
    assert centres[np.argmax(levels)] == pytest.approx(1000.0)
    assert levels.max() == pytest.approx(10 * np.log10(0.5**2 / 2), abs=0.2)  # a sine's power
    assert band_difference_db(x, 0.5 * x, SR) == pytest.approx(20 * np.log10(2), abs=1e-6)
    assert band_difference_db(np.zeros(4096), np.zeros(4096), SR) is None
    assert band_difference_db(np.zeros(SR), x, SR) > 100.0  # a model that plays where the DSP is silent


def test_evaluate_sees_an_added_tone_an_inversion_and_a_dropout():
    # each defect on a DSP output is seen by the table's band difference, ESR or both
    t = np.arange(4 * SR) / SR
    x = (0.5 * np.sin(2 * np.pi * 110.0 * t) * np.exp(-0.5 * t)).astype(np.float32)  # a decaying note
    y = build_processor("numba:tube", compose()).process_signal(x, 512).astype(np.float64)
    whine = y + 10 ** (-40 / 20) * np.sin(2 * np.pi * 10_000 * t)  # -40 dBFS at 10 kHz, where the
    assert band_difference_db(y, whine, SR) > 60.0  # DSP is >100 dB below its loudest
    assert signal_quality(x, y, -y)["esr"] == pytest.approx(4.0)  # polarity: ESR 400 % ...
    assert band_difference_db(y, -y, SR) == pytest.approx(0.0, abs=1e-9)  # ... magnitude alone is blind
    dropout = y.copy()
    dropout[SR : SR + SR // 2] = 0.0  # half a second missing
    assert signal_quality(x, y, dropout)["esr"] > 0.1 and band_difference_db(y, dropout, SR) > 0.5


def test_the_lowest_bands_resolve_a_rumble_below_them():
    # 18 Hz lies below the 25 Hz band's lower edge (22.3 Hz): it must not leak into it
    t = np.arange(10 * SR) / SR
    music = 0.1 * np.sin(2 * np.pi * 25.0 * t) + 0.1 * np.sin(2 * np.pi * 440.0 * t)
    rumble = music + 0.1 * np.sin(2 * np.pi * 18.0 * t)
    assert band_difference_db(music, rumble, SR) < 0.5


def test_cli_evaluate(recordings, tmp_path, capsys):
    from distortion_bench.cli import main

    code = main(
        [
            "evaluate",
            "--input",
            str(recordings),
            "--processors",
            "numba:tube,numpy:tube",
            "--levels",
            "-12",
            "--no-file-level",
            "--no-audio",
            "--output",
            str(tmp_path / "o"),
            "--config-dir",
            str(REPO / "conf"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "| `numpy:tube` | -12dBFS |" in out
    assert not (tmp_path / "o" / "audio").exists()
    assert main(["evaluate", "--input", str(recordings), "--levels", "loud", "--config-dir", str(REPO / "conf")]) == 2
    assert "--levels: expected comma-separated numbers, got 'loud'" in capsys.readouterr().err
    assert (
        main(
            [
                "evaluate",
                "--input",
                str(tmp_path / "missing"),
                "--processors",
                "numba:tube",
                "--config-dir",
                str(REPO / "conf"),
            ]
        )
        == 2
    )
    assert "missing: no such folder" in capsys.readouterr().err


def test_evaluate_at_a_knob_setting_renders_the_reference_there_and_refuses_fixed_models(recordings, tmp_path):
    from distortion_bench.nn.export import export_onnx
    from distortion_bench.nn.models import build_model

    cfg = compose(f"paths.exported={tmp_path / 'exported'}")
    plan = EvaluationPlan(("numba:tube", "numpy:tube"), True, (), 256, False, (("gain_db", 18.0), ("bias", 0.1)))
    rows = evaluate_folder(cfg, recordings, tmp_path / "out", plan)
    riff = sf.read(recordings / "riff.wav", dtype="float32")[0]
    reference, numpy_at = _exact_tube(cfg), build_processor("numpy:tube", cfg)
    for proc in (reference, numpy_at):
        proc.set_knobs(at_once=True, gain_db=18.0, bias=0.1)
    at_18 = reference.process_signal(riff, 256, reset=False)
    want = esr(at_18, numpy_at.process_signal(riff, 256, reset=False))
    by = {(r["file"], r["processor"]): r for r in rows}
    assert by[("riff.wav", "numba:tube")]["esr"] < 1e-10  # the fast form, at the same setting
    assert by[("riff.wav", "numpy:tube")]["esr"] == pytest.approx(want, rel=1e-9)
    # the references rendered 18 dB, not the configured 12 dB: the dry riff's residual says so
    default = evaluate_folder(cfg, recordings, tmp_path / "default", EvaluationPlan(("numba:tube",), True, (), 256))
    at_12 = _exact_tube(cfg).process_signal(riff, 256)
    assert not np.allclose(at_12, at_18, atol=1e-3)
    assert next(r for r in default if r["file"] == "riff.wav")["esr"] < 1e-10
    assert "at gain_db = 18, bias = 0.1" in (tmp_path / "out" / "evaluate.md").read_text()
    # a knob outside the range, or a processor without knobs, is refused before anything is written
    bad = EvaluationPlan(("numpy:tube",), True, (), 256, False, (("gain_db", 30.0),))
    with pytest.raises(KnobError, match="'gain_db': expected a number in 0..24 dB, got 30"):
        evaluate_folder(cfg, recordings, tmp_path / "bad", bad)
    fixed = build_model({"type": "lstm", "size": 4, "layers": 1, "skip": True, "warmup_samples": 0}, SR)
    export_onnx(fixed, tmp_path / "exported" / "tube-lstm.onnx", SR, {"effect": "tube", "model": "lstm"})
    with pytest.raises(ConfigError, match="onnx:tube-lstm has no knobs \\(a fixed-setting model\\)"):
        evaluate_folder(
            cfg,
            recordings,
            tmp_path / "bad",
            EvaluationPlan(("onnx:tube-lstm",), True, (), 256, False, (("gain_db", 6.0),)),
        )
    assert not (tmp_path / "bad").exists()
    # default processors at a setting: the knob-conditioned pairs
    assert plan_from_config(cfg, knobs={"gain_db": 6.0}).processors == ("onnx:tube-lstm-knobs", "onnx:tube-tcn-knobs")
    assert plan_from_config(cfg, knobs={"bits": 6}).processors == ("onnx:bitcrush-shaper-knobs",)


def test_a_processor_with_latency_is_scored_aligned(recordings, tmp_path):
    """The clipper's oversampling filters delay its output by 23 samples: the 16x reference and the
    2x variant are compared aligned, and so is the 1x solver, which has no delay (unaligned, each
    would read as an error the size of the signal)."""
    plan = EvaluationPlan(("numba:clipper-os2", "numba:clipper-os1"), True, (0.0,), 256)
    rows = evaluate_folder(compose(), recordings, tmp_path / "out", plan)
    by = {(r["file"], r["level"], r["processor"]): r["esr"] for r in rows}
    assert by[("riff.wav", "0dBFS", "numba:clipper-os2")] < 1e-4  # the factor, not the delay
    assert by[("riff.wav", "0dBFS", "numba:clipper-os1")] < 1e-2
