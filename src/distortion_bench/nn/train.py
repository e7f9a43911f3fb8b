"""Stage ``train``: one model per (effect, model) pair and seed, tracked in MLflow.

Each pair trains ``train.seeds`` times, from seeds ``seed``, ``seed + 1``, ... (a network trained
twice from different seeds scores differently, and one run is one draw of that). Seeds train in
parallel processes (``train.parallel``), each with one torch thread, so the result of a seed does
not depend on how many cores the machine has or how many seeds run beside it. The pipeline then
uses one of them, chosen by a stated rule that never looks at test audio: the seed with the
*median* final validation ESR (not the best: the best of several draws is an optimistic one).

For each pair it writes:

- ``<checkpoints>/<effect>-<model>/seed-<i>/``: ``last.ckpt`` (the final averaged weights, see
  below), ``history.json`` (per-epoch train loss, learning rate and validation ESR) and
  ``run.json`` (the config fingerprint and MLflow run id). Only an *interrupted* training resumes:
  a re-run with the same fingerprint whose training never completed continues from
  ``last.ckpt`` (its report says ``resumed``). A completed training, or another config, starts
  afresh, so ``dvc repro -f`` retrains from the seeds and gives the same models, bit for bit.
- ``<checkpoints>/<effect>-<model>/best.ckpt``: the chosen seed's model, which the later stages
  export and benchmark.
- ``<reports>/train/<effect>-<model>.json``: the chosen model's test metrics, every seed's
  (``seeds``), their ``spread`` (median, min, max per metric), the choice, training time and
  the MLflow run ids (later stages log to the pair's run; each seed is a child run of it).
- ``<reports>/train/<effect>-<model>/``: the loss curves of every seed (one plot) and test audio
  examples of the chosen model (``<take>_dry.wav``, ``_target.wav``, ``_model.wav``).

Training is stabilised rather than stopped early: a warm-up and cosine learning-rate schedule
(:func:`~distortion_bench.nn.module.warmup_cosine`) and an exponential moving average of the
weights (Lightning's ``WeightAveraging``, decay ``train.ema_decay`` per batch) that is what
validation sees and what the checkpoints hold. The kept model is the one at the end of the
budget: choosing the epoch with the lowest validation ESR of a noisy curve keeps a lucky epoch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, WeightAveraging
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from distortion_bench.analysis.metrics import group_esr
from distortion_bench.analysis.plotting import plot_seed_curves
from distortion_bench.analysis.spread import median_index, spread
from distortion_bench.atomic import write_json
from distortion_bench.audio_io import write_audio
from distortion_bench.config import plain, selected_models, selected_pairs
from distortion_bench.errors import ConfigError
from distortion_bench.nn.data import EffectDataModule, WholeTakes, load_whole_takes
from distortion_bench.nn.evaluate import evaluate
from distortion_bench.nn.module import EffectModule
from distortion_bench.tracking import flatten, tracking_uri

log = logging.getLogger(__name__)

__all__ = ["train_pair", "train_seed", "prepare_pair", "run", "selected_models", "stopped_by", "seed_values"]

#: train keys that do not change what one seed learns: an interrupted run differing only in these resumes.
RESUMABLE_KEYS = ("max_minutes", "examples", "threads", "accelerator", "seeds", "parallel")

#: Order in which test takes are picked as audio examples: one per kind of material.
EXAMPLE_ORDER = ("chord", "pluck", "bass", "sweep", "slide", "palm_mute", "tone", "noise", "user")

#: test metrics whose spread over seeds is reported (pooled over all test takes).
SPREAD_METRICS = ("esr", "esr_pre", "residual_esr", "mrstft")


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class EpochHistory(Callback):
    """Keeps per-epoch train loss, learning rate and validation ESR in a JSON file (survives resuming)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, float]] = (json.loads(path.read_text()) if path.is_file() else [])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch}
        for key in ("train/loss", "train/lr", "val/esr"):
            if key in metrics:
                row[key] = float(metrics[key])
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        write_json(self.path, self.rows)


