"""The neural-bitcrusher ablation: one job = (model family, training loss, effect parameters).

Each job (a Hydra multirun job of ``pipeline.ablation``, see ``conf/ablation.yaml``):

1. renders the dry corpus through the effect *as the job configures it* (``bits``,
   ``downsample``) and cuts the dataset with the pipeline's split and seed, once per effect
   parameters (``<ablation.data_dir>/<effect>-<hash>/``, locked like the sweep's models);
2. trains and exports the model with the ablation's budget (the same for every family: a model
   config's own ``train`` overrides are dropped) through :func:`..training.trained_model`;
3. measures the ONNX model against the Numba DSP: residual ESR, ESR and MR-STFT distance on the
   test takes (MR-STFT also on the residuals: what the effect adds), the harmonic fingerprint
   difference on the alias-free test sines (measured and floor-bounded apart, see
   :mod:`distortion_bench.analysis.harmonics`), the aliasing level on the aliasing probe, and time
   per buffer at ``ablation.buffer_sizes`` interleaved with the Numba DSP;
4. records all of it as an MLflow child run of the multirun's parent (tags ``model``, ``loss``,
   ``bits``, ``downsample``).

:func:`write_report` (called when a multirun ends) reads every finished job of the experiment
and writes ``<ablation.report_dir>/``: ``ablation.csv``, ``ablation.md`` and ``ablation.png``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from distortion_bench.analysis.metrics import mrstft_distance
from distortion_bench.analysis.plotting import save_png
from distortion_bench.atomic import write_text
from distortion_bench.bench.common import csv_text, test_takes
from distortion_bench.bench.measure import compare_harmonics, measure_processor, quality_plan
from distortion_bench.bench.timing import AudioBenchmark, TimingConfig
from distortion_bench.config import plain
from distortion_bench.data.dataset import build_effect_dataset
from distortion_bench.data.manifest import MANIFEST_NAME
from distortion_bench.data.render import render_effect
from distortion_bench.data.splits import split_ratios
from distortion_bench.dsp import build_effect
from distortion_bench.engine.dsp_processors import dsp_processor
from distortion_bench.engine.nn_processors import OnnxProcessor
from distortion_bench.errors import ConfigError
from distortion_bench.sweep.job import child_run
from distortion_bench.sweep.training import exclusive, trained_model

log = logging.getLogger(__name__)

#: the training-loss presets of conf/loss/, recognised from their weights for the run's tag
LOSS_NAMES = {
    ("esr", "dc"): "esr",
    ("residual_esr",): "residual",
    ("residual_esr", "residual_mrstft"): "residual_mrstft",
}
REPORT_COLUMNS = (
    "model",
    "loss",
    "bits",
    "downsample",
    "params",
    "residual_esr",
    "esr",
    "mrstft",
    "residual_mrstft",
    "harmonic_diff_db",
    "harmonic_diff_bounded_db",
    "aliasing_db",
    "reference_aliasing_db",
    "p50_us_bs64",
    "p50_us_bs512",
    "rtf_bs64",
    "train_seconds",
)


def loss_name(loss_cfg: Mapping[str, Any]) -> str:
    """The preset's name (``esr``, ``residual``, ``residual_mrstft``) or the active terms joined."""
    active = tuple(k for k, v in loss_cfg.get("weights", {}).items() if float(v) > 0)
    return LOSS_NAMES.get(active, "+".join(active))


def effect_dataset(cfg: DictConfig, effect: str) -> Path:
    """The ``datasets`` folder holding ``<effect>/`` rendered and cut for this job's effect params."""
    params = plain(cfg.effects[effect])
    dry_manifest = Path(cfg.paths.dry) / MANIFEST_NAME
    if not dry_manifest.is_file():
        raise ConfigError(f"{dry_manifest}: no dry corpus; run `dvc repro prepare_dry` first")
    parts = [
        effect,
        params,
        plain(cfg.data.split),
        float(cfg.data.segment_seconds),
        int(cfg.seed),
        hashlib.sha256(dry_manifest.read_bytes()).hexdigest(),
    ]
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]
    root = Path(cfg.ablation.data_dir) / f"{effect}-{digest}"
    datasets = root / "datasets"
    with exclusive(Path(cfg.ablation.data_dir) / f"{effect}-{digest}.lock"):
        if not (datasets / effect / MANIFEST_NAME).is_file():
            sr = int(cfg.audio.sample_rate)
            render_effect(
                build_effect(params, sr, "numba", key=f"effects.{effect}"),
                effect,
                cfg.paths.dry,
                root / "targets" / effect,
            )
            build_effect_dataset(
                cfg.paths.dry,
                root / "targets" / effect,
                datasets / effect,
                split_ratios(plain(cfg.data.split)),
                float(cfg.data.segment_seconds),
                int(cfg.seed),
            )
    return datasets


