"""Kernels generated per model (sizes as literals): which models get one, the on-disk cache by
the ONNX file's hash, the fallbacks (never a wrong answer), and correctness on an emulated
baseline x86-64 CPU. Parity with ONNX Runtime and bit-exact chunking of every shape run in
``test_numba_networks.py`` (the processor's default kernel is the generated one)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import noise, sine
from distortion_bench.engine.numba_nn_processor import NumbaNetworkProcessor
from distortion_bench.kernels import generated
from distortion_bench.kernels.codegen_recurrent import RecurrentShape, recurrent_source
from nn_fixtures import MODELS, write_pair

REPO = Path(__file__).resolve().parents[1]
SHAPES = {
    "lstm": MODELS["lstm"],
    "lstm6x2": {"type": "lstm", "size": 6, "layers": 2, "skip": True, "warmup_samples": 64},
    "gru5": {"type": "gru", "size": 5, "layers": 1, "skip": False, "warmup_samples": 64},
    "shaper": MODELS["shaper"],
    "tcn": MODELS["tcn"],
}
SIGNAL = np.concatenate([sine(110.0, 0.9, 3000), noise(3000, 0.5, seed=4), np.float32([1.5, -1.5, 0.0])])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    return {name: write_pair(root, "tube", name, cfg)[1] for name, cfg in SHAPES.items()}


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(generated.CACHE_ENV, str(tmp_path / "kernels"))
    monkeypatch.setattr(generated, "_LOADED", {})
    return tmp_path / "kernels"


@pytest.mark.parametrize("name", ["lstm", "lstm6x2", "gru5", "shaper"])
def test_recurrent_models_run_a_generated_kernel_close_to_the_generic_one(files, name):
    gen = NumbaNetworkProcessor(files[name], f"numba:tube-{name}", "tube")
    generic = NumbaNetworkProcessor(files[name], f"numba-generic:tube-{name}", "tube", kernel="generic")
    assert (gen.kernel_kind, gen.kernel_reason) == ("generated", ""), gen.kernel_reason
    assert gen.kernel_source is not None and gen.kernel_source.is_file()
    assert gen.facts().extra["kernel"] == "generated"
    assert generic.kernel_kind == "generic" and generic.facts().extra["kernel"] == "generic"
    a, b = gen.process_signal(SIGNAL, 333), generic.process_signal(SIGNAL, 333)
    # the same network, its sums taken in another order: float32 rounding apart, not more
    assert 0.0 < float(np.max(np.abs(a - b))) < 5e-6


def test_a_tcn_falls_back_to_the_generic_kernel_with_a_log_line(files, caplog):
    with caplog.at_level(logging.INFO, logger="distortion_bench.engine.numba_nn_processor"):
        proc = NumbaNetworkProcessor(files["tcn"], "numba:tube-tcn", "tube")
    assert proc.kernel_kind == "generic"
    assert "generic TCN kernel" in proc.kernel_reason
    assert proc.facts().extra["kernel_reason"] == proc.kernel_reason
    assert any("numba:tube-tcn: generic kernel" in r.getMessage() for r in caplog.records)


def test_generated_source_is_cached_by_the_onnx_files_hash(files, fresh_cache, tmp_path):
    first = NumbaNetworkProcessor(files["lstm"], "a", "tube")
    source = first.kernel_source
    assert source.parent == fresh_cache
    assert source.name == f"{files['lstm'].stem}-{generated.file_digest(files['lstm'])}.py"
    assert f"sha256 {generated.file_digest(files['lstm'])}" in source.read_text().splitlines()[0]
    stamp = source.stat().st_mtime_ns
    generated._LOADED.clear()  # as a new process would: reads the file and Numba's cache beside it
    again = NumbaNetworkProcessor(files["lstm"], "b", "tube")
    assert again.kernel_source == source and source.stat().st_mtime_ns == stamp
    assert list(fresh_cache.glob("*.py")) == [source]
    # the file changes (retrained: other weights of the same shape): another hash, another kernel
    changed = tmp_path / files["lstm"].name
    shutil.copy(files["lstm"], changed)
    model = onnx.load(changed)
    # the recurrent weights R: the 3-D initializer (1, 4H, H)
    w = next(t for t in model.graph.initializer if len(t.dims) == 3 and t.dims[1] == 4 * t.dims[2])
    arr = numpy_helper.to_array(w).copy()
    arr *= np.float32(0.9)
    w.CopyFrom(numpy_helper.from_array(arr, w.name))
    onnx.save(model, changed)
    other = NumbaNetworkProcessor(changed, "c", "tube")
    assert other.kernel_kind == "generated" and other.kernel_source != source
    assert sorted(fresh_cache.glob("*.py")) == sorted([source, other.kernel_source])
    assert not np.array_equal(other.process_signal(SIGNAL, 512), first.process_signal(SIGNAL, 512))


def test_a_generator_failure_falls_back_never_a_wrong_answer(files, fresh_cache, monkeypatch, caplog):
    reference = NumbaNetworkProcessor(files["gru5"], "ref", "tube", kernel="generic").process_signal(SIGNAL, 256)
    generated._LOADED.clear()
    monkeypatch.setattr(generated, "recurrent_source", lambda shape: "raise RuntimeError('no kernel today')\n")
    proc = NumbaNetworkProcessor(files["gru5"], "broken", "tube")
    assert (
        proc.kernel_kind == "generic"
        and "generating the kernel failed (RuntimeError: no kernel today)" in proc.kernel_reason
    )
    np.testing.assert_array_equal(proc.process_signal(SIGNAL, 256), reference)
    # a kernel that compiles but computes something else fails the build-time check against
    # ONNX Runtime: dropped, with a warning, for the generic kernel
    monkeypatch.setattr(
        generated, "recurrent_source", lambda shape: recurrent_source(RecurrentShape(shape.cell, shape.hidden, 1))
    )
    generated._LOADED.clear()
    two_layers = files["lstm6x2"]
    with caplog.at_level(logging.WARNING):
        wrong = NumbaNetworkProcessor(two_layers, "wrong", "tube")
    assert wrong.kernel_kind == "generic" and "failed the build-time check" in wrong.kernel_reason
    assert any("running the generic kernel" in r.getMessage() for r in caplog.records)
    generic = NumbaNetworkProcessor(two_layers, "g", "tube", kernel="generic")
    np.testing.assert_array_equal(wrong.process_signal(SIGNAL, 256), generic.process_signal(SIGNAL, 256))


_ON_EMULATED_CPU = """
import sys
import numpy as np
from distortion_bench.bench.export_stage import parity
from distortion_bench.engine.nn_processors import OnnxProcessor
from distortion_bench.engine.numba_nn_processor import NumbaNetworkProcessor
x = np.load(sys.argv[1])
for path in sys.argv[2:]:
    k = NumbaNetworkProcessor(path, "numba:t", "tube")
    assert k.kernel_kind == "generated", k.kernel_reason
    errors = parity(k, OnnxProcessor(path, "onnx:t", "tube"), x)
    assert max(errors.values()) <= 1e-4, errors
    whole = k.process_signal(x, x.shape[0])
    for cut in (1, 32, 509):
        assert np.array_equal(k.process_signal(x, cut), whole), cut
print("ok")
"""


@pytest.mark.emulated
def test_generated_kernels_are_right_on_a_baseline_x86_64_cpu(files, tmp_path):
    """Compiled for Numba's ``generic`` CPU (SSE2 only: no AVX, no FMA) in a fresh process and
    a fresh cache: parity with ONNX Runtime and bit-exact chunking still hold."""
    signal = tmp_path / "x.npy"
    np.save(signal, SIGNAL)
    env = {
        **os.environ,
        "NUMBA_CPU_NAME": "generic",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        generated.CACHE_ENV: str(tmp_path / "kernels"),
    }
    result = subprocess.run(
        [sys.executable, "-c", _ON_EMULATED_CPU, str(signal), str(files["lstm6x2"]), str(files["shaper"])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout + result.stderr
