"""Quality per kind of material: constructed takes with a known error per category."""

from __future__ import annotations

import numpy as np
import pytest

from distortion_bench.analysis.metrics import category_of, esr, quality_by_category, residual_esr
from distortion_bench.bench.comparison import material_table
from distortion_bench.bench.quality import material_group, quality_by_material

SR = 1000


def takes():
    """Three categories; the target is 2x the dry signal; the estimate misses by known amounts."""
    rng = np.random.default_rng(3)
    paths = ["pluck/a.wav", "pluck/b.wav", "noise/n.wav", "tone/t.wav"]
    dry = [rng.standard_normal(n).astype(np.float32) for n in (1000, 3000, 2000, 500)]
    target = [2 * d for d in dry]
    errors = {"pluck": 0.0, "noise": 0.1, "tone": 0.01}  # estimate = target * (1 + e): ESR = e^2
    estimate = [t * (1 + errors[category_of(p)]) for p, t in zip(paths, target)]
    return paths, dry, target, estimate


def test_each_category_gets_its_own_error():
    paths, dry, target, estimate = takes()
    q = quality_by_category(paths, dry, target, estimate, SR)
    assert list(q) == ["pooled", "noise", "pluck", "tone"]
    assert q["pluck"]["esr"] == 0.0 and q["pluck"]["takes"] == 2 and q["pluck"]["seconds"] == 4.0
    assert q["noise"]["esr"] == pytest.approx(0.01, rel=1e-6)
    assert q["tone"]["esr"] == pytest.approx(1e-4, rel=1e-5)
    # residual ESR: the effect adds `target - dry = dry`, the error is e * target = 2 e dry
    assert q["noise"]["residual_esr"] == pytest.approx(4 * 0.01, rel=1e-6)
    # pooled = the concatenation, and the shares say where the error is
    cat = lambda xs: np.concatenate(xs)  # noqa: E731
    assert q["pooled"]["esr"] == pytest.approx(esr(cat(target), cat(estimate)))
    assert q["pooled"]["residual_esr"] == pytest.approx(residual_esr(cat(dry), cat(target), cat(estimate)))
    noise_err = 0.01 * float(np.sum(target[2].astype(np.float64) ** 2))
    tone_err = 1e-4 * float(np.sum(target[3].astype(np.float64) ** 2))
    assert q["noise"]["share_of_error"] == pytest.approx(noise_err / (noise_err + tone_err), rel=1e-5)
    assert q["pluck"]["share_of_error"] == 0.0
    assert sum(q[c]["share_of_error"] for c in ("noise", "pluck", "tone")) == pytest.approx(1.0)


def test_guitar_and_measurement_groups():
    paths, dry, target, estimate = takes()
    q = quality_by_material(paths, dry, target, estimate, SR)
    assert material_group("pluck") == "guitar" and material_group("user") == "guitar"
    assert material_group("noise") == "measurement" and material_group("weird") == "other"
    assert q["by_group"]["guitar"]["esr"] == 0.0 and q["by_group"]["guitar"]["takes"] == 2
    assert q["by_group"]["measurement"]["share_of_error"] == pytest.approx(1.0)
    assert q["by_group"]["measurement"]["esr"] == pytest.approx(
        esr(np.concatenate(target[2:]), np.concatenate(estimate[2:]))
    )
    table = material_table("tube", [{"name": "numba:tube", "quality": q}, {"name": "onnx:tube-lstm", "quality": q}])
    assert "`numba:tube`" not in table  # the reference is 0 by definition
    assert "| **guitar material** (2, 4.0 s) | 0 % / 0 / 0 (0 %) |" in table
    assert "| noise (1, 2.0 s) | 1 % / 0.04 / " in table
    assert "| tone (1, 0.5 s) | 0.01 % / 0.0004 / undefined (" in table  # too short for MR-STFT


def test_no_error_anywhere_gives_no_shares():
    paths, dry, target, _ = takes()
    q = quality_by_category(paths, dry, target, target, SR)
    assert q["pooled"]["esr"] == 0.0 and all(q[c]["share_of_error"] is None for c in ("noise", "pluck", "tone"))


def test_mismatched_counts_and_shapes_are_refused():
    paths, dry, target, estimate = takes()
    with pytest.raises(ValueError, match="expected one path per take, got 3 paths for 4 dry"):
        quality_by_category(paths[:3], dry, target, estimate, SR)
    y = np.ones(100)
    with pytest.raises(ValueError, match=r"target \(100,\), estimate \(100, 1\)"):
        esr(y, y[:, None])  # would broadcast to (100, 100) and return a plausible number
    with pytest.raises(ValueError, match=r"dry \(99,\), target \(100,\), estimate \(100,\)"):
        residual_esr(y[:99], y, y)


def test_capture_summary_says_what_each_processor_captures():
    from distortion_bench.bench.comparison import capture_summary

    entries = [
        {"name": "numba:bitcrush", "quality": {"residual_esr": 0.0}},
        {
            "name": "onnx:bitcrush-lstm",
            "quality": {"residual_esr": 1.01, "by_group": {"guitar": {"residual_esr": 1.0}}},
        },
        {"name": "onnx:bitcrush-shaper", "quality": {"residual_esr": 0.03}},
        {"name": "onnx:bitcrush-tcn", "quality": {"residual_esr": 0.3}},
        {"name": "torch:bitcrush-tcn", "quality": {"residual_esr": None}},
    ]
    text = capture_summary("bitcrush", entries)
    lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert lines == [
        "- `onnx:bitcrush-shaper` captures it: residual ESR 0.03 (97 % of what the effect adds reproduced)",
        "- `onnx:bitcrush-tcn` captures part of it: residual ESR 0.3 (70 % of what the effect adds reproduced)",
        "- `onnx:bitcrush-lstm` captures none of it: residual ESR 1.01 (0 % of what the effect adds reproduced; "
        "on guitar material 1)",
    ]
    assert capture_summary("tube", entries[:1]) == ""
