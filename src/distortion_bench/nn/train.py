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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf

from distortion_bench.analysis.metrics import group_esr
from distortion_bench.analysis.spread import median_index
from distortion_bench.atomic import write_json
from distortion_bench.config import plain, selected_models, selected_pairs
from distortion_bench.nn.data import EffectDataModule, load_whole_takes
from distortion_bench.nn.evaluate import evaluate
from distortion_bench.nn.module import EffectModule
from distortion_bench.nn.train_config import (
    RESUMABLE_KEYS,
    check_train_config,
    pair_train_config,
    seed_values,
    stopped_by,
)
from distortion_bench.nn.train_report import (
    SPREAD_METRICS,
    log_artifact,
    log_pair,
    plot_curves,
    seed_spreads,
    write_examples,
)
from distortion_bench.nn.trainer import ema_decay, trainer_from_config
from distortion_bench.tracking import flatten, tracking_uri

log = logging.getLogger(__name__)

__all__ = [
    "train_pair",
    "train_seed",
    "prepare_pair",
    "run",
    "selected_models",
    "stopped_by",
    "seed_values",
    "ema_decay",
    "pair_train_config",
]


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def prepare_pair(cfg: DictConfig, effect: str, model_cfg: dict[str, Any]) -> tuple[EffectModule, EffectDataModule]:
    """Build the module and data of a pair; every refusable config is refused here."""
    train_cfg = pair_train_config(cfg, model_cfg)
    check_train_config(train_cfg)
    seed_values(cfg, train_cfg)
    module = EffectModule(model_cfg, train_cfg, int(cfg.audio.sample_rate))
    crop = module.model.warmup_samples() + int(train_cfg["loss_samples"])
    datamodule = EffectDataModule(Path(cfg.paths.datasets) / effect, int(train_cfg["batch_size"]), crop)
    return module, datamodule


@dataclass
class SeedDir:
    """A seed's checkpoint folder and whether its training resumes there.

    ``previous``: the folder's ``run.json`` as found (run id, accumulated training seconds).
    """

    path: Path
    fingerprint: str
    resume: bool
    previous: dict[str, Any]

    @property
    def last(self) -> Path:
        return self.path / "last.ckpt"

    def record(self, **fields: Any) -> None:
        write_json(self.path / "run.json", {"fingerprint": self.fingerprint, **fields})


def open_seed_dir(ckpt_dir: Path, fingerprint: str) -> SeedDir:
    """Resume only an interrupted training of the same fingerprint; otherwise clear the folder
    (another config's, or a completed training: ``dvc repro -f`` retrains from the seed)."""
    run_file = ckpt_dir / "run.json"
    previous = json.loads(run_file.read_text()) if run_file.is_file() else {}
    resume = (
        previous.get("fingerprint") == fingerprint
        and not previous.get("completed")
        and (ckpt_dir / "last.ckpt").is_file()
    )
    if not resume and ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    return SeedDir(ckpt_dir, fingerprint, resume, previous if resume else {})


def _seed_logger(cfg: DictConfig, effect: str, name: str, seed_dir: SeedDir, parent: str | None) -> MLFlowLogger:
    run_id = seed_dir.previous.get("run_id")
    tags = {"mlflow.parentRunId": parent} if parent and run_id is None else None
    return MLFlowLogger(
        experiment_name=effect, run_name=name, tracking_uri=tracking_uri(cfg.tracking.uri), run_id=run_id, tags=tags
    )


def _test_seed(model: torch.nn.Module, dataset_dir: Path, sample_rate: int) -> tuple[dict[str, Any], float | None]:
    """Test metrics of one seed's model over the whole test takes, and the played guitar's ESR
    (the measurement signals' loud noise and sweeps aside)."""
    metrics, _ = evaluate(model, load_whole_takes(dataset_dir, "test"), sample_rate)
    return metrics, group_esr(metrics.get("by_category") or {}, "guitar")


