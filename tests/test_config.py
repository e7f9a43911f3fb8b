"""Config: params.yaml never drifts from conf/; composition and entry points fail clearly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from conftest import REPO, compose
from distortion_bench.config import compose_config, recorded_overrides, selected_effects, snapshot_text
from distortion_bench.errors import ConfigError


def test_params_yaml_is_the_composition_of_conf():
    """Fails when conf/ was edited without `make params` (or params.yaml by hand)."""
    params = REPO / "params.yaml"
    overrides = recorded_overrides(params)
    expected = snapshot_text(compose_config(REPO / "conf", overrides), overrides)
    assert params.read_text(encoding="utf-8") == expected, "params.yaml is stale: run `make params`"


def test_snapshot_records_overrides_and_has_hydra_runtime():
    text = snapshot_text(compose("experiment=smoke"), ["experiment=smoke"])
    data = yaml.safe_load(text)
    assert data["compose_overrides"] == ["experiment=smoke"]
    assert data["hydra"] == {"run": {"dir": "."}, "output_subdir": None, "job": {"chdir": False}}
    assert data["data"]["segment_seconds"] == 0.25
    assert data["data"]["synth"]["guitar"]["takes"]["pluck"] == 3
    assert "${" not in text  # fully resolved


def test_default_config_values():
    cfg = compose()
    assert cfg.audio.sample_rate == 48000
    assert set(cfg.effects) == {"tube", "bitcrush"}
    assert cfg.effects.tube.lowpass_hz == 4000.0 and cfg.effects.bitcrush.bits == 8


def test_selected_effects():
    cfg = compose()
    assert list(selected_effects(cfg)) == ["tube", "bitcrush"]
    assert list(selected_effects(compose("select.effect=bitcrush"))) == ["bitcrush"]
    with pytest.raises(ConfigError, match=r"select\.effect: 'fuzz' is not a key of effects"):
        selected_effects(compose("select.effect=fuzz"))


def test_check_command_reports_stale_snapshot(tmp_path):
    stale = tmp_path / "params.yaml"
    stale.write_text((REPO / "params.yaml").read_text().replace("bits: 8", "bits: 7"))
    cmd = [sys.executable, "-m", "pipeline.compose_params", "--check", "--output", str(stale)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1 and "is stale" in result.stderr
    ok = subprocess.run(cmd[:-1] + [str(REPO / "params.yaml")], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_stage_with_bad_effect_config_exits_with_a_clear_error(tmp_path):
    """The effect is validated before anything is read or written."""
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.render_targets", "effects.bitcrush.bits=0",
         f"paths.dry={tmp_path}/dry", f"paths.targets={tmp_path}/targets"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "render_targets: error: effects.bitcrush.bits: expected an integer in 1..24, got 0" in result.stderr
    assert list(tmp_path.iterdir()) == []