def measure(cfg: DictConfig, effect: str, onnx_path: str | Path, key: str) -> dict[str, float]:
    """Quality, fingerprint and timing of the ONNX model against the Numba DSP (module docstring):
    the offline stage's measurement (:func:`~distortion_bench.bench.measure.measure_processor`)."""
    sr = int(cfg.audio.sample_rate)
    onnx = OnnxProcessor(onnx_path, f"onnx:{effect}-{key}", effect, int(cfg.bench.threads))
    numba = dsp_processor(plain(cfg.effects[effect]), effect, sr, "numba")
    takes = test_takes(cfg, effect)
    plan = quality_plan(cfg)
    model, reference = measure_processor(onnx, takes, plan), measure_processor(numba, takes, plan)
    scalars = ("esr", "esr_pre", "residual_esr", "mrstft")
    out: dict[str, float] = {k: float(model.quality[k]) for k in scalars if model.quality.get(k) is not None}
    dry, target = np.concatenate(takes.dry), np.concatenate(takes.target)
    residual = mrstft_distance(target - dry, np.concatenate(model.outputs) - dry)
    if residual is not None:
        out["residual_mrstft"] = residual
    harmonics = compare_harmonics(model, reference, plan)
    for name, value in (
        ("harmonic_diff_db", harmonics["harmonic_diff_db"]),
        ("harmonic_diff_bounded_db", harmonics["harmonic_diff_bounded_db"]),
        ("aliasing_db", harmonics["aliasing"]["aliasing_db"]),
        ("reference_aliasing_db", harmonics["aliasing"]["reference_aliasing_db"]),
    ):
        if value is not None:
            out[name] = float(value)
    bench = AudioBenchmark({"onnx": onnx, "numba": numba}, sr, TimingConfig(**plain(cfg.bench.timing)))
    for bs in (int(b) for b in cfg.ablation.buffer_sizes):
        t = bench.run(dry, bs)
        out.update(
            {
                f"p50_us_bs{bs}": t["onnx"].p50_us,
                f"p99_us_bs{bs}": t["onnx"].p99_us,
                f"rtf_bs{bs}": t["onnx"].rtf,
                f"numba_p50_us_bs{bs}": t["numba"].p50_us,
            }
        )
    out["params"] = float(onnx.facts().parameters)
    return out


def run(cfg: DictConfig, overrides: list[str], sweep_dir: str | None) -> dict[str, Any]:
    """Run one ablation job; a failure is a FAILED child run, never raised."""
    effect = str(cfg.sweep.effect)
    model_cfg = {k: v for k, v in plain(cfg.model).items() if k != "train"}  # one budget for all
    loss = loss_name(plain(cfg.train.loss))
    params = plain(cfg.effects[effect]) if effect in cfg.effects else {}
    bits, downsample = params.get("bits"), params.get("downsample")
    # model hyper-parameters the job overrides (model.cells=16384, ...): a variant of the family
    variant = " ".join(sorted(o.removeprefix("model.") for o in overrides if o.startswith("model.")))
    name = f"{effect}-{model_cfg.get('type')}-{loss}-{bits}bit-ds{downsample}" + (f" [{variant}]" if variant else "")
    tags = {
        "effect": effect,
        "model": str(model_cfg.get("type")),
        "size": str(model_cfg.get("size")),
        "variant": variant,
        "loss": loss,
        "bits": str(bits),
        "downsample": str(downsample),
        "distortion_bench.role": "ablation",
    }

    def work(client: Any, run_id: str) -> dict[str, float]:
        if effect not in cfg.effects:
            raise ConfigError(
                f"sweep.effect: {effect!r} is not a key of effects; expected one of {sorted(cfg.effects)}"
            )
        job_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
        with open_dict(job_cfg):
            job_cfg.paths.datasets = str(effect_dataset(cfg, effect))
        model = trained_model(job_cfg, effect, model_cfg)
        client.set_tag(run_id, "model_key", model["key"])
        client.set_tag(run_id, "training_run_id", model["report"]["mlflow"]["run_id"])
        metrics = measure(job_cfg, effect, model["onnx"], model["key"])
        metrics["train_seconds"] = float(model["report"]["train_seconds"])
        metrics["epochs"] = float(model["report"]["epochs"])
        return metrics

    return child_run(cfg, overrides, sweep_dir, str(cfg.sweep.experiment), name, tags, work)