def train_seed(
    cfg: DictConfig,
    effect: str,
    model_name: str,
    model_cfg: dict[str, Any],
    seed: int,
    index: int,
    parent_run_id: str | None,
) -> dict[str, Any]:
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
    learning = {k: v for k, v in train_cfg.items() if k not in RESUMABLE_KEYS}
    manifest = hashlib.sha256((dataset_dir / "manifest.json").read_bytes()).hexdigest()
    seed_dir = open_seed_dir(
        Path(cfg.paths.checkpoints) / pair / f"seed-{index}", _fingerprint(model_cfg, learning, seed, manifest)
    )

    # 1. the seed's MLflow run (a child of the pair's), resumed with its training
    logger = _seed_logger(cfg, effect, f"{pair}/seed-{index}", seed_dir, parent_run_id)
    run_id = logger.run_id
    earlier_seconds = float(seed_dir.previous.get("train_seconds", 0.0))
    seed_dir.record(run_id=run_id, train_seconds=earlier_seconds)
    if not seed_dir.resume:
        logger.log_hyperparams(
            {
                **flatten({"model": model_cfg, "train": train_cfg}),
                "seed": str(seed),
                "pair": pair,
                "params": str(module.model.describe()["params"]),
            }
        )
    for key, value in (("effect", effect), ("model", model_name), ("seed", str(seed)), ("seed_index", str(index))):
        logger.experiment.set_tag(run_id, key, value)

    # 2. fit to the epoch budget
    trainer = trainer_from_config(train_cfg, seed_dir.path, logger)
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(seed_dir.last) if seed_dir.resume else None)
    train_seconds = earlier_seconds + time.perf_counter() - started
    cap = train_cfg.get("max_minutes")
    stop = stopped_by(trainer.current_epoch, int(train_cfg["max_epochs"]), None if cap is None else float(cap))
    seed_dir.record(run_id=run_id, train_seconds=train_seconds, completed=True, stopped_by=stop)
    # WeightAveraging swaps the averaged weights into the module at the end of fit; save them.
    trainer.save_checkpoint(str(seed_dir.last))

    # 3. test the saved model, as the later stages will load it
    history = json.loads((seed_dir.path / "history.json").read_text())
    val = [r["val/esr"] for r in history if "val/esr" in r]
    saved = EffectModule.load_from_checkpoint(str(seed_dir.last), map_location="cpu").model
    metrics, guitar = _test_seed(saved, dataset_dir, datamodule.sample_rate)
    client = logger.experiment
    for key in SPREAD_METRICS:
        if isinstance(metrics.get(key), (int, float)):
            client.log_metric(run_id, f"test/{key}", float(metrics[key]))
    if guitar is not None:
        client.log_metric(run_id, "test/guitar_esr", guitar)
    client.log_metric(run_id, "train_seconds", train_seconds)
    client.set_tag(run_id, "stopped_by", stop)
    log.info(
        "%s seed %d: final val ESR %s, test ESR %s, %.1f min, %d epochs (%s)",
        pair,
        seed,
        val[-1] if val else None,
        metrics["esr"],
        train_seconds / 60,
        trainer.current_epoch,
        stop,
    )
    return {
        "seed": seed,
        "index": index,
        "val_esr_final": val[-1] if val else None,
        "val_esr_min": min(val) if val else None,
        "test": metrics,
        "guitar_esr": guitar,
        "epochs": trainer.current_epoch,
        "stopped_by": stop,
        "resumed": seed_dir.resume,
        "train_seconds": round(train_seconds, 1),
        "checkpoint": str(seed_dir.last),
        "history": str(seed_dir.path / "history.json"),
        "mlflow_run_id": run_id,
    }


def _train_seed_job(args: tuple[dict[str, Any], str, str, dict[str, Any], int, int, str | None]) -> dict[str, Any]:
    """Process-pool entry point: the config travels as a plain dict."""
    cfg_dict, effect, model_name, model_cfg, seed, index, parent = args
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    return train_seed(OmegaConf.create(cfg_dict), effect, model_name, model_cfg, seed, index, parent)


def _train_seeds(
    cfg: DictConfig,
    effect: str,
    model_name: str,
    model_cfg: dict[str, Any],
    seeds: list[int],
    parallel: int,
    parent: str,
) -> list[dict[str, Any]]:
    jobs = [
        (OmegaConf.to_container(cfg, resolve=True), effect, model_name, model_cfg, seed, i, parent)
        for i, seed in enumerate(seeds)
    ]
    workers = min(parallel, len(jobs))
    if workers <= 1:
        return [train_seed(cfg, effect, model_name, model_cfg, seed, i, parent) for i, seed in enumerate(seeds)]
    # spawn, not fork: a forked child would inherit torch's and MLflow's threads and locks.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_train_seed_job, jobs))


def _pair_run(
    cfg: DictConfig,
    effect: str,
    pair: str,
    model_cfg: dict[str, Any],
    train_cfg: dict[str, Any],
    description: dict[str, Any],
    seeds: list[int],
) -> str:
    """The pair's MLflow run (parent of its seeds' runs); later stages log to it."""
    import mlflow  # heavy: imported only here

    mlflow.set_tracking_uri(tracking_uri(cfg.tracking.uri))
    experiment = mlflow.set_experiment(effect)
    with mlflow.start_run(run_name=pair, experiment_id=experiment.experiment_id) as run:
        mlflow.log_params(
            {
                **flatten({"model": model_cfg, "train": train_cfg, "effect": plain(cfg.effects[effect])}),
                "seed": str(cfg.seed),
                "seeds": ",".join(map(str, seeds)),
                "data.segment_seconds": str(cfg.data.segment_seconds),
                "params": str(description["params"]),
                "pair": pair,
            }
        )
        mlflow.set_tags({"effect": effect, "model": pair.split("-", 1)[1]})
        return run.info.run_id


def _clear_stale(pair_dir: Path, seeds: int) -> None:
    """Seed folders of a larger earlier ``train.seeds``, and the single-seed layout of older versions."""
    if pair_dir.is_dir():
        for stale in [p for p in pair_dir.glob("seed-*") if p.is_dir() and int(p.name[5:]) >= seeds]:
            shutil.rmtree(stale)
    for name in ("last.ckpt", "history.json", "run.json"):
        (pair_dir / name).unlink(missing_ok=True)