def ema_decay(decay: float, updates: int) -> float:
    """The averaging weight of the ``updates``-th update: ``min(decay, (1 + n) / (10 + n))``.

    The ramp keeps the average from dragging the random initial weights along while the model
    still improves fast (with a fixed 0.98 a TCN's validation ESR lagged 10x behind after 9 epochs);
    later the full ``decay`` smooths the batch-to-batch noise.
    """
    return min(decay, (1.0 + updates) / (10.0 + updates))


class EMAWeights(WeightAveraging):
    """Exponential moving average of the weights (:func:`ema_decay`), updated after every batch
    (several optimizer steps with truncated back-propagation); validation and checkpoints use it."""

    def __init__(self, decay: float) -> None:
        def average(averaged: Tensor, current: Tensor, updates: Tensor | int) -> Tensor:
            weight = ema_decay(decay, int(updates))
            return averaged * weight + current * (1.0 - weight)

        super().__init__(avg_fn=average, use_buffers=True)


def _pick_examples(takes: WholeTakes, count: int) -> list[int]:
    chosen: list[int] = []
    for category in EXAMPLE_ORDER:
        for i, path in enumerate(takes.paths):
            if path.split("/")[0] == category and i not in chosen:
                chosen.append(i)
                break
        if len(chosen) >= count:
            break
    return chosen


def stopped_by(epochs_done: int, max_epochs: int, max_minutes: float | None) -> str:
    """Why a training ended: ``max_epochs`` (the budget), ``max_time`` or ``interrupted``.

    ``max_time`` (the optional wall-clock safety fired) makes the result machine-dependent.
    """
    if epochs_done >= max_epochs:
        return "max_epochs"
    return "max_time" if max_minutes is not None else "interrupted"


def seed_values(cfg: DictConfig, train_cfg: dict[str, Any]) -> list[int]:
    """The seeds a pair trains from: ``seed``, ``seed + 1``, ... (``train.seeds`` of them)."""
    count = train_cfg.get("seeds", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"train.seeds: expected how many seeds to train (an integer >= 1), got {count!r}")
    return [int(cfg.seed) + i for i in range(count)]


def pair_train_config(cfg: DictConfig, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """``train`` for one model: the model config's optional ``train`` mapping overrides its keys
    (a family that needs another loss or budget says so in its own config, e.g. the shaper's
    residual loss; the other pairs keep ``train``). Unknown keys are refused."""
    train_cfg = plain(cfg.train)
    overrides = model_cfg.get("train")
    if overrides is None:
        return train_cfg
    if not isinstance(overrides, dict):
        raise ConfigError(f"models.<model>.train: expected a mapping of train keys, got {overrides!r}")
    unknown = sorted(set(overrides) - set(train_cfg))
    if unknown:
        raise ConfigError(f"models.<model>.train: unknown key(s) {unknown}; expected keys of train: {sorted(train_cfg)}")
    merged = OmegaConf.merge(OmegaConf.create(train_cfg), OmegaConf.create(overrides))
    out = OmegaConf.to_container(merged, resolve=True)
    assert isinstance(out, dict)
    return out


def _check_train_config(train_cfg: dict[str, Any]) -> None:
    for name in ("loss_samples", "tbptt_samples", "batch_size", "max_epochs", "examples", "parallel"):
        value = train_cfg.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "examples" else 1):
            raise ConfigError(f"train.{name}: expected a positive integer, got {value!r}")
    cap = train_cfg.get("max_minutes")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap > 0):
        raise ConfigError(f"train.max_minutes: expected null (no wall-clock cap) or a positive number "
                          f"of minutes, got {cap!r}")
    decay = train_cfg.get("ema_decay")
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1):
        raise ConfigError(f"train.ema_decay: expected a number in [0, 1) or null (no averaging), got {decay!r}")
    warmup = train_cfg.get("warmup_epochs", 0)
    if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or warmup < 0:
        raise ConfigError(f"train.warmup_epochs: expected a number of epochs >= 0, got {warmup!r}")
    final = train_cfg.get("lr_final_fraction", 1.0)
    if isinstance(final, bool) or not isinstance(final, (int, float)) or not 0 <= final <= 1:
        raise ConfigError(f"train.lr_final_fraction: expected a fraction of the peak rate in [0, 1], got {final!r}")


