"""Knob datasets: the dataset's segments rendered at designed knob settings, with automation rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import noise
from distortion_bench.data.knob_dataset import automation_trajectory, build_knob_dataset, knob_data_config
from distortion_bench.data.knob_design import held_out_grid
from distortion_bench.dsp import build_effect
from distortion_bench.errors import ConfigError

SR, SEG = 48000, 2400
TUBE = {
    "kind": "tube_saturator",
    "gain_db": 12.0,
    "bias": 0.2,
    "lowpass_hz": 4000.0,
    "lowpass_order": 2,
    "knobs": {"gain_db": {"min": 0.0, "max": 24.0}, "bias": {"min": 0.0, "max": 0.5}},
    "smoothing_ms": 10.0,
}
BITCRUSH = {
    "kind": "bitcrusher",
    "bits": 8,
    "downsample": 1,
    "knobs": {"bits": {"min": 4, "max": 12, "scale": "integer"}},
}
CFG = {
    "train_settings": 12,
    "val_settings": 4,
    "held_out_per_axis": 3,
    "test_rows_per_setting": 2,
    "automation_fraction": 0.5,
    "automation_moves": [1, 3],
    "ramp_ms": [0.0, 20.0],
}


@pytest.fixture(scope="module")
def fixed_dataset(tmp_path_factory):
    """A stand-in for build_dataset's output: noise segments at several levels per split."""
    root = tmp_path_factory.mktemp("dataset")
    rows = {"train": 10, "val": 3, "test": 5}
    for i, (split, n) in enumerate(rows.items()):
        (root / split).mkdir()
        x = np.stack([noise(SEG, 0.05 + 0.1 * r, seed=10 * i + r) for r in range(n)])
        np.save(root / split / "input.npy", x)
        np.save(root / split / "target.npy", x)
    manifest = {"sample_rate": SR, "segment_samples": SEG, "effect_params": {}, "files": []}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def build(fixed_dataset, out, effect_cfg=TUBE, cfg=CFG, seed=5):
    effect = build_effect(effect_cfg, SR, "numba", "effects.x")
    return build_knob_dataset(effect, "x", fixed_dataset, out, cfg, seed)


def test_rows_settings_and_targets(fixed_dataset, tmp_path):
    manifest = build(fixed_dataset, tmp_path / "k")
    effect = build_effect(TUBE, SR, "numba", "effects.x")
    out = tmp_path / "k"
    train_settings = manifest["splits"]["train"]["settings"]
    assert len(train_settings) == 12 and {"gain_db": 0.0, "bias": 0.0} in train_settings  # corners first
    grid = manifest["splits"]["test"]["settings"]
    assert grid == held_out_grid(effect.knobs, 3) and len(grid) == 9
    keys = {tuple(s.values()) for s in train_settings + manifest["splits"]["val"]["settings"]}
    assert not keys & {tuple(s.values()) for s in grid}  # the grid is held out
    dry = np.load(fixed_dataset / "train" / "input.npy")
    x, y = np.load(out / "train" / "input.npy"), np.load(out / "train" / "target.npy")
    knobs = np.load(out / "train" / "knobs.npy")
    auto, auto_rows = np.load(out / "train" / "automation.npy"), np.load(out / "train" / "automation_rows.npy")
    assert x.shape == y.shape == (10, SEG) and knobs.shape == (10, 2) and auto.shape == (5, 2, SEG)
    assert sorted(int(r["segment"]) for r in manifest["splits"]["train"]["records"]) == list(range(10))
    for r, record in enumerate(manifest["splits"]["train"]["records"]):
        np.testing.assert_array_equal(x[r], dry[record["segment"]])
        state = effect.initial_state()
        if r in auto_rows:  # the DSP with the stored trajectory, from the stored first setting
            traj = auto[list(auto_rows).index(r)].astype(np.float64)
            np.testing.assert_array_equal(traj[:, 0], knobs[r])
            assert record["setting"] is None and 1 <= len(record["moves"]) <= 3
            effect.set_knobs(state, at_once=True, gain_db=float(traj[0, 0]), bias=float(traj[1, 0]))
            expected = effect.process_trajectory(x[r].copy(), {"gain_db": traj[0], "bias": traj[1]}, state)[0]
            assert np.ptp(traj, axis=1).max() > 0  # the knobs really move
        else:
            setting = train_settings[record["setting"]]
            np.testing.assert_array_equal(knobs[r], np.float32([setting["gain_db"], setting["bias"]]))
            effect.set_knobs(state, at_once=True, **setting)
            expected = effect.process(x[r].copy(), state)[0]
        np.testing.assert_array_equal(y[r], expected)
    # the settings are dealt over the rows at one setting, in order: none skipped by an automation row
    dealt = [r["setting"] for r in manifest["splits"]["train"]["records"] if r["setting"] is not None]
    assert dealt == list(range(5))
    test_knobs = np.load(out / "test" / "knobs.npy")
    assert test_knobs.shape == (9 * 2, 2)  # every grid point x the same two test segments
    assert [r["segment"] for r in manifest["splits"]["test"]["records"][:2]] == [0, 2]
    assert [r["segment"] for r in manifest["splits"]["test"]["records"][2:4]] == [0, 2]


