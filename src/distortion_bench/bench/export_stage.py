"""Stages ``export_onnx`` and ``export_knobs``: every trained (effect, model) pair, and every
knob-conditioned pair (``<effect>-<model>-knobs``), to ``<exported>/<pair>.onnx``.

After exporting, the file is checked against PyTorch on the pair's test takes, streamed
buffer by buffer with the state carried (parity per buffer size into
``<reports>/export/<pair>.json``), and logged to the pair's MLflow training run with
``mlflow.onnx``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from omegaconf import DictConfig

from distortion_bench.atomic import write_json
from distortion_bench.config import selected_knob_pairs, selected_pairs
from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.engine.knob_mailbox import random_setting
from distortion_bench.engine.nn_processors import OnnxProcessor, TorchProcessor
from distortion_bench.engine.processor import Processor
from distortion_bench.errors import ConfigError, DistortionBenchError
from distortion_bench.nn.data import load_whole_takes
from distortion_bench.nn.export import export_onnx, read_onnx_contract
from distortion_bench.nn.module import EffectModule
from distortion_bench.tracking import tracking_uri

log = logging.getLogger(__name__)

#: Buffer sizes (samples) at which exported files are compared with PyTorch; 0 = a seeded random mix.
PARITY_BUFFERS = (1, 32, 64, 512, 4096, 0)
#: Samples compared one at a time (buffer size 1) unless ``export.single_sample_samples`` says
#: otherwise: single-sample calls of both backends over the whole parity signal would take most
#: of the stage; a quarter second still spans the TCN's receptive field 47 times.
SINGLE_SAMPLE_PARITY = 12_000


def parity_settings(cfg: DictConfig) -> tuple[float, int]:
    """``export.parity_seconds`` and ``export.single_sample_samples``, checked."""
    seconds, single = cfg.export.parity_seconds, cfg.export.single_sample_samples
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 600:
        raise ConfigError(f"export.parity_seconds: expected seconds in (0, 600], got {seconds!r}")
    if isinstance(single, bool) or not isinstance(single, int) or single < 1:
        raise ConfigError(f"export.single_sample_samples: expected a number of samples >= 1, got {single!r}")
    return float(seconds), single


def ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def _buffers(n: int, size: int, seed: int = 0) -> list[tuple[int, int]]:
    if size:
        return [(s, min(s + size, n)) for s in range(0, n, size)]
    rng, out, s = np.random.default_rng(seed), [], 0
    while s < n:
        e = min(s + int(rng.integers(1, 2048)), n)
        out.append((s, e))
        s = e
    return out


def parity(
    onnx_proc: Processor,
    torch_proc: Processor,
    signal: np.ndarray,
    single: int = SINGLE_SAMPLE_PARITY,
    knobs: KnobSpace | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Max abs difference between the two processors streaming ``signal`` per buffer size (at
    buffer size 1 its first ``single`` samples). With ``knobs`` (a conditioned model's space),
    both are set to a new seeded random setting before every buffer, so the comparison covers
    knob changes between calls as a plugin makes them."""
    result = {}
    for size in PARITY_BUFFERS:
        onnx_proc.reset()
        torch_proc.reset()
        rng = np.random.default_rng(seed)
        worst = 0.0
        n = min(signal.shape[0], single) if size == 1 else signal.shape[0]
        for s, e in _buffers(n, size):
            if knobs is not None:
                setting = random_setting(knobs, rng)
                onnx_proc.set_knobs(at_once=True, **setting)
                torch_proc.set_knobs(at_once=True, **setting)
            buf = signal[s:e]
            a = onnx_proc.process_buffer(buf)
            worst = max(worst, float(np.max(np.abs(a - torch_proc.process_buffer(buf)))))
        result["random" if size == 0 else f"bs{size:04d}"] = worst
    return result