def prepare_pair(cfg: DictConfig, effect: str, model_cfg: dict[str, Any]
                 ) -> tuple[EffectModule, EffectDataModule]:
    """Build the module and data of a pair; every refusable config is refused here."""
    train_cfg = pair_train_config(cfg, model_cfg)
    _check_train_config(train_cfg)
    seed_values(cfg, train_cfg)
    module = EffectModule(model_cfg, train_cfg, int(cfg.audio.sample_rate))
    crop = module.model.warmup_samples() + int(train_cfg["loss_samples"])
    datamodule = EffectDataModule(Path(cfg.paths.datasets) / effect, int(train_cfg["batch_size"]), crop)
    return module, datamodule


def _logger(uri: str, effect: str, name: str, run_id: str | None, parent: str | None) -> MLFlowLogger:
    tags = {"mlflow.parentRunId": parent} if parent and run_id is None else None
    return MLFlowLogger(experiment_name=effect, run_name=name, tracking_uri=uri, run_id=run_id, tags=tags)


def train_seed(cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any], seed: int,
               index: int, parent_run_id: str | None) -> dict[str, Any]:
    """Train one seed of a pair into ``<checkpoints>/<pair>/seed-<index>``; return its summary.

    The summary holds the seed, its final validation ESR (averaged weights, last epoch), its
    test metrics, epochs, training time, checkpoint and MLflow run id.
    """
    pair = f"{effect}-{model_name}"
    train_cfg = pair_train_config(cfg, model_cfg)
    dataset_dir = Path(cfg.paths.datasets) / effect
    # One intra-op thread unless configured: the arithmetic (and so the model) then does not
    # depend on the machine's core count, and seeds can run side by side.
    torch.set_num_threads(int(train_cfg.get("threads") or 1))
    # Seed before the model is built: its initial weights come from the same generator, so a
    # seed trains the same model whatever ran before it in this process.
    L.seed_everything(seed, workers=True)
    module, datamodule = prepare_pair(cfg, effect, model_cfg)
    ckpt_dir = Path(cfg.paths.checkpoints) / pair / f"seed-{index}"
    manifest_bytes = (dataset_dir / "manifest.json").read_bytes()
    learning = {k: v for k, v in train_cfg.items() if k not in RESUMABLE_KEYS}
    fingerprint = _fingerprint(model_cfg, learning, seed, hashlib.sha256(manifest_bytes).hexdigest())
    run_file = ckpt_dir / "run.json"
    previous = json.loads(run_file.read_text()) if run_file.is_file() else {}
    resume = (previous.get("fingerprint") == fingerprint and not previous.get("completed")
              and (ckpt_dir / "last.ckpt").is_file())
    if not resume and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)  # another config's, or a completed training: start from the seed
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    logger = _logger(tracking_uri(cfg.tracking.uri), effect, f"{pair}/seed-{index}",
                     previous.get("run_id") if resume else None, parent_run_id)
    run_id = logger.run_id
    write_json(run_file, {"fingerprint": fingerprint, "run_id": run_id,
                          "train_seconds": previous.get("train_seconds", 0.0) if resume else 0.0})
    if not resume:
        logger.log_hyperparams({**flatten({"model": model_cfg, "train": train_cfg}), "seed": str(seed),
                                "pair": pair, "params": str(module.model.describe()["params"])})
    for key, value in (("effect", effect), ("model", model_name), ("seed", str(seed)), ("seed_index", str(index))):
        logger.experiment.set_tag(run_id, key, value)

    callbacks: list[Callback] = [
        ModelCheckpoint(dirpath=ckpt_dir, save_last=True, save_top_k=0, enable_version_counter=False),
        EpochHistory(ckpt_dir / "history.json")]
    if train_cfg.get("ema_decay") is not None:
        callbacks.append(EMAWeights(float(train_cfg["ema_decay"])))
    max_minutes = train_cfg.get("max_minutes")
    max_epochs = int(train_cfg["max_epochs"])
    trainer = L.Trainer(
        max_epochs=max_epochs,
        max_time=None if max_minutes is None else {"minutes": float(max_minutes)},
        accelerator=str(train_cfg["accelerator"]), devices=1, deterministic=bool(train_cfg["deterministic"]),
        callbacks=callbacks, logger=logger, num_sanity_val_steps=0, log_every_n_steps=1,
        enable_model_summary=False, enable_progress_bar=False, default_root_dir=str(ckpt_dir),
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_dir / "last.ckpt") if resume else None)
    train_seconds = (previous.get("train_seconds", 0.0) if resume else 0.0) + time.perf_counter() - started
    stop = stopped_by(trainer.current_epoch, max_epochs, None if max_minutes is None else float(max_minutes))
    write_json(run_file, {"fingerprint": fingerprint, "run_id": run_id, "train_seconds": train_seconds,
                          "completed": True, "stopped_by": stop})
    # WeightAveraging swaps the averaged weights into the module at the end of fit; save them.
    trainer.save_checkpoint(str(ckpt_dir / "last.ckpt"))

    history = json.loads((ckpt_dir / "history.json").read_text())
    val = [r["val/esr"] for r in history if "val/esr" in r]
    test = load_whole_takes(dataset_dir, "test")
    metrics, _ = evaluate(EffectModule.load_from_checkpoint(str(ckpt_dir / "last.ckpt"), map_location="cpu").model,
                          test, datamodule.sample_rate)
    # the played material alone (the measurement signals' loud noise and sweeps aside)
    guitar = group_esr(metrics.get("by_category") or {}, "guitar")
    client = logger.experiment
    for key in SPREAD_METRICS:
        if isinstance(metrics.get(key), (int, float)):
            client.log_metric(run_id, f"test/{key}", float(metrics[key]))
    if guitar is not None:
        client.log_metric(run_id, "test/guitar_esr", guitar)
    client.log_metric(run_id, "train_seconds", train_seconds)
    client.set_tag(run_id, "stopped_by", stop)
    log.info("%s seed %d: final val ESR %s, test ESR %s, %.1f min, %d epochs (%s)", pair, seed,
             val[-1] if val else None, metrics["esr"], train_seconds / 60, trainer.current_epoch, stop)
    return {"seed": seed, "index": index, "val_esr_final": val[-1] if val else None,
            "val_esr_min": min(val) if val else None, "test": metrics, "guitar_esr": guitar, "epochs": trainer.current_epoch,
            "stopped_by": stop, "resumed": resume, "train_seconds": round(train_seconds, 1),
            "checkpoint": str(ckpt_dir / "last.ckpt"), "history": str(ckpt_dir / "history.json"),
            "mlflow_run_id": run_id}


