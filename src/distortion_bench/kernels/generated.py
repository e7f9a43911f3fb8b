"""Per-model kernels: generated from the network's shape, cached on disk, compiled once.

:func:`load_generated` turns a plan read from an ONNX file into a compiled kernel whose sizes
are literals (:mod:`.codegen_recurrent`), or says why it cannot (the caller then runs the
generic kernels and logs that reason). The source is written to the kernel cache as
``<model>-<sha256 of the ONNX file>.py`` and imported from there, so Numba caches the machine
code beside it (``__pycache__``): a second load of the same file in any process reads both and
compiles nothing; a changed file (retrained, re-exported) has another hash and gets a kernel of
its own. The cache lives in ``$DISTORTION_BENCH_KERNEL_CACHE``, else
``$XDG_CACHE_HOME/distortion-bench/kernels`` (``~/.cache/...``); it holds nothing that cannot be
rebuilt, so deleting it is always safe.

The generated modules compile under :func:`~distortion_bench.kernels.llvm_options.short_loops_vectorized`
(a GRU-8's unit loop has 8 iterations, which LLVM would otherwise leave scalar).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distortion_bench.atomic import write_text
from distortion_bench.kernels.codegen_recurrent import GENERATOR_VERSION, RecurrentShape, recurrent_source
from distortion_bench.kernels.llvm_options import short_loops_vectorized
from distortion_bench.kernels.onnx_plan import RecurrentPlan, TcnPlan

log = logging.getLogger(__name__)

CACHE_ENV = "DISTORTION_BENCH_KERNEL_CACHE"
_COMPILE_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where generated kernels and their compiled code are kept (see the module docstring)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distortion-bench" / "kernels"


def file_digest(path: Path) -> str:
    """The first 16 hex digits of the file's SHA-256 (what names its cached kernel)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def generated_shape(plan: RecurrentPlan | TcnPlan) -> tuple[RecurrentShape | None, str]:
    """The shape the generator builds a kernel for, or None and why not (a sentence)."""
    if isinstance(plan, TcnPlan):
        return None, (
            "the generator covers recurrent networks; a TCN runs the generic TCN kernel, vectorized over "
            "time (a TCN kernel generated per sample, vectorized over channels, measured 0.8x its speed at "
            "32 samples and 0.14x at 4096)"
        )
    if plan.knobs:
        return None, (
            "knob-conditioned: its knobs fold into the weights and a gliding knob runs the generic "
            "kernels sample by sample, so the whole model stays on the generic kernels"
        )
    if plan.cell not in ("lstm", "gru"):
        return None, f"cell {plan.cell!r} is not one the generator writes (lstm, gru)"
    return RecurrentShape(plan.cell, plan.hidden, plan.layers), ""


def _import(source_path: Path, module_name: str) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, source_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # registered before it runs: Numba's on-disk cache finds a kernel's globals through its module
    sys.modules[module_name] = module
    spec.loader.exec_module(module)  # compiles (or loads from Numba's cache): the signature is explicit
    return module


_LOADED: dict[Path, Callable[..., None]] = {}


def load_generated(path: Path, plan: RecurrentPlan | TcnPlan) -> tuple[Callable[..., None] | None, str, Path | None]:
    """The generated kernel for the ONNX file at ``path`` (read into ``plan``).

    Returns ``(kernel, reason, source)``: the compiled kernel (the generic kernels' signature),
    or None with the reason it is not generated; ``source`` is the cached source file.
    Anything failing on the way (the cache not writable, the compile) is a reason too, never an
    exception: the generic kernel then runs.
    """
    shape, reason = generated_shape(plan)
    if shape is None:
        return None, reason, None
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)
    try:
        digest = file_digest(Path(path))
        source = recurrent_source(shape)
        source_path = cache_dir() / f"{stem}-{digest}.py"
        header = f"# model file sha256 {digest} ({Path(path).name})\n"
        text = header + source
        with _COMPILE_LOCK:
            if source_path in _LOADED:
                return _LOADED[source_path], "", source_path
            if not source_path.exists() or source_path.read_text() != text:
                source_path.parent.mkdir(parents=True, exist_ok=True)
                write_text(source_path, text)
            module_name = (
                f"distortion_bench_generated_{re.sub(r'[^A-Za-z0-9_]', '_', stem)}_{digest}_v{GENERATOR_VERSION}"
            )
            with short_loops_vectorized():
                try:
                    kernel = _import(source_path, module_name).kernel
                except Exception:
                    for stale in (source_path.parent / "__pycache__").glob(f"{source_path.stem}.*"):
                        stale.unlink(missing_ok=True)
                    kernel = _import(source_path, module_name).kernel
            _LOADED[source_path] = kernel
        return kernel, "", source_path
    except Exception as exc:
        return None, f"generating the kernel failed ({type(exc).__name__}: {exc})", None