def export_pair(cfg: DictConfig, effect: str, model_name: str, pair: str | None = None) -> dict[str, Any]:
    """Export ``<checkpoints>/<pair>/best.ckpt`` (``pair`` defaults to ``<effect>-<model>``) to
    ``<exported>/<pair>.onnx``, check it, report and log it. A knob-conditioned model's parity is
    taken with its knobs changing before every buffer, and its Numba kernel's against ONNX
    Runtime the same way."""
    pair = pair or f"{effect}-{model_name}"
    ckpt = Path(cfg.paths.checkpoints) / pair / "best.ckpt"
    train_report = Path(cfg.paths.reports) / "train" / f"{pair}.json"
    if not ckpt.is_file() or not train_report.is_file():
        raise DistortionBenchError(f"{ckpt}: no trained model for {pair}; run the train stage first")
    run_id = json.loads(train_report.read_text())["mlflow"]["run_id"]
    model = EffectModule.load_from_checkpoint(str(ckpt), map_location="cpu").model
    path = Path(cfg.paths.exported) / f"{pair}.onnx"
    export_onnx(
        model,
        path,
        int(cfg.audio.sample_rate),
        {"effect": effect, "model": pair.removeprefix(f"{effect}-"), "mlflow_run_id": run_id},
    )
    contract = read_onnx_contract(path)
    space = KnobSpace.from_dict(contract.knobs, f"{path}: metadata knobs") if contract.knobs else None

    test = load_whole_takes(Path(cfg.paths.datasets) / effect, "test")
    seconds, single = parity_settings(cfg)
    signal = test.concatenated(test.dry)[: int(seconds * int(cfg.audio.sample_rate))]
    onnx_proc = OnnxProcessor(path, f"onnx:{pair}", effect)
    errors = parity(onnx_proc, TorchProcessor(ckpt, f"torch:{pair}", effect), signal, single, space)
    extra: dict[str, Any] = {}
    if space is not None:
        from distortion_bench.engine.numba_nn_processor import NumbaNetworkProcessor

        numba_proc = NumbaNetworkProcessor(path, f"numba:{pair}", effect)
        extra = {
            "knobs": contract.knobs,
            "knob_names": list(contract.knobs or {}),  # the input's column order (JSON keys get sorted)
            "numba_parity_max_abs": parity(numba_proc, onnx_proc, signal, single, space, seed=1),
            "parity_knobs": "a new random setting before every buffer",
        }
    report = {
        "effect": effect,
        "model": pair.removeprefix(f"{effect}-"),
        "onnx": str(path),
        "bytes": path.stat().st_size,
        "state_names": contract.state_names,
        "state_shapes": [list(s) for s in contract.state_shapes],
        "parity_max_abs": errors,
        "parity_seconds": round(signal.shape[0] / int(cfg.audio.sample_rate), 3),
        "mlflow_run_id": run_id,
        **extra,
    }
    write_json(Path(cfg.paths.reports) / "export" / f"{pair}.json", report)

    import mlflow  # heavy: imported only when a model is logged

    mlflow.set_tracking_uri(tracking_uri(cfg.tracking.uri))
    with mlflow.start_run(run_id=run_id):
        # requirements stated, not inferred: inference imports the model in a fresh environment
        # and takes longer than the export itself
        mlflow.onnx.log_model(
            onnx.load(str(path)),
            name="onnx_model",
            pip_requirements=[f"onnx=={onnx.__version__}", f"onnxruntime=={ort_version()}"],
        )
        for key, value in errors.items():
            mlflow.log_metric(f"onnx_parity_max_abs/{key}", value)
    log.info("exported %s -> %s; parity (max abs vs PyTorch): %s", pair, path, errors)
    return report


def run(cfg: DictConfig) -> None:
    """Stage ``export_onnx``: the selected pairs (``select.*``, else all of ``train_matrix``)."""
    parity_settings(cfg)  # a bad setting is refused before anything is written
    for effect, name, _ in selected_pairs(cfg):
        export_pair(cfg, effect, name)


def run_knobs(cfg: DictConfig) -> None:
    """Stage ``export_knobs``: the selected knob-conditioned pairs (``knob_matrix``, ``select.*``)."""
    parity_settings(cfg)
    for effect, name, _ in selected_knob_pairs(cfg):
        export_pair(cfg, effect, name, f"{effect}-{name}-knobs")