def _train_seed_job(args: tuple[dict[str, Any], str, str, dict[str, Any], int, int, str | None]) -> dict[str, Any]:
    """Process-pool entry point: the config travels as a plain dict."""
    cfg_dict, effect, model_name, model_cfg, seed, index, parent = args
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    return train_seed(OmegaConf.create(cfg_dict), effect, model_name, model_cfg, seed, index, parent)


def _train_seeds(cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any], seeds: list[int],
                 parallel: int, parent: str) -> list[dict[str, Any]]:
    jobs = [(OmegaConf.to_container(cfg, resolve=True), effect, model_name, model_cfg, seed, i, parent)
            for i, seed in enumerate(seeds)]
    workers = min(parallel, len(jobs))
    if workers <= 1:
        return [train_seed(cfg, effect, model_name, model_cfg, seed, i, parent) for i, seed in enumerate(seeds)]
    # spawn, not fork: a forked child would inherit torch's and MLflow's threads and locks.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_train_seed_job, jobs))


def _pair_run(cfg: DictConfig, effect: str, pair: str, model_cfg: dict[str, Any], train_cfg: dict[str, Any],
              description: dict[str, Any], seeds: list[int]) -> str:
    """The pair's MLflow run (parent of its seeds' runs); later stages log to it."""
    import mlflow  # heavy: imported only here

    mlflow.set_tracking_uri(tracking_uri(cfg.tracking.uri))
    experiment = mlflow.set_experiment(effect)
    with mlflow.start_run(run_name=pair, experiment_id=experiment.experiment_id) as run:
        mlflow.log_params({**flatten({"model": model_cfg, "train": train_cfg, "effect": plain(cfg.effects[effect])}),
                           "seed": str(cfg.seed), "seeds": ",".join(map(str, seeds)),
                           "data.segment_seconds": str(cfg.data.segment_seconds),
                           "params": str(description["params"]), "pair": pair})
        mlflow.set_tags({"effect": effect, "model": pair.split("-", 1)[1]})
        return run.info.run_id


