"""Processors built from config names, so Hydra (and the benchmarks) can select them.

Names are ``<backend>:<target>``:

- ``numpy:<effect>``, ``numba:<effect>``, ``pedalboard:<effect>``: DSP, ``<effect>`` a key of
  ``effects`` (e.g. ``numba:tube``); ``numpy:<effect>-os<N>``, ``numba:<effect>-os<N>``: an
  oversampling effect (the diode clipper) run at factor ``N`` instead of its configured one
  (e.g. ``numba:clipper-os4``), so the benches can price each factor;
- ``numba:<effect>-<model>``: the exported file ``<exported>/<effect>-<model>.onnx`` compiled to a
  Numba kernel generated for its shape (:mod:`.numba_nn_processor`; the generic kernel where the
  generator does not cover the model); ``numba-generic:<effect>-<model>``: the same file on the
  generic kernels (sizes read at run time), the baseline the generated kernels are measured against;
- ``torch:<effect>-<model>``: the trained checkpoint ``<checkpoints>/<effect>-<model>/best.ckpt``;
- ``onnx:<effect>-<model>``: the exported file ``<exported>/<effect>-<model>.onnx``;
- ``onnx-naive:<effect>-<model>``: the same TCN file run without its caches, recomputing the
  receptive field every buffer (the baseline that shows what streaming saves).
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig

from distortion_bench.config import plain
from distortion_bench.engine.dsp_processors import PedalboardProcessor, dsp_processor
from distortion_bench.engine.knob_glide import DEFAULT_GLIDE_S
from distortion_bench.engine.nn_processors import NaiveOnnxTcnProcessor, OnnxProcessor, TorchProcessor
from distortion_bench.engine.processor import Processor
from distortion_bench.errors import ConfigError

BACKENDS = ("numpy", "numba", "numba-generic", "pedalboard", "torch", "onnx", "onnx-naive")
#: ``<effect>-os<N>[-tol<volts>]``: a DSP effect at oversampling factor N (and solver tolerance)
OVERSAMPLED = re.compile(r"([A-Za-z0-9_]+)-os([0-9]+)(?:-tol([0-9.]+(?:e-?[0-9]+)?))?")


def _effect_of(cfg: DictConfig, name: str, target: str) -> str:
    effect = target.split("-", 1)[0]
    if effect not in cfg.effects:
        raise ConfigError(
            f"processor {name!r}: {effect!r} is not a key of effects; expected one of {sorted(cfg.effects)}"
        )
    return effect


def build_processor(name: str, cfg: DictConfig, threads: int = 1) -> Processor:
    """Build the processor called ``name`` (see the module docstring) from the config.

    ``threads``: intra-op threads for the neural backends (1 compares backends fairly).
    """
    backend, sep, target = name.partition(":")
    if not sep or backend not in BACKENDS or not target:
        raise ConfigError(f"processor {name!r}: expected '<backend>:<target>' with backend one of {list(BACKENDS)}")
    effect = _effect_of(cfg, name, target)
    sample_rate = int(cfg.audio.sample_rate)
    variant = OVERSAMPLED.fullmatch(target)
    if backend in ("numpy", "numba") and variant is not None:
        effect_cfg = plain(cfg.effects[effect])
        if "oversampling" not in effect_cfg:
            raise ConfigError(
                f"processor {name!r}: effects.{effect} ({effect_cfg.get('kind')}) has no oversampling factor to vary"
            )
        varied = {**effect_cfg, "oversampling": int(variant.group(2))}
        if variant.group(3) is not None:
            if "tolerance_v" not in effect_cfg:
                raise ConfigError(f"processor {name!r}: effects.{effect} has no solver tolerance to vary")
            varied["tolerance_v"] = float(variant.group(3))
        return dsp_processor(varied, effect, sample_rate, backend, name=name)
    if backend in ("numba", "numba-generic") and "-" in target:
        # imported here: loading the compiled kernels costs ~1 s, which other processors need not pay
        from distortion_bench.engine.numba_nn_processor import NumbaNetworkProcessor

        return NumbaNetworkProcessor(
            Path(cfg.paths.exported) / f"{target}.onnx",
            name,
            effect,
            knob_glide_s=knob_glide_seconds(cfg, effect),
            kernel="generic" if backend == "numba-generic" else "generated",
        )
    if backend in ("numpy", "numba"):
        return dsp_processor(plain(cfg.effects[effect]), effect, sample_rate, backend)
    if backend == "pedalboard":
        return PedalboardProcessor(plain(cfg.effects[effect]), effect, sample_rate)
    if "-" not in target:
        raise ConfigError(f"processor {name!r}: a neural processor is named '{backend}:<effect>-<model>'")
    if backend == "torch":
        checkpoint = Path(cfg.paths.checkpoints) / target / "best.ckpt"
        return TorchProcessor(checkpoint, name, effect, threads, knob_glide_seconds(cfg, effect), sample_rate)
    if backend == "onnx-naive":
        return NaiveOnnxTcnProcessor(Path(cfg.paths.exported) / f"{target}.onnx", name, effect, threads)
    return OnnxProcessor(
        Path(cfg.paths.exported) / f"{target}.onnx", name, effect, threads, knob_glide_seconds(cfg, effect)
    )


def knob_glide_seconds(cfg: DictConfig, effect: str) -> float:
    """How fast a conditioned network follows a knob change: the DSP's time constant
    (``effects.<effect>.smoothing_ms``), so that network and DSP glide alike; seconds."""
    ms = cfg.effects[effect].get("smoothing_ms", 1e3 * DEFAULT_GLIDE_S)
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not ms >= 0:
        raise ConfigError(f"effects.{effect}.smoothing_ms: expected milliseconds >= 0, got {ms!r}")
    return float(ms) / 1e3