def test_deterministic_and_an_integer_knob_steps(fixed_dataset, tmp_path):
    build(fixed_dataset, tmp_path / "a", BITCRUSH)
    build(fixed_dataset, tmp_path / "b", BITCRUSH)
    for f in sorted((tmp_path / "a").rglob("*.*")):
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes(), f
    auto = np.load(tmp_path / "a" / "train" / "automation.npy")
    assert np.all(auto == np.round(auto)) and auto.min() >= 4 and auto.max() <= 12  # whole bits, stepped
    grid = json.loads((tmp_path / "a" / "manifest.json").read_text())["splits"]["test"]["settings"]
    assert [s["bits"] for s in grid] == [float(b) for b in range(4, 13)]  # every word length


def test_a_ramp_reaches_its_goal_on_its_last_sample():
    effect = build_effect(TUBE, SR, "numba", "effects.x")
    settings = [{"gain_db": 0.0, "bias": 0.0}, {"gain_db": 24.0, "bias": 0.5}]
    for seed in range(6):
        traj, events = automation_trajectory(
            effect.knobs, settings, SEG, SR, (1, 1), (10.0, 10.0), np.random.default_rng(seed)
        )
        (event,) = events
        t0, n = event["sample"], event["ramp_samples"]
        goal = np.array([event["to"]["gain_db"], event["to"]["bias"]])
        assert SEG // 4 <= t0 < SEG and n == min(480, SEG - t0)  # 10 ms, cut short at the segment's end
        assert np.all(traj[:, :t0] == traj[:, :1]) and not np.array_equal(traj[:, 0], goal)  # to the other one
        assert np.all(np.diff(traj[0, t0 : t0 + n]) * np.sign(goal[0] - traj[0, 0]) > 0)  # a monotone ramp
        if n == 480:
            np.testing.assert_allclose(traj[:, t0 + n - 1], goal)
        assert np.all(traj[:, t0 + n :] == goal[:, None])


def test_bad_config_and_an_effect_without_knobs_are_refused(fixed_dataset, tmp_path):
    with pytest.raises(ConfigError, match=r"data\.knobs: missing keys \['ramp_ms'\]"):
        knob_data_config({k: v for k, v in CFG.items() if k != "ramp_ms"})
    with pytest.raises(ConfigError, match=r"data\.knobs\.automation_fraction: expected a fraction in \[0, 1\], got 2"):
        knob_data_config({**CFG, "automation_fraction": 2})
    with pytest.raises(ConfigError, match=r"data\.knobs\.ramp_ms: expected \[low, high\]"):
        knob_data_config({**CFG, "ramp_ms": [50.0, 10.0]})
    with pytest.raises(ConfigError, match=r"data\.knobs\.train_settings: expected an integer >= 1, got 0"):
        knob_data_config({**CFG, "train_settings": 0})
    no_knobs = {k: v for k, v in TUBE.items() if k not in ("knobs", "smoothing_ms")}
    effect = build_effect(no_knobs, SR, "numba", "effects.x")
    if not effect.knobs.specs:
        with pytest.raises(ConfigError, match=r"effects\.x\.knobs: the effect has no knob space"):
            build_knob_dataset(effect, "x", fixed_dataset, tmp_path / "n", CFG, 1)
    assert not (tmp_path / "n").exists()


