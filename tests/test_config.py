"""Config: params.yaml never drifts from conf/; composition and entry points fail clearly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from conftest import REPO, compose
from distortion_bench.config import (
    HYDRA_RUNTIME_OVERRIDES,
    compose_config,
    plain,
    selected_effects,
    selected_pairs,
    snapshot_status,
    snapshot_text,
    write_snapshot,
)
from distortion_bench.errors import ConfigError


def test_params_yaml_is_the_composition_of_conf():
    """Fails when conf/ was edited without `make params` (or params.yaml by hand)."""
    status = snapshot_status(REPO)
    assert status.ok, status.message


def test_snapshot_records_overrides_and_is_fully_resolved():
    text = snapshot_text(compose("experiment=smoke"), ["experiment=smoke"])
    data = yaml.safe_load(text)
    assert data["compose_overrides"] == ["experiment=smoke"]
    assert "hydra" not in data and "defaults" not in data  # Hydra's runtime comes from dvc.yaml
    assert data["data"]["segment_seconds"] == 0.25
    assert data["data"]["synth"]["guitar"]["takes"]["pluck"] == 3
    assert "${" not in text  # fully resolved


@pytest.mark.parametrize("overrides", [[], ["experiment=smoke"], ["models.lstm.size=16", "train.lr=0.001"]])
def test_make_params_writes_what_dvc_hydra_composition_writes(tmp_path, overrides):
    """`dvc exp run` recomposes params.yaml with DVC's Hydra composition: byte for byte the same
    text (without an override record), so an experiment without -S changes nothing."""
    from dvc.utils.hydra import compose_and_dump

    compose_and_dump(str(tmp_path / "dvc.yaml"), str(REPO / "conf"), None, "config", str(REPO), overrides)
    ours = snapshot_text(compose_config(REPO / "conf", overrides), [])
    assert (tmp_path / "dvc.yaml").read_text(encoding="utf-8") == ours


def test_dvc_stages_pass_hydra_runtime_and_dvc_composes_from_conf():
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    runtime = dvc_yaml["vars"][0]["hydra_runtime"]
    assert runtime.split() == list(HYDRA_RUNTIME_OVERRIDES)
    for name, stage in dvc_yaml["stages"].items():
        cmd = stage.get("cmd") or stage["do"]["cmd"]
        assert "--config-name params ${hydra_runtime}" in cmd, name
    dvc_config = (REPO / ".dvc" / "config").read_text()
    assert "[hydra]" in dvc_config and "enabled = true" in dvc_config and "config_dir = conf" in dvc_config


def _git(repo, *args):
    subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/bin:/bin",
        },
    )


def test_drift_check_accepts_an_experiment_and_refuses_a_stale_conf(tmp_path):
    import shutil

    shutil.copytree(REPO / "conf", tmp_path / "conf")
    write_snapshot(tmp_path / "conf", tmp_path / "params.yaml")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "conf", "params.yaml")
    _git(tmp_path, "commit", "-q", "-m", "base")
    assert snapshot_status(tmp_path).state == "fresh"

    # what `dvc exp run -S models.lstm.size=16` leaves in the workspace
    write_snapshot(tmp_path / "conf", tmp_path / "params.yaml", [])
    (tmp_path / "params.yaml").write_text(snapshot_text(compose_config(tmp_path / "conf", ["models.lstm.size=16"])))
    status = snapshot_status(tmp_path)
    assert status.ok and status.state == "experiment"
    assert status.experiment_overrides == ("models.lstm.size=16",)
    assert "git checkout params.yaml" in status.message

    # conf/ edited without `make params`: stale, experiment or not
    conf = tmp_path / "conf" / "train" / "default.yaml"
    conf.write_text(conf.read_text().replace("lr: 0.006", "lr: 0.002"))
    assert snapshot_status(tmp_path).state == "stale"
    _git(tmp_path, "checkout", "params.yaml")
    status = snapshot_status(tmp_path)
    assert status.state == "stale" and "run `make params`" in status.message
    write_snapshot(tmp_path / "conf", tmp_path / "params.yaml")
    assert snapshot_status(tmp_path).state == "fresh"


def test_selected_pairs():
    assert [(e, m) for e, m, _ in selected_pairs(compose())] == [
        ("tube", "tcn"),
        ("tube", "lstm"),
        ("tube", "shaper"),
        ("bitcrush", "shaper"),
        ("clipper", "lstm8"),
        ("clipper", "tcn_short"),
    ]
    # one effect: its pairs; both set: that pair, even one train_matrix does not list
    assert [(e, m) for e, m, _ in selected_pairs(compose("select.effect=bitcrush"))] == [("bitcrush", "shaper")]
    assert [(e, m) for e, m, _ in selected_pairs(compose("select.effect=bitcrush", "select.model=lstm"))] == [
        ("bitcrush", "lstm")
    ]
    assert [(e, m) for e, m, _ in selected_pairs(compose("select.effect=tube", "select.model=gru"))] == [
        ("tube", "gru")
    ]
    with pytest.raises(ConfigError, match=r"train_matrix\.fuzz-tcn\.effect: 'fuzz' is not a key of effects"):
        selected_pairs(compose("+train_matrix.fuzz-tcn={effect: fuzz, model: tcn}"))
    with pytest.raises(ConfigError, match=r"train_matrix\.tube-rnn: the key must be 'tube-lstm'"):
        selected_pairs(compose("+train_matrix.tube-rnn={effect: tube, model: lstm}"))
    with pytest.raises(ConfigError, match=r"train_matrix\.tube-gru: expected \{effect, model\}"):
        selected_pairs(compose("+train_matrix.tube-gru={effect: tube}"))
    with pytest.raises(ConfigError, match=r"select\.model / train_matrix: 'rnn' is not a key of models"):
        selected_pairs(compose("select.model=rnn"))


def test_default_config_values():
    cfg = compose()
    assert cfg.audio.sample_rate == 48000
    assert set(cfg.effects) == {"tube", "bitcrush", "clipper"}
    assert cfg.effects.tube.lowpass_hz == 4000.0 and cfg.effects.bitcrush.bits == 8
    assert cfg.effects.clipper.kind == "diode_clipper" and cfg.effects.clipper.oversampling == 16


def test_selected_effects():
    cfg = compose()
    assert list(selected_effects(cfg)) == ["tube", "bitcrush", "clipper"]
    assert list(selected_effects(compose("select.effect=bitcrush"))) == ["bitcrush"]
    with pytest.raises(ConfigError, match=r"select\.effect: 'fuzz' is not a key of effects"):
        selected_effects(compose("select.effect=fuzz"))


def test_check_command_reports_stale_snapshot(tmp_path):
    import shutil

    shutil.copytree(REPO / "conf", tmp_path / "conf")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text().replace("bits: 8", "bits: 7"))
    cmd = [sys.executable, "-m", "pipeline.compose_params", "--check", "--repo", str(tmp_path)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1 and "is stale" in result.stderr
    ok = subprocess.run(cmd[:-1] + [str(REPO)], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_stage_with_bad_effect_config_exits_with_a_clear_error(tmp_path):
    """The effect is validated before anything is read or written."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.render_targets",
            "effects.bitcrush.bits=0",
            f"paths.dry={tmp_path}/dry",
            f"paths.targets={tmp_path}/targets",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "render_targets: error: effects.bitcrush.bits: expected an integer in 1..24, got 0" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_clippers_small_models_are_their_families_at_other_sizes():
    """``lstm8`` and ``tcn_short`` take every key of their family's config but the size (and the
    TCN's dilations): what differs is stated in their files, the rest follows the family."""
    cfg = compose()
    lstm, lstm8 = plain(cfg.models.lstm), plain(cfg.models.lstm8)
    assert lstm8 == {**lstm, "size": 8}
    tcn, short = plain(cfg.models.tcn), plain(cfg.models.tcn_short)
    assert short == {**tcn, "size": 8, "dilations": [1, 2, 4, 8]}