def _machine_warning(pair: str, results: list[dict[str, Any]], max_epochs: int) -> str | None:
    short = [r["seed"] for r in results if r["stopped_by"] in ("max_time", "interrupted")]
    if not short:
        return None
    return (
        f"training of {pair} seed(s) {short} ended before {max_epochs} epochs (train.max_minutes): these models "
        "depend on the machine's speed and load, so another machine trains different ones; raise "
        "train.max_minutes or set it to null"
    )


def train_pair(cfg: DictConfig, effect: str, model_name: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """Train every seed of one (effect, model) pair, choose the median one, report; return the report."""
    pair = f"{effect}-{model_name}"
    train_cfg = pair_train_config(cfg, model_cfg)
    module, datamodule = prepare_pair(cfg, effect, model_cfg)
    description = module.model.describe()
    seeds = seed_values(cfg, train_cfg)
    pair_dir = Path(cfg.paths.checkpoints) / pair
    _clear_stale(pair_dir, len(seeds))
    parent = _pair_run(cfg, effect, pair, model_cfg, train_cfg, description, seeds)
    parallel = int(train_cfg.get("parallel", 1))
    log.info(
        "training %s (%d parameters): seeds %s, %d in parallel",
        pair,
        description["params"],
        seeds,
        min(parallel, len(seeds)),
    )
    started = time.perf_counter()
    results = _train_seeds(cfg, effect, model_name, model_cfg, seeds, parallel, parent)
    wall_seconds = time.perf_counter() - started

    # the seed with the median final validation ESR: a rule that never looks at test audio
    finals = [r["val_esr_final"] if r["val_esr_final"] is not None else float("inf") for r in results]
    chosen = results[median_index(finals)]
    shutil.copyfile(chosen["checkpoint"], pair_dir / "best.ckpt")
    best = EffectModule.load_from_checkpoint(str(pair_dir / "best.ckpt"), map_location="cpu")
    test = load_whole_takes(Path(cfg.paths.datasets) / effect, "test")
    metrics, estimate = evaluate(best.model, test, datamodule.sample_rate)

    report_dir = Path(cfg.paths.reports) / "train" / pair
    if report_dir.exists():
        shutil.rmtree(report_dir)
    examples = write_examples(report_dir, test, estimate, int(train_cfg["examples"]), datamodule.sample_rate)
    plot_path = report_dir / "loss_curve.png"
    plot_curves(results, chosen, plot_path, f"{pair}: {description['params']} parameters, {len(seeds)} seed(s)")
    spreads = seed_spreads(results)
    warning = _machine_warning(pair, results, int(train_cfg["max_epochs"]))
    if warning:
        log.warning("!" * 20 + " " + warning + " " + "!" * 20)
    report = {
        "effect": effect,
        "model": model_name,
        **description,
        "size": model_cfg["size"],
        "test": metrics,
        "seeds": [{k: v for k, v in r.items() if k not in ("history",)} for r in results],
        "spread": spreads,
        "chosen_seed": chosen["seed"],
        "selection": "the seed with the median final validation ESR",
        "val_esr_final": chosen["val_esr_final"],
        "epochs": chosen["epochs"],
        "max_epochs": int(train_cfg["max_epochs"]),
        "stopped_by": chosen["stopped_by"],
        "resumed": any(r["resumed"] for r in results),
        "machine_dependent": warning is not None,
        "warning": warning,
        "train_seconds": round(sum(r["train_seconds"] for r in results), 1),
        "train_minutes": round(sum(r["train_seconds"] for r in results) / 60, 2),
        "wall_minutes": round(wall_seconds / 60, 2),
        "examples": examples,
        "checkpoint": str(pair_dir / "best.ckpt"),
        "mlflow": {"experiment": effect, "run_id": parent, "seed_run_ids": [r["mlflow_run_id"] for r in results]},
    }
    log_pair(cfg, parent, report, plot_path, report_dir)
    report_path = Path(cfg.paths.reports) / "train" / f"{pair}.json"
    write_json(report_path, report)
    log_artifact(cfg, parent, report_path)
    esr = spreads["esr"]
    log.info(
        "%s: chosen seed %d, test ESR %s; over %d seeds median %s (%s..%s); %.1f min wall",
        pair,
        chosen["seed"],
        metrics["esr"],
        len(seeds),
        esr and esr["median"],
        esr and esr["min"],
        esr and esr["max"],
        wall_seconds / 60,
    )
    return report


def run(cfg: DictConfig) -> None:
    """Stage ``train``: every selected (effect, model) pair."""
    pairs = selected_pairs(cfg)
    for effect, _, model_cfg in pairs:  # refuse a bad config before any pair trains
        prepare_pair(cfg, effect, model_cfg)
    for effect, name, model_cfg in pairs:
        train_pair(cfg, effect, name, model_cfg)