def test_training_batches_carry_each_rows_knobs_and_a_short_fit_lowers_validation_error(fixed_dataset, tmp_path):
    import lightning as L
    import torch

    from conftest import compose
    from distortion_bench.config import plain
    from distortion_bench.nn.knob_data import KnobDataModule
    from distortion_bench.nn.knob_module import KnobEffectModule, predict_with_knobs

    build(fixed_dataset, tmp_path / "k")
    dm = KnobDataModule(tmp_path / "k", 4, 1200, balance="target")
    assert list(dm.knob_space) == ["gain_db", "bias"]
    torch.manual_seed(0)
    crops = dm.train_dataloader().dataset
    auto_rows = np.load(tmp_path / "k" / "train" / "automation_rows.npy").tolist()
    knobs = np.load(tmp_path / "k" / "train" / "knobs.npy")
    # every setting weighs the same: each row's loss scale is 1 / its setting's level (the median
    # over the setting's rows of target rms / input rms)
    targets = np.load(tmp_path / "k" / "train" / "target.npy").astype(np.float64)
    inputs = np.load(tmp_path / "k" / "train" / "input.npy").astype(np.float64)
    ratio = np.sqrt(np.mean(targets**2, axis=1) / np.mean(inputs**2, axis=1))
    _, group = np.unique(knobs, axis=0, return_inverse=True)
    level = np.array([np.median(ratio[group.reshape(-1) == g]) for g in group.reshape(-1)])
    expected = (1 / level) / np.mean(1 / level)
    np.testing.assert_allclose(crops.scales.numpy(), expected, rtol=1e-5)
    assert len(set(group.reshape(-1).tolist())) > 1 and np.ptp(expected) > 0.1  # settings differ in level
    off = KnobDataModule(tmp_path / "k", 4, 1200).train_dataloader().dataset.scales
    assert torch.equal(off, torch.ones(len(crops)))  # the default: an ESR loss is left unweighted
    for row in range(len(crops)):
        x, y, k, scale = crops[row]
        assert x.shape == y.shape == (1, 1200) and k.shape == (2, 1200) and float(scale) == crops.scales[row]
        if row in auto_rows:
            assert k.dtype == torch.float32
        else:
            assert torch.equal(k, torch.from_numpy(knobs[row])[:, None].expand(2, 1200))
    cfg = {"type": "lstm_knobs", "size": 8, "layers": 1, "warmup_samples": 200, "knobs": dm.knob_space}
    train_cfg = {**plain(compose().train), "loss_samples": 1000, "tbptt_samples": 500, "lr": 0.01, "warmup_epochs": 0}
    torch.manual_seed(0)
    module = KnobEffectModule(cfg, train_cfg, SR)
    dry, target, val_knobs, val_scale = dm.val_dataloader().dataset[0]
    assert dry.shape == (3, 1, SEG) and val_knobs.shape == (3, 2) and val_scale.shape == (3, 1, 1)

    def val_esr() -> float:
        est = predict_with_knobs(module.model, dry, val_knobs)
        return float(((target - est) ** 2).sum() / (target**2).sum())

    before = val_esr()
    trainer = L.Trainer(
        max_epochs=15,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=True,
    )
    trainer.fit(module, datamodule=dm)
    assert val_esr() < 0.5 * before, (before, val_esr())
    assert "val/esr" in trainer.callback_metrics


def test_the_loss_scale_equalises_what_the_loss_divides_by():
    from distortion_bench.nn.knob_data import balance_of

    assert balance_of({"esr": 1.0, "dc": 0.05}) == "off"  # measured, not kept (knob_data's docstring)
    assert balance_of({"residual_esr": 1.0, "residual_mrstft": 0.1, "esr": 0.0}) == "residual"
    assert balance_of({"esr": 1.0, "residual_esr": 1.0}) == "off"
