"""Training: the loop really learns, bad configs are refused first, runs resume, MLflow records."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from conftest import SAMPLE_RATE, compose
from distortion_bench.analysis.metrics import esr
from distortion_bench.config import plain
from distortion_bench.data import dataset, dry_corpus, render
from distortion_bench.dsp import build_effect
from distortion_bench.errors import ConfigError, DistortionBenchError
from distortion_bench.nn import train
from distortion_bench.nn.module import EffectModule, predict_whole


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory) -> Path:
    """The smoke corpus, targets and datasets (both effects) in a temporary folder."""
    root = tmp_path_factory.mktemp("nn")
    cfg = smoke_cfg(root)
    dry_corpus.run(cfg)
    render.run(cfg)
    dataset.run(cfg)
    return root


def smoke_cfg(root: Path, *extra: str):
    return compose(
        "experiment=smoke",
        f"paths.raw={root}/raw",
        f"paths.dry={root}/dry",
        f"paths.targets={root}/targets",
        f"paths.datasets={root}/datasets",
        f"paths.checkpoints={root}/checkpoints",
        f"paths.reports={root}/reports",
        f"tracking.uri=sqlite:///{root}/mlflow.db",
        *extra,
    )


@pytest.mark.parametrize(
    "model_cfg",
    [
        {"type": "lstm", "size": 8, "layers": 1, "skip": True, "warmup_samples": 64},
        {"type": "tcn", "size": 6, "kernel_size": 3, "dilations": [1, 2, 4, 8]},
    ],
    ids=["lstm", "tcn"],
)
def test_training_loop_overfits_a_short_target(model_cfg):
    """The real LightningModule, a few hundred optimizer steps: ESR on the target falls 10x."""
    L.seed_everything(0)
    n = 2048
    t = np.arange(n + 64) / SAMPLE_RATE
    levels = np.array([0.05, 0.2, 0.5, 0.9])[:, None]
    x = (levels * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    tube = build_effect({"kind": "tube_saturator"}, SAMPLE_RATE, "numba")
    y = np.stack([tube.process_signal(row) for row in x])
    train_cfg = {
        **dict(compose().train),
        "lr": 0.01,
        "tbptt_samples": 4096,
        "loss": {"weights": {"esr": 1.0}, "pre_emphasis": 0.85},
    }
    module = EffectModule(model_cfg, train_cfg, SAMPLE_RATE)
    warm = module.model.warmup_samples()
    x_t, y_t = torch.from_numpy(x[:, None, 64 - warm :]), torch.from_numpy(y[:, None, 64 - warm :])

    def current_esr() -> float:
        est = predict_whole(module.model, x_t)
        return esr(y_t[..., warm:].numpy(), est[..., warm:].numpy())

    before = current_esr()
    trainer = L.Trainer(
        max_epochs=300,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, DataLoader(TensorDataset(x_t, y_t), batch_size=4))
    assert trainer.global_step == 300  # one optimizer step per TBPTT chunk, one chunk per crop
    after = current_esr()
    assert after < before / 10, (before, after)


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (["select.model=lstm", "models.lstm.type=transformer"], ConfigError, r"model\.type: expected one of"),
        (["select.model=lstm", "models.lstm.size=0"], ConfigError, r"model\.size: expected an integer >= 1, got 0"),
        (
            ["select.model=tcn", "models.tcn.dilations=[4096,4096]"],
            ConfigError,
            r"a training crop needs 20480 samples .* segments .* have 12000",
        ),
        (
            ["select.model=lstm", "train.loss_samples=0"],
            ConfigError,
            r"train\.loss_samples: expected a positive integer",
        ),
        (["select.model=gru", "select.effect=fuzz"], ConfigError, r"select\.effect: 'fuzz' is not a key of effects"),
    ],
)
def test_bad_config_is_refused_before_training(smoke_data, overrides, error, match, monkeypatch):
    monkeypatch.chdir(smoke_data)
    cfg = smoke_cfg(smoke_data, *overrides)
    with pytest.raises(error, match=match):
        train.run(cfg)
    assert not (smoke_data / "checkpoints").exists() and not (smoke_data / "mlflow.db").exists()


def test_missing_dataset_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        DistortionBenchError, match=r"datasets/tube/manifest\.json: missing; run the `build_dataset` stage"
    ):
        train.run(smoke_cfg(tmp_path, "select.effect=tube", "select.model=lstm"))
    assert not (tmp_path / "checkpoints").exists()


def test_train_reports_resumes_and_records_in_mlflow(smoke_data, monkeypatch):
    monkeypatch.chdir(smoke_data)  # MLflow puts artifacts in ./mlruns: keep them in the temp folder
    cfg = smoke_cfg(smoke_data, "select.effect=tube", "select.model=lstm", "train.max_epochs=1")
    first = train.train_pair(cfg, "tube", "lstm", dict(cfg.models.lstm))
    assert first["epochs"] == 1 and first["stopped_by"] == "max_epochs" and first["max_epochs"] == 1
    assert first["machine_dependent"] is False and first["warning"] is None
    pair = smoke_data / "checkpoints" / "tube-lstm"
    seed_dir = pair / "seed-0"
    assert (pair / "best.ckpt").is_file()
    assert {"last.ckpt", "history.json", "run.json"} <= {p.name for p in seed_dir.iterdir()}
    assert (pair / "best.ckpt").read_bytes() == (seed_dir / "last.ckpt").read_bytes()  # one seed: it is chosen
    assert first["chosen_seed"] == int(cfg.seed) and [s["seed"] for s in first["seeds"]] == [int(cfg.seed)]
    assert first["spread"]["esr"]["n"] == 1 and first["spread"]["esr"]["median"] == first["test"]["esr"]

    # A completed training is never continued: a larger budget trains afresh from the seed
    # (so the model equals what a fresh clone trains with that budget).
    cfg2 = smoke_cfg(smoke_data, "select.effect=tube", "select.model=lstm", "train.max_epochs=2")
    second = train.train_pair(cfg2, "tube", "lstm", dict(cfg2.models.lstm))
    seed_run = second["mlflow"]["seed_run_ids"][0]
    assert seed_run != first["mlflow"]["seed_run_ids"][0] and second["resumed"] is False
    assert second["epochs"] == 2
    history = json.loads((seed_dir / "history.json").read_text())
    assert [r["epoch"] for r in history] == [0, 1]
    # warm-up then decay: the rate rises over the first epoch and falls by the last
    assert all({"train/loss", "train/lr", "val/esr"} <= set(r) for r in history)

    # An interrupted training (run.json without `completed`) resumes from last.ckpt, same seed run.
    # (The budget is part of what is learned: the learning-rate schedule ends with it, so a
    # larger max_epochs is another training, not a continuation.)
    run_json = json.loads((seed_dir / "run.json").read_text())
    (seed_dir / "run.json").write_text(json.dumps({k: run_json[k] for k in ("fingerprint", "run_id", "train_seconds")}))
    resumed = train.train_pair(cfg2, "tube", "lstm", dict(cfg2.models.lstm))
    assert resumed["resumed"] is True and resumed["mlflow"]["seed_run_ids"] == [seed_run]
    assert resumed["epochs"] == 2
    assert [r["epoch"] for r in json.loads((seed_dir / "history.json").read_text())] == [0, 1]

    report = json.loads((smoke_data / "reports" / "train" / "tube-lstm.json").read_text())
    assert report["mlflow"]["run_id"] == resumed["mlflow"]["run_id"]
    assert report["model_type"] == "lstm" and report["hidden_size"] == 8 and report["params"] > 0
    for key in ("esr", "esr_pre", "residual_esr", "mrstft"):
        assert isinstance(report["test"][key], float) and report["test"][key] >= 0
    assert report["train_seconds"] > 0 and report["selection"] == "the seed with the median final validation ESR"
    examples = sorted(p.name for p in (smoke_data / "reports" / "train" / "tube-lstm" / "examples").iterdir())
    assert len(examples) == 3 and {e.rsplit("_", 1)[1] for e in examples} == {"dry.wav", "target.wav", "model.wav"}

    # The runs, read straight from the sqlite store: the pair's run with test metrics and their
    # spread over seeds; each seed a child run with its curves.
    db = sqlite3.connect(smoke_data / "mlflow.db")
    parent = report["mlflow"]["run_id"]
    children = dict(
        db.execute(
            "SELECT r.name, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "WHERE t.key = 'mlflow.parentRunId'"
        ).fetchall()
    )
    assert children["tube-lstm/seed-0"] in {first["mlflow"]["run_id"], second["mlflow"]["run_id"], parent}
    metrics = {k for (k,) in db.execute("SELECT DISTINCT key FROM metrics WHERE run_uuid = ?", (parent,))}
    assert {
        "test/esr",
        "test/residual_esr",
        "test/mrstft",
        "seeds/esr_median",
        "seeds/esr_min",
        "seeds/esr_max",
        "params",
    } <= metrics
    seed_metrics = {k for (k,) in db.execute("SELECT DISTINCT key FROM metrics WHERE run_uuid = ?", (seed_run,))}
    assert {"val/esr", "train/loss", "train/lr", "test/esr"} <= seed_metrics
    # quality per kind of material beside the pooled figure, in the report and in MLflow
    by_category = report["test"]["by_category"]
    assert set(by_category) == {"pluck", "chord", "palm_mute", "slide", "bass", "sweep", "tone", "noise"}
    assert sum(c["takes"] for c in by_category.values()) == report["test"]["takes"]
    assert sum(c["share_of_error"] for c in by_category.values()) == pytest.approx(1.0)
    assert {f"test/{c}/esr" for c in by_category} <= metrics
    params = dict(db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (parent,)).fetchall())
    assert params["model.size"] == "8" and params["effect.kind"] == "tube_saturator"

    # A different learning config starts afresh (new seed run), never from the old checkpoints.
    cfg3 = smoke_cfg(smoke_data, "select.effect=tube", "select.model=lstm", "train.max_epochs=1", "train.lr=0.001")
    third = train.train_pair(cfg3, "tube", "lstm", dict(cfg3.models.lstm))
    assert third["mlflow"]["seed_run_ids"] != [seed_run] and third["epochs"] == 1


def test_seeds_train_in_parallel_differ_and_the_median_one_is_kept(smoke_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = smoke_cfg(
        smoke_data,
        "select.effect=tube",
        "select.model=tcn",
        "models.tcn.train.max_epochs=1",
        "train.seeds=3",
        "train.parallel=2",
        f"paths.checkpoints={tmp_path}/checkpoints",
        f"paths.reports={tmp_path}/reports",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
    )
    report = train.train_pair(cfg, "tube", "tcn", plain(cfg.models.tcn))
    seeds = int(cfg.seed)
    assert [s["seed"] for s in report["seeds"]] == [seeds, seeds + 1, seeds + 2]
    states = [
        torch.load(
            tmp_path / "checkpoints" / "tube-tcn" / f"seed-{i}" / "last.ckpt", map_location="cpu", weights_only=False
        )["state_dict"]
        for i in range(3)
    ]
    assert not all(torch.equal(states[0][k], states[1][k]) for k in states[0])  # other seeds, other weights
    finals = [s["val_esr_final"] for s in report["seeds"]]
    assert len(set(finals)) == 3
    chosen = sorted(range(3), key=lambda i: finals[i])[1]  # the median, not the best
    assert report["chosen_seed"] == seeds + chosen and report["val_esr_final"] == finals[chosen]
    assert (tmp_path / "checkpoints" / "tube-tcn" / "best.ckpt").read_bytes() == (
        tmp_path / "checkpoints" / "tube-tcn" / f"seed-{chosen}" / "last.ckpt"
    ).read_bytes()
    esrs = [s["test"]["esr"] for s in report["seeds"]]
    assert report["spread"]["esr"] == {
        "median": sorted(esrs)[1],
        "min": min(esrs),
        "max": max(esrs),
        "n": 3,
        "values": esrs,
    }
    assert report["test"]["esr"] == pytest.approx(esrs[chosen], rel=1e-6)
    # fewer seeds later: the extra seed folders go
    cfg1 = smoke_cfg(
        smoke_data,
        "select.effect=tube",
        "select.model=tcn",
        "models.tcn.train.max_epochs=1",
        f"paths.checkpoints={tmp_path}/checkpoints",
        f"paths.reports={tmp_path}/reports",
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
    )
    train.train_pair(cfg1, "tube", "tcn", plain(cfg1.models.tcn))
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "tube-tcn").glob("seed-*")) == ["seed-0"]


def test_learning_rate_warms_up_then_decays_to_its_floor():
    from distortion_bench.nn.module import warmup_cosine

    factors = [warmup_cosine(step, 100, 10, 0.05) for step in range(120)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10]))  # rising
    assert all(a >= b for a, b in zip(factors[10:100], factors[11:100]))  # falling
    assert factors[55] == pytest.approx(0.05 + 0.95 * 0.5)  # half way
    assert factors[100] == pytest.approx(0.05) and factors[119] == pytest.approx(0.05)


def test_a_wall_clock_cap_that_fires_is_reported_loudly(smoke_data, monkeypatch, caplog):
    monkeypatch.chdir(smoke_data)
    # 0.001 min = 60 ms: Lightning's timer stops after the first epoch
    cfg = smoke_cfg(
        smoke_data,
        "select.effect=tube",
        "select.model=tcn",
        "models.tcn.train.max_epochs=50",
        "train.max_minutes=0.001",
        "train.lr=0.002",
    )
    with caplog.at_level("WARNING"):
        report = train.train_pair(cfg, "tube", "tcn", plain(cfg.models.tcn))
    assert report["stopped_by"] == "max_time" and report["epochs"] < 50
    assert report["machine_dependent"] is True and "depend on the machine" in report["warning"]
    assert any("ended before 50 epochs" in r.getMessage() for r in caplog.records)
    saved = json.loads((smoke_data / "reports" / "train" / "tube-tcn.json").read_text())
    assert saved["stopped_by"] == "max_time" and saved["machine_dependent"] is True


@pytest.mark.parametrize("value", [0, -1.5, "soon"])
def test_a_bad_time_cap_is_refused(smoke_data, value, monkeypatch):
    monkeypatch.chdir(smoke_data)
    cfg = smoke_cfg(smoke_data, "select.effect=tube", "select.model=lstm", f"train.max_minutes={value}")
    with pytest.raises(ConfigError, match=r"train\.max_minutes: expected null \(no wall-clock cap\) or a positive"):
        train.run(cfg)


def test_stopped_by():
    assert train.stopped_by(40, 40, None) == "max_epochs"
    assert train.stopped_by(12, 40, 6.0) == "max_time"
    assert train.stopped_by(12, 40, None) == "interrupted"


def test_two_trainings_of_the_smoke_model_give_identical_weights(smoke_data, tmp_path, monkeypatch):
    """Seeded and deterministic: the same config trains the same weights, bit for bit."""
    monkeypatch.chdir(tmp_path)
    weights = []
    for attempt in ("a", "b"):
        cfg = smoke_cfg(
            smoke_data,
            "select.effect=tube",
            "select.model=lstm",
            f"paths.checkpoints={tmp_path}/{attempt}/checkpoints",
            f"paths.reports={tmp_path}/{attempt}/reports",
            f"tracking.uri=sqlite:///{tmp_path}/{attempt}.db",
        )
        report = train.train_pair(cfg, "tube", "lstm", dict(cfg.models.lstm))
        state = torch.load(
            tmp_path / attempt / "checkpoints" / "tube-lstm" / "best.ckpt", map_location="cpu", weights_only=False
        )["state_dict"]
        weights.append((report["test"]["esr"], state))
    (esr_a, a), (esr_b, b) = weights
    assert esr_a == esr_b
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_weight_average_ramps_up_to_its_decay():
    assert train.ema_decay(0.98, 0) == pytest.approx(0.1)  # the first updates mostly take the model
    assert train.ema_decay(0.98, 10) == pytest.approx(11 / 20)
    assert train.ema_decay(0.98, 1000) == 0.98
    assert train.ema_decay(0.9, 81) == 0.9 and train.ema_decay(0.9, 79) < 0.9
