"""The project's speed targets, measured from the offline benchmark's rows.

Each target is ``{"value": measured, "target": "<op> <threshold>", "met": bool}``; the
thresholds come from ``bench.targets`` (config), so a study with other ambitions changes numbers,
not code. Only targets whose rows exist are reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from distortion_bench.bench.selection import BenchEntry
from distortion_bench.errors import ConfigError

#: every threshold ``bench.targets`` must give, with its comparison (value <op> threshold is met)
TARGETS = {
    "numba_vs_pedalboard_throughput_min": ">=",  # Numba DSP throughput / pedalboard's, worst buffer size
    "numba_ns_per_sample_bs4096": "<=",  # Numba DSP cost per sample at 4096
    "numba_us_bs0032": "<",  # Numba DSP time per 32-sample buffer
    "streaming_over_naive_bs0032": "<=",  # streaming TCN time / naive (recomputing) TCN's, 32 samples
    "numba_speedup_over_onnx_min": ">",  # ONNX Runtime time / Numba kernel's, worst buffer size
    "numba_speedup_over_onnx_bs0032": ">=",  # the same at 32 samples
    "onnx_over_torch_worst_le512": "<",  # ONNX Runtime time / PyTorch's, worst buffer size <= 512
    "generated_over_generic_bs0032": ">=",  # generic Numba kernel's time / the model's kernel's, 32 samples
    "generated_over_generic_bs4096": ">=",  # the same at 4096
}


def thresholds(cfg: Mapping[str, Any]) -> dict[str, float]:
    """``bench.targets`` checked: every key of :data:`TARGETS`, each a number."""
    missing = sorted(set(TARGETS) - set(cfg))
    unknown = sorted(set(cfg) - set(TARGETS))
    if missing or unknown:
        raise ConfigError(f"bench.targets: missing {missing}, unknown {unknown}; expected the keys {sorted(TARGETS)}")
    out = {}
    for key, value in cfg.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"bench.targets.{key}: expected a number, got {value!r}")
        out[key] = float(value)
    return out


def _judge(value: float, key: str, limits: Mapping[str, float]) -> dict[str, Any]:
    op, limit = TARGETS[key], limits[key]
    met = {">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit}[op]
    return {"value": value, "target": f"{op} {limit:g}", "met": bool(met)}


def _find(rows: Sequence[Mapping[str, Any]], name: str, bs: int) -> Mapping[str, Any] | None:
    return next((r for r in rows if r["name"] == name and r["buffer_size"] == bs), None)


def speed_targets(
    rows: Sequence[Mapping[str, Any]],
    effect: str,
    entries: Sequence[BenchEntry],
    limits: Mapping[str, float],
    dsp_targets: bool = True,
) -> dict[str, Any]:
    """The speed targets of one effect (keys: :data:`TARGETS`, per model prefixed ``<model>_``).

    ``rows``: offline rows (``name``, ``effect``, ``buffer_size``, ``p50_us``,
    ``throughput_sps``); ``limits``: :func:`thresholds`; ``dsp_targets``: include the Numba DSP
    ones (set for the tube saturator, which they are about).
    """
    out: dict[str, Any] = {}
    sizes = sorted({int(r["buffer_size"]) for r in rows if r["effect"] == effect})
    numba, pb = f"numba:{effect}", f"pedalboard:{effect}"
    both = [b for b in sizes if _find(rows, pb, b) and _find(rows, numba, b)] if dsp_targets else []
    if both:
        ratios = [_find(rows, numba, b)["throughput_sps"] / _find(rows, pb, b)["throughput_sps"] for b in both]
        out["numba_vs_pedalboard_throughput_min"] = _judge(min(ratios), "numba_vs_pedalboard_throughput_min", limits)
    if dsp_targets and 4096 in sizes and _find(rows, numba, 4096):
        ns = 1000.0 * _find(rows, numba, 4096)["p50_us"] / 4096
        out["numba_ns_per_sample_bs4096"] = _judge(ns, "numba_ns_per_sample_bs4096", limits)
    if dsp_targets and 32 in sizes and _find(rows, numba, 32):
        out["numba_us_bs0032"] = _judge(_find(rows, numba, 32)["p50_us"], "numba_us_bs0032", limits)
    for e in entries:
        onnx_name = f"onnx:{effect}-{e.model}"
        if e.processor.endswith("-naive") and 32 in sizes:
            stream, naive = _find(rows, onnx_name, 32), _find(rows, e.name, 32)
            if stream and naive:
                ratio = stream["p50_us"] / naive["p50_us"]
                out[f"{e.model}_streaming_over_naive_bs0032"] = _judge(ratio, "streaming_over_naive_bs0032", limits)
        if e.backend == "numba" and e.model is not None:
            speedups = {
                b: _find(rows, onnx_name, b)["p50_us"] / _find(rows, e.name, b)["p50_us"]
                for b in sizes
                if _find(rows, onnx_name, b) and _find(rows, e.name, b)
            }
            if speedups:
                out[f"{e.model}_numba_speedup_over_onnx_min"] = _judge(
                    min(speedups.values()), "numba_speedup_over_onnx_min", limits
                )
            if 32 in speedups:
                out[f"{e.model}_numba_speedup_over_onnx_bs0032"] = _judge(
                    speedups[32], "numba_speedup_over_onnx_bs0032", limits
                )
        if e.backend == "numba" and e.model is not None:
            generic_name = f"numba-generic:{effect}-{e.model}"
            for b in (32, 4096):
                mine, generic = _find(rows, e.name, b), _find(rows, generic_name, b)
                if mine and generic:
                    key = f"generated_over_generic_bs{b:04d}"
                    out[f"{e.model}_{key}"] = _judge(generic["p50_us"] / mine["p50_us"], key, limits)
        if e.backend == "torch":
            wins = [
                _find(rows, onnx_name, b)["p50_us"] / _find(rows, e.name, b)["p50_us"]
                for b in sizes
                if b <= 512 and _find(rows, onnx_name, b) and _find(rows, e.name, b)
            ]
            if wins:
                out[f"{e.model}_onnx_over_torch_worst_le512"] = _judge(max(wins), "onnx_over_torch_worst_le512", limits)
    return out