def train_pair(cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """Train every seed of one (effect, model) pair, choose the median one, report; return the report."""
    pair = f"{effect}-{model_name}"
    train_cfg = pair_train_config(cfg, model_cfg)
    module, datamodule = prepare_pair(cfg, effect, model_cfg)
    description = module.model.describe()
    seeds = seed_values(cfg, train_cfg)
    pair_dir = Path(cfg.paths.checkpoints) / pair
    for stale in [p for p in pair_dir.glob("seed-*") if p.is_dir() and int(p.name[5:]) >= len(seeds)] \
            if pair_dir.is_dir() else []:
        shutil.rmtree(stale)  # seeds of a larger earlier train.seeds
    for stale in ("last.ckpt", "history.json", "run.json"):  # a single-seed layout of older versions
        (pair_dir / stale).unlink(missing_ok=True)
    parent = _pair_run(cfg, effect, pair, model_cfg, train_cfg, description, seeds)
    log.info("training %s (%d parameters): seeds %s, %d in parallel", pair, description["params"], seeds,
             min(int(train_cfg.get("parallel", 1)), len(seeds)))
    started = time.perf_counter()
    results = _train_seeds(cfg, effect, model_name, model_cfg, seeds, int(train_cfg.get("parallel", 1)), parent)
    wall_seconds = time.perf_counter() - started

    finals = [r["val_esr_final"] if r["val_esr_final"] is not None else float("inf") for r in results]
    chosen = results[median_index(finals)]
    shutil.copyfile(chosen["checkpoint"], pair_dir / "best.ckpt")
    best = EffectModule.load_from_checkpoint(str(pair_dir / "best.ckpt"), map_location="cpu")
    test = load_whole_takes(Path(cfg.paths.datasets) / effect, "test")
    metrics, estimate = evaluate(best.model, test, datamodule.sample_rate)

    report_dir = Path(cfg.paths.reports) / "train" / pair
    if report_dir.exists():
        shutil.rmtree(report_dir)
    examples = []
    for i in _pick_examples(test, int(train_cfg["examples"])):
        n = int(test.lengths[i])
        stem = Path(test.paths[i]).stem
        for kind, signal in (("dry", test.dry), ("target", test.target), ("model", estimate)):
            write_audio(report_dir / "examples" / f"{stem}_{kind}.wav",
                        signal[i, 0, :n].numpy().astype("float32"), datamodule.sample_rate)
        examples.append(test.paths[i])
    plot_path = report_dir / "loss_curve.png"
    curves = {f"seed {r['seed']}" + (" (chosen)" if r is chosen else ""): json.loads(Path(r["history"]).read_text())
              for r in results}
    plot_seed_curves(curves, plot_path, f"{pair}: {description['params']} parameters, {len(seeds)} seed(s)")

    spreads = {key: spread([r["test"].get(key) for r in results]) for key in SPREAD_METRICS}
    spreads["val_esr_final"] = spread([r["val_esr_final"] for r in results])
    spreads["guitar_esr"] = spread([r["guitar_esr"] for r in results])
    machine_dependent = [r for r in results if r["stopped_by"] in ("max_time", "interrupted")]
    warning = None
    if machine_dependent:
        warning = (f"training of {pair} seed(s) {[r['seed'] for r in machine_dependent]} ended before "
                   f"{train_cfg['max_epochs']} epochs (train.max_minutes): these models depend on the machine's "
                   "speed and load, so another machine trains different ones; raise train.max_minutes or set it to null")
        log.warning("!" * 20 + " " + warning + " " + "!" * 20)
    report = {
        "effect": effect, "model": model_name, **description,
        "size": model_cfg["size"],
        "test": metrics,
        "seeds": [{k: v for k, v in r.items() if k not in ("history",)} for r in results],
        "spread": spreads,
        "chosen_seed": chosen["seed"],
        "selection": "the seed with the median final validation ESR",
        "val_esr_final": chosen["val_esr_final"],
        "epochs": chosen["epochs"], "max_epochs": int(train_cfg["max_epochs"]), "stopped_by": chosen["stopped_by"],
        "resumed": any(r["resumed"] for r in results),
        "machine_dependent": warning is not None, "warning": warning,
        "train_seconds": round(sum(r["train_seconds"] for r in results), 1),
        "train_minutes": round(sum(r["train_seconds"] for r in results) / 60, 2),
        "wall_minutes": round(wall_seconds / 60, 2),
        "examples": examples,
        "checkpoint": str(pair_dir / "best.ckpt"),
        "mlflow": {"experiment": effect, "run_id": parent,
                   "seed_run_ids": [r["mlflow_run_id"] for r in results]},
    }
    _log_pair(cfg, parent, report, plot_path, report_dir)
    report_path = Path(cfg.paths.reports) / "train" / f"{pair}.json"
    write_json(report_path, report)
    _log_artifact(cfg, parent, report_path)
    esr = spreads["esr"]
    log.info("%s: chosen seed %d, test ESR %s; over %d seeds median %s (%s..%s); %.1f min wall", pair,
             chosen["seed"], metrics["esr"], len(seeds), esr and esr["median"], esr and esr["min"],
             esr and esr["max"], wall_seconds / 60)
    return report


def _log_pair(cfg: DictConfig, run_id: str, report: dict[str, Any], plot_path: Path, report_dir: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri(cfg.tracking.uri))
    metrics = report["test"]
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            client.log_metric(run_id, f"test/{key}", float(value))
    for category, values in metrics["by_category"].items():
        for key, value in values.items():
            if isinstance(value, (int, float)):
                client.log_metric(run_id, f"test/{category}/{key}", float(value))
    for key, s in report["spread"].items():
        if s:
            for stat in ("median", "min", "max"):
                client.log_metric(run_id, f"seeds/{key}_{stat}", float(s[stat]))
    client.log_metric(run_id, "seeds/count", float(len(report["seeds"])))
    client.set_tag(run_id, "chosen_seed", str(report["chosen_seed"]))
    client.set_tag(run_id, "stopped_by", report["stopped_by"])
    if report["warning"]:
        client.set_tag(run_id, "warning", report["warning"])
    client.log_metric(run_id, "train_seconds", float(report["train_seconds"]))
    client.log_metric(run_id, "params", float(report["params"]))
    client.log_artifact(run_id, str(plot_path))
    if (report_dir / "examples").is_dir():
        client.log_artifacts(run_id, str(report_dir / "examples"), artifact_path="examples")


def _log_artifact(cfg: DictConfig, run_id: str, path: Path) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri(cfg.tracking.uri)).log_artifact(run_id, str(path))


def run(cfg: DictConfig) -> None:
    """Stage ``train``: every selected (effect, model) pair."""
    pairs = selected_pairs(cfg)
    for effect, _, model_cfg in pairs:  # refuse a bad config before any pair trains
        prepare_pair(cfg, effect, model_cfg)
    for effect, name, model_cfg in pairs:
        train_pair(cfg, effect, name, model_cfg)
