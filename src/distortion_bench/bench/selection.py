"""Which processors a benchmark runs for an effect, and how report rows label them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from omegaconf import DictConfig

from distortion_bench.config import matrix_effects, matrix_models
from distortion_bench.errors import ConfigError

#: report backend per registry backend
BACKEND_LABELS = {
    "numpy": "numpy",
    "numba": "numba",
    "numba-generic": "numba-generic",
    "pedalboard": "pedalboard",
    "torch": "torch",
    "onnx": "onnxruntime",
    "onnx-naive": "onnxruntime",
}
DSP_BACKENDS = ("numpy", "numba", "pedalboard")
NEURAL_BACKENDS = ("onnx", "numba", "numba-generic", "torch")


@dataclass(frozen=True)
class BenchEntry:
    """One processor of a benchmark.

    Attributes:
        name: registry name (``numba:tube``, ``onnx:tube-tcn``, ``numba:tube-tcn``, ``onnx-naive:tube-tcn``).
        effect: key of ``effects``.
        processor: report label: ``dsp`` (project DSP), ``dsp-<variant>`` (the DSP at another
            oversampling factor or solver tolerance, ``dsp-os2``), ``pedalboard``, a model key
            (``tcn``), or ``<model>-naive``.
        backend: ``numpy``, ``numba``, ``pedalboard``, ``onnxruntime`` or ``torch``.
        model: the model key for neural processors, else None.
    """

    name: str
    effect: str
    processor: str
    backend: str
    model: str | None = None

    @property
    def is_dsp(self) -> bool:
        """The project's DSP (the reference or one of its variants), not a network or a peer."""
        return self.processor == "dsp" or self.processor.startswith("dsp-")

    @property
    def is_reference(self) -> bool:
        return is_dsp_reference(self.name)

    @property
    def file_stem(self) -> str:
        """A file-name-safe form of ``name``."""
        return self.name.replace(":", "_")


def is_dsp_reference(name: str) -> bool:
    """Whether a registry name is an effect's DSP reference (``numba:tube``; a Numba-compiled
    network, ``numba:tube-lstm``, is not)."""
    backend, _, target = name.partition(":")
    return backend == "numba" and "-" not in target


def dsp_backends(cfg: DictConfig, effect: str) -> tuple[str, list[str]]:
    """The DSP backends benchmarked for ``effect`` and the config key they come from:
    ``bench.dsp_by_effect.<effect>`` where set (an effect whose NumPy form is too slow to stream,
    or that pedalboard has no counterpart of), else ``bench.dsp``."""
    by_effect = cfg.bench.get("dsp_by_effect") or {}
    key = f"bench.dsp_by_effect.{effect}" if effect in by_effect else "bench.dsp"
    dsp = list(by_effect[effect] if effect in by_effect else cfg.bench.dsp)
    if "numba" not in dsp:
        raise ConfigError(f"{key}: expected a list containing 'numba' (the reference), got {dsp}")
    for backend in dsp:
        if backend not in DSP_BACKENDS:
            raise ConfigError(f"{key}: {backend!r} is not one of {list(DSP_BACKENDS)}")
    return key, dsp


#: a DSP variant: ``os<N>`` (oversampling factor), optionally ``-tol<volts>`` (solver tolerance)
VARIANT = re.compile(r"os[0-9]+(?:-tol[0-9.]+(?:e-?[0-9]+)?)?")


def dsp_variants(cfg: DictConfig, effect: str) -> list[str]:
    """``bench.dsp_variants.<effect>``: the effect's DSP at other settings, each benchmarked as
    ``numba:<effect>-<variant>`` (``os2``, ``os1-tol1e-3``); [] where none is listed."""
    variants = list((cfg.bench.get("dsp_variants") or {}).get(effect) or [])
    for v in variants:
        if not isinstance(v, str) or not VARIANT.fullmatch(v):
            raise ConfigError(
                f"bench.dsp_variants.{effect}: {v!r} is not a variant; expected 'os<N>' or 'os<N>-tol<volts>' "
                "(e.g. os2, os1-tol1e-3)"
            )
    return variants


def bench_entries(cfg: DictConfig, effect: str) -> list[BenchEntry]:
    """The processors benchmarked for ``effect``: its DSP backends (:func:`dsp_backends`), its DSP
    variants (:func:`dsp_variants`, Numba), then every model of ``train_matrix``'s models of
    ``effect`` on every backend of ``bench.neural`` (plus the naive TCN variant)."""
    bench = cfg.bench
    entries = []
    for backend in dsp_backends(cfg, effect)[1]:
        entries.append(
            BenchEntry(
                f"{backend}:{effect}",
                effect,
                "pedalboard" if backend == "pedalboard" else "dsp",
                BACKEND_LABELS[backend],
            )
        )
    for variant in dsp_variants(cfg, effect):
        entries.append(BenchEntry(f"numba:{effect}-{variant}", effect, f"dsp-{variant}", "numba"))
    for model in matrix_models(cfg, effect):
        for backend in bench.neural:
            if backend not in NEURAL_BACKENDS:
                raise ConfigError(f"bench.neural: {backend!r} is not one of {list(NEURAL_BACKENDS)}")
            entries.append(BenchEntry(f"{backend}:{effect}-{model}", effect, model, BACKEND_LABELS[backend], model))
        if bench.naive_tcn and cfg.models[model].type == "tcn":
            entries.append(BenchEntry(f"onnx-naive:{effect}-{model}", effect, f"{model}-naive", "onnxruntime", model))
    return entries


def bench_effects(cfg: DictConfig) -> list[str]:
    """Effects benchmarked: ``select.effect`` if set, else the effects of ``train_matrix``."""
    chosen = cfg.select.get("effect")
    effects = [chosen] if chosen else matrix_effects(cfg)
    for e in effects:
        if e not in cfg.effects:
            raise ConfigError(f"select.effect: {e!r} is not a key of effects; expected one of {sorted(cfg.effects)}")
    return effects
