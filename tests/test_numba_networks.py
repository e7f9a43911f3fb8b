"""Trained networks compiled to Numba kernels from their ONNX files: parity with ONNX Runtime,
bit-exact chunking, reset, no allocation per call, registry wiring, and clear refusals."""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import compose, noise, sine
from distortion_bench.bench.comparison import kernel_table
from distortion_bench.bench.export_stage import parity
from distortion_bench.bench.mlflow_log import metric_prefix
from distortion_bench.bench.selection import bench_entries, is_dsp_reference
from distortion_bench.engine.nn_processors import OnnxProcessor
from distortion_bench.engine.numba_nn_processor import NumbaNetworkProcessor
from distortion_bench.engine.registry import build_processor
from distortion_bench.kernels import onnx_plan
from distortion_bench.kernels.aligned import aligned_zeros
from distortion_bench.kernels.onnx_plan import RecurrentPlan, TcnPlan, read_plan
from distortion_bench.kernels.vector_peak import vector_peak
from distortion_bench.nn.export import OnnxModelError
from nn_fixtures import MODELS, write_pair

#: every model type the project trains, plus shapes that exercise the kernels' remainders:
#: channel / hidden counts not multiples of 4, kernel size 2, stacked layers, no skip
KERNEL_MODELS = {
    "tcn": MODELS["tcn"],
    "tcn6k2": {"type": "tcn", "size": 6, "kernel_size": 2, "dilations": [1, 3, 9]},  # no skip (older files)
    "lstm": MODELS["lstm"],
    "lstm6x2": {"type": "lstm", "size": 6, "layers": 2, "skip": True, "warmup_samples": 64},
    "gru": {"type": "gru", "size": 8, "layers": 1, "skip": True, "warmup_samples": 64},
    "gru8x2": MODELS["gru"],
    "lstmnoskip": {"type": "lstm", "size": 5, "layers": 1, "skip": False, "warmup_samples": 64},
    "shaper": MODELS["shaper"],
    "shaperlstm": {**MODELS["shaper"], "core": "lstm", "size": 6},  # the default core
}
SIGNAL = np.concatenate(
    [
        sine(110.0, 0.9, 9000),
        noise(9000, 0.3, seed=4),
        sine(2000.0, 0.05, 3000),
        np.float32([1.5, -1.5, 0.0]),
        noise(2000, 1.2, seed=5),
    ]
)  # beyond full scale too
CUTS = [1, 32, 64, 512, 4096, 0]  # 0: random buffer sizes


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("kernels")
    return root, {name: write_pair(root, "tube", name, cfg)[1] for name, cfg in KERNEL_MODELS.items()}