def finished_jobs(client: Any, experiment: str) -> list[dict[str, Any]]:
    """The newest finished job per (model and variant, loss, bits, downsample) of the experiment."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string="tags.`distortion_bench.role` = 'ablation' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=10_000,
    )
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in runs:
        t = r.data.tags
        model = t.get("model", "") + (f" [{t['variant']}]" if t.get("variant") else "")
        key = (model, t.get("loss", ""), t.get("bits", ""), t.get("downsample", ""))
        if key not in rows:
            rows[key] = {
                "model": key[0],
                "loss": key[1],
                "bits": int(key[2]),
                "downsample": int(key[3]),
                **{c: r.data.metrics.get(c) for c in REPORT_COLUMNS[4:]},
            }
    return sorted(rows.values(), key=lambda r: (r["downsample"], r["bits"], r["model"], r["loss"]))


def _cell(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def report_markdown(rows: Sequence[Mapping[str, Any]], budget: str) -> str:
    """The ablation table: a row per job, best residual ESR per (bits, downsample) in bold."""
    best: dict[tuple[int, int], float] = {}
    for r in rows:
        if r["residual_esr"] is not None:
            key = (r["bits"], r["downsample"])
            best[key] = min(best.get(key, np.inf), r["residual_esr"])
    lines = [
        "# Neural bitcrusher: ablation",
        "",
        f"Written by `pipeline.ablation` from the MLflow experiment's finished jobs. Budget: {budget}.",
        "Residual ESR: error / what the effect adds on the test takes (identity = 1; done means <= 0.1).",
        "MR-STFT: auraloss distance to the DSP output, and between the residuals. Harmonic difference:",
        "largest |model - DSP| over harmonics above -100 dB on the alias-free test sines; floor-bounded:",
        "where one side is at its measurement floor (a bound, not a measurement). Aliasing: non-harmonic",
        "power on the 5003 Hz probe, model vs DSP. Time: ONNX Runtime, median per buffer.",
        "",
        "| bits | hold | model | loss | params | residual ESR | ESR | MR-STFT | residual MR-STFT | "
        "harmonic diff | floor-bounded | aliasing (DSP) | p50 @64 | p50 @512 | RTF @64 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        res = _cell(r["residual_esr"], ".3g")
        if r["residual_esr"] is not None and r["residual_esr"] == best.get((r["bits"], r["downsample"])):
            res = f"**{res}**"
        esr = "n/a" if r["esr"] is None else f"{100 * r['esr']:.3g} %"
        alias = f"{_cell(r['aliasing_db'], '.1f')} ({_cell(r['reference_aliasing_db'], '.1f')}) dB"
        lines.append(
            f"| {r['bits']} | {r['downsample']} | {r['model']} | {r['loss']} | {_cell(r['params'], '.0f')} | {res} | "
            f"{esr} | {_cell(r['mrstft'], '.3g')} | {_cell(r['residual_mrstft'], '.3g')} | "
            f"{_cell(r['harmonic_diff_db'], '.1f')} dB | {_cell(r['harmonic_diff_bounded_db'], '.1f')} dB | {alias} | "
            f"{_cell(r['p50_us_bs64'], '.1f')} us | {_cell(r['p50_us_bs512'], '.1f')} us | "
            f"{_cell(r['rtf_bs64'], '.3f')} |"
        )
    return "\n".join([*lines, ""])


def plot_ablation(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Residual ESR per family and loss, a panel per (bits, hold); log scale, the 0.1 target drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["bits"], r["downsample"]) for r in rows})
    models = sorted({r["model"] for r in rows})
    losses = sorted({r["loss"] for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False, sharey=True)
    width = 0.8 / max(len(losses), 1)
    for ax, (bits, hold) in zip(axes[0], panels):
        for j, loss in enumerate(losses):
            values = [
                next(
                    (
                        r["residual_esr"]
                        for r in rows
                        if (r["bits"], r["downsample"], r["model"], r["loss"]) == (bits, hold, m, loss)
                        and r["residual_esr"] is not None
                    ),
                    np.nan,
                )
                for m in models
            ]
            ax.bar(np.arange(len(models)) + (j - (len(losses) - 1) / 2) * width, values, width, label=loss)
        ax.axhline(0.1, color="k", ls="--", lw=0.8)
        ax.axhline(1.0, color="grey", ls=":", lw=0.8)
        ax.set_xticks(np.arange(len(models)), models)
        ax.set_yscale("log")
        ax.set_title(f"{bits} bits" + (f", hold x{hold}" if hold != 1 else ""))
    axes[0][0].set_ylabel("residual ESR (identity = 1, target 0.1)")
    axes[0][-1].legend(title="loss", fontsize=8)
    fig.suptitle("Neural bitcrusher ablation: what each family captures of what the effect adds")
    fig.tight_layout()
    save_png(fig, path)


def write_report(cfg: DictConfig) -> list[Path]:
    """Write the ablation's table, CSV and plot from every finished job of the experiment."""
    from mlflow import MlflowClient

    from distortion_bench.tracking import tracking_uri

    rows = finished_jobs(MlflowClient(tracking_uri(cfg.tracking.uri)), str(cfg.sweep.experiment))
    if not rows:
        return []
    out = Path(cfg.ablation.report_dir)
    budget = f"{int(cfg.train.max_epochs)} epochs per job, `train.loss_samples` {int(cfg.train.loss_samples)}"
    files = [out / "ablation.csv", out / "ablation.md", out / "ablation.png"]
    write_text(files[0], csv_text(rows, REPORT_COLUMNS))
    write_text(files[1], report_markdown(rows, budget))
    plot_ablation(rows, files[2])
    return files