def _chunks(n: int, cut: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    start = 0
    while start < n:
        size = cut or int(rng.integers(1, 700))
        yield start, min(start + size, n)
        start += size


#: (model, kernel asked for): every model on its default kernel, and the recurrent ones on the
#: generic kernel too (what numba-generic:, the fallback and the knob models run)
KERNEL_RUNS = [(n, "generated") for n in sorted(KERNEL_MODELS)] + [
    (n, "generic") for n in sorted(KERNEL_MODELS) if not n.startswith("tcn")
]


@pytest.mark.parametrize("name, kind", KERNEL_RUNS)
def test_parity_with_onnx_runtime_at_every_cut(exported, name, kind):
    path = exported[1][name]
    kernel = NumbaNetworkProcessor(path, f"numba:tube-{name}", "tube", kernel=kind)
    # every recurrent shape runs a kernel generated for it; a TCN the generic kernel
    assert kernel.kernel_kind == ("generic" if name.startswith("tcn") else kind), kernel.kernel_reason
    errors = parity(kernel, OnnxProcessor(path, f"onnx:tube-{name}", "tube"), SIGNAL)
    assert set(errors) == {"bs0001", "bs0032", "bs0064", "bs0512", "bs4096", "random"}
    assert max(errors.values()) <= 1e-4, errors
    assert max(errors.values()) > 0.0 or name == "lstmnoskip"  # computed, not copied from ORT


@pytest.mark.parametrize("name, kind", KERNEL_RUNS)
def test_chunked_equals_whole_bit_for_bit_and_reset_equals_fresh(exported, name, kind):
    path = exported[1][name]
    kernel = NumbaNetworkProcessor(path, f"numba:tube-{name}", "tube", verify=False, kernel=kind)
    whole = kernel.process_signal(SIGNAL, SIGNAL.shape[0])
    for cut in CUTS:
        kernel.reset()
        parts = [kernel.process_buffer(SIGNAL[s:e]).copy() for s, e in _chunks(SIGNAL.shape[0], cut)]
        np.testing.assert_array_equal(np.concatenate(parts), whole, err_msg=f"cut {cut}")
    kernel.process_signal(noise(3000, 0.7, seed=9), 100)  # leave some state behind ...
    kernel.reset()  # ... reset must forget it
    fresh = NumbaNetworkProcessor(path, "fresh", "tube", verify=False, kernel=kind)
    np.testing.assert_array_equal(
        kernel.process_signal(SIGNAL, 256, reset=False), fresh.process_signal(SIGNAL, 256, reset=False)
    )


@pytest.mark.parametrize("name", ["tcn", "lstm6x2", "gru8x2"])
def test_carried_state_is_onnx_runtimes_state(exported, name):
    path = exported[1][name]
    kernel = NumbaNetworkProcessor(path, "k", "tube", verify=False)
    ort = OnnxProcessor(path, "o", "tube")
    for s, e in _chunks(5000, 0):
        kernel.process_buffer(SIGNAL[s:e])
        ort.process_buffer(SIGNAL[s:e])
    mine, theirs = kernel.state_arrays(), ort.states[ort.current]
    assert [a.shape for a in mine] == [b.shape for b in theirs]
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("name", ["tcn", "lstm", "shaper"])
def test_no_allocation_per_call(exported, name):
    """NumPy reports its buffers to tracemalloc: an array allocated per call would show in the peak."""
    kernel = NumbaNetworkProcessor(exported[1][name], "k", "tube", verify=False)
    buffer = SIGNAL[:4096].copy()
    kernel.process_buffer(buffer)  # warm up (and grow the output) outside the measurement
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            kernel.process_buffer(buffer)
            kernel.process_buffer(buffer[:37])
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 1024, peak  # one float32 buffer of 4096 samples would be 16 KiB


def test_plans_read_everything_from_the_file(exported):
    _, paths = exported
    tcn = read_plan(paths["tcn6k2"])
    assert isinstance(tcn, TcnPlan)
    assert (tcn.channels, tcn.blocks, tcn.contexts, tcn.skip) == (6, ((2, 1), (2, 3), (2, 9)), [1, 3, 9], False)
    assert read_plan(paths["tcn"]).skip is True
    assert [w.shape for w in tcn.conv_w] == [(12, 6, 2)] * 3 and len(tcn.mix_w) == 2  # the last block has no mix
    # every parameter of the file, none invented: 6 + 6 + 3 * (12*6*2 + 12) + 2 * (36 + 6) + 6 + 1
    assert tcn.parameters == 6 + 6 + 3 * (144 + 12) + 2 * 42 + 7
    gru = read_plan(paths["gru8x2"])
    assert isinstance(gru, RecurrentPlan)
    assert (gru.cell, gru.hidden, gru.layers, gru.skip, gru.state_rows) == ("gru", 8, 2, True, 2)
    # multiply-adds per sample: layer 0 input (24) + layer 1 input (24 x 8) + recurrent (2 x 24 x 8) + output (8)
    assert gru.macs_per_sample == 24 + 24 * 8 + 2 * 24 * 8 + 8
    assert read_plan(paths["lstmnoskip"]).skip is False
    shaper = read_plan(paths["shaper"])
    assert shaper.table.shape == (3, 256)
    np.testing.assert_allclose(shaper.table[0, :2], [-1.0, -1.0 + 2.0 / 256])


def test_registered_and_selected_like_the_other_backends(exported):
    root, _ = exported
    cfg = compose(f"paths.exported={root / 'exported'}", "+train_matrix.tube-gru={effect: tube, model: gru}")
    proc = build_processor("numba:tube-lstm", cfg)
    assert isinstance(proc, NumbaNetworkProcessor)
    facts = proc.facts()
    assert (facts.backend, facts.tolerance, facts.extra["model_type"]) == ("numba", 0.0, "lstm")
    assert facts.extra["macs_per_sample"] == 32 + 32 * 8 + 8
    assert type(build_processor("numba:tube", cfg)).__name__ == "DspProcessor"  # the DSP keeps its name
    names = {e.name: e for e in bench_entries(cfg, "tube")}
    assert names["numba:tube-gru"].backend == "numba" and names["numba:tube-gru"].model == "gru"
    assert not names["numba:tube-gru"].is_reference and names["numba:tube"].is_reference
    assert is_dsp_reference("numba:tube") and not is_dsp_reference("numba:tube-tcn")
    # MLflow: the model's run keeps ONNX Runtime's metrics unprefixed, the kernel's under numba/
    assert (metric_prefix("tcn", "onnxruntime"), metric_prefix("tcn", "numba"), metric_prefix("dsp", "numba")) == (
        "",
        "numba/",
        "",
    )


def _save(proto: onnx.ModelProto, path) -> str:
    onnx.save(proto, str(path))
    return str(path)


def test_unknown_op_is_refused_naming_the_file(exported, tmp_path):
    proto = onnx.load(str(exported[1]["tcn"]))
    next(n for n in proto.graph.node if n.op_type == "Tanh").op_type = "Relu"
    path = _save(proto, tmp_path / "relu.onnx")
    with pytest.raises(OnnxModelError, match=r"relu\.onnx: ops \['Relu'\] are not part of a 'tcn' graph"):
        NumbaNetworkProcessor(path, "k", "tube")


def test_unexpected_weight_shape_is_refused(exported, tmp_path):
    proto = onnx.load(str(exported[1]["lstm"]))
    node = next(n for n in proto.graph.node if n.op_type == "LSTM")
    init = next(i for i in proto.graph.initializer if i.name == node.input[2])
    bigger = np.zeros((1, 32, 9), np.float32)
    init.CopyFrom(numpy_helper.from_array(bigger, init.name))
    path = _save(proto, tmp_path / "shape.onnx")
    with pytest.raises(
        OnnxModelError,
        match=r"shape\.onnx: LSTM layer 0 recurrent weights R .* has shape "
        r"\[1, 32, 9\], expected \[1, 32, 8\]",
    ):
        read_plan(path)


def test_unknown_model_type_is_refused(exported, tmp_path):
    proto = onnx.load(str(exported[1]["gru"]))
    next(e for e in proto.metadata_props if e.key == "model_type").value = '"wavenet"'
    path = _save(proto, tmp_path / "wavenet.onnx")
    with pytest.raises(OnnxModelError, match=r"wavenet\.onnx: metadata model_type 'wavenet' has no Numba kernel"):
        read_plan(path)


def test_a_graph_the_kernel_misreads_fails_the_build_check(exported, monkeypatch):
    """Same ops, different wiring: the structure check cannot see it, the check against ONNX Runtime can."""
    path = exported[1]["tcn"]
    real = read_plan(path)
    assert isinstance(real, TcnPlan)
    misread = dataclasses.replace(real, in_w=real.in_w[::-1].copy())  # the input conv's weights in another order
    monkeypatch.setattr("distortion_bench.engine.numba_nn_processor.read_plan", lambda p: misread)
    with pytest.raises(OnnxModelError, match=r"differs from ONNX Runtime by .* \(expected <= 0.0001\)"):
        NumbaNetworkProcessor(path, "k", "tube")


def test_missing_file_names_the_stage():
    with pytest.raises(OnnxModelError, match="no such ONNX file; run the export_onnx stage"):
        onnx_plan.read_plan("/nonexistent/tube-tcn.onnx")


def test_vector_peak_from_cpuinfo():
    text = "processor : 0\ncpu MHz\t\t: 2500.000\nflags\t\t: fpu sse avx2 fma avx512f\n"
    peak = vector_peak(text)
    assert peak is not None and (peak.lanes, peak.isa) == (16, "AVX-512")
    assert peak.macs_per_ns == pytest.approx(2.5 * 2 * 16)
    assert vector_peak("flags : sse\n") is None  # no clock: unknown
    assert vector_peak("cpu MHz : 1000\nflags : sse2\n").lanes == 4
    avx2 = vector_peak("vendor_id : AuthenticAMD\ncpu family : 25\ncpu MHz : 3000\nflags : avx2 fma\n")
    assert (avx2.isa, avx2.lanes, avx2.macs_per_ns) == ("AVX2", 8, pytest.approx(48.0))
    # Zen 4 (family 0x19) has AVX-512 on 256-bit units: the AVX2 peak, and the report says why
    zen4 = vector_peak("vendor_id : AuthenticAMD\ncpu family : 25\ncpu MHz : 2600\nflags : avx2 fma avx512f\n")
    assert (zen4.isa, zen4.lanes) == ("AVX-512", 8) and "256-bit" in zen4.describe()
    zen5 = vector_peak("vendor_id : AuthenticAMD\ncpu family : 26\ncpu MHz : 2600\nflags : avx2 fma avx512f\n")
    assert zen5.lanes == 16


def test_kernel_table_reports_speedup_cost_and_fraction_of_peak():
    rows = []
    for bs, (k, o, d) in {32: (10.0, 40.0, 1.0), 4096: (800.0, 1600.0, 40.0)}.items():
        rows += [
            {"name": "numba:tube-lstm", "buffer_size": bs, "p50_us": k, "p99_us": 2 * k},
            {"name": "onnx:tube-lstm", "buffer_size": bs, "p50_us": o, "p99_us": 2 * o},
            {"name": "numba:tube", "buffer_size": bs, "p50_us": d, "p99_us": 2 * d},
        ]
    entries = [
        {
            "name": "numba:tube-lstm",
            "backend": "numba",
            "model": "lstm",
            "extra": {"macs_per_sample": 2000, "activations_per_sample": 120},
        },
        {"name": "onnx:tube-lstm", "backend": "onnxruntime", "model": "lstm", "extra": {}},
    ]
    md = kernel_table("tube", entries, rows, 100.0, "test peak")
    assert "| `numba:tube-lstm` | 10.0 / 20.0 (40.0, x4.0) | 800.0 / 1600.0 (1600.0, x2.0) |" in md
    assert "| `numba:tube` (DSP) | 1.0 / 2.0 | 40.0 / 80.0 |" in md
    # 4096 samples in 800 us: 195 ns per sample; limit 2000 / 100 = 20 ns: 10 % of the peak
    assert "| 2,000 / 120 | 195 ns | 20.0 ns | 10 % |" in md
    assert kernel_table("tube", entries[1:], rows, 100.0, "x") == ""
    # the generic kernel beside the generated one: ns per sample of each and the speed-up
    for bs, us in {32: 25.0, 4096: 1600.0}.items():
        rows.append({"name": "numba-generic:tube-lstm", "buffer_size": bs, "p50_us": us, "p99_us": 2 * us})
    generic = {**entries[0], "name": "numba-generic:tube-lstm", "backend": "numba-generic"}
    generic["extra"] = {**entries[0]["extra"], "kernel": "generic"}
    entries[0]["extra"]["kernel"] = "generated"
    md = kernel_table("tube", [entries[0], generic, entries[1]], rows, 100.0, "test peak")
    assert "| `numba-generic:tube-lstm` (generic) | 25.0 / 50.0 (40.0, x1.6) |" in md
    # 32: 10 us = 312 ns vs 25 us = 781 ns; 4096: 195 vs 391 ns; 20 ns limit: 10 % and 5 %
    assert "| `lstm` | generated | 312 / 781 (x2.50) | 195 / 391 (x2.00) | 10 % / 5 % |" in md


@pytest.mark.parametrize("name", ["tcn", "lstm", "shaper"])
def test_the_arrays_a_kernel_streams_start_on_a_cache_line(exported, name):
    """A vector load split across cache lines cost a generated LSTM-24 28 % (77 vs 99 ns per
    sample): the processor allocates its weights, state and scratch on 64-byte boundaries."""
    kernel = NumbaNetworkProcessor(exported[1][name], "k", "tube", verify=False)
    for array in (kernel._weights, kernel.state, kernel.scratch):
        assert array.ctypes.data % 64 == 0 and array.flags.c_contiguous
    np.testing.assert_array_equal(aligned_zeros((3, 5), np.float64), np.zeros((3, 5)))
    assert aligned_zeros(7).ctypes.data % 64 == 0 and aligned_zeros(7).dtype == np.float32
