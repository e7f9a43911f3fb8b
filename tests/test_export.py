"""ONNX export: parity with PyTorch streaming, the graph contract, O(buffer) TCN work, bad files."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import noise, sine
from distortion_bench.bench.export_stage import parity
from distortion_bench.engine.nn_processors import OnnxProcessor, TorchProcessor
from distortion_bench.nn.export import OnnxModelError, read_onnx_contract
from nn_fixtures import MODELS, write_pair

SIGNAL = np.concatenate([sine(110.0, 0.9, 12000), noise(12000, 0.3, seed=4), sine(2000.0, 0.05, 6000)])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {name: write_pair(root, "tube", name) for name in MODELS}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_runtime_equals_pytorch_streaming(exported, name):
    ckpt, path = exported[name]
    onnx_proc = OnnxProcessor(path, f"onnx:tube-{name}", "tube")
    torch_proc = TorchProcessor(ckpt, f"torch:tube-{name}", "tube")
    errors = parity(onnx_proc, torch_proc, SIGNAL)  # buffers 1, 32, 64, 512, 4096 and a random mix
    assert set(errors) == {"bs0001", "bs0032", "bs0064", "bs0512", "bs4096", "random"}
    assert max(errors.values()) <= 1e-4, errors
    # reset() restores the initial state: the same signal again gives the same output.
    first = onnx_proc.process_signal(SIGNAL, 512)
    np.testing.assert_array_equal(onnx_proc.process_signal(SIGNAL, 512), first)


@pytest.mark.parametrize(
    "name, states",
    [
        ("tcn", ["cache0", "cache1", "cache2", "cache3", "cache4"]),
        ("lstm", ["h", "c"]),
        ("gru", ["h"]),
        ("shaper", ["h"]),
    ],
)
def test_graph_contract_and_metadata(exported, name, states):
    _, path = exported[name]
    contract = read_onnx_contract(path)
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["audio", *states]
    assert [o.name for o in proto.graph.output] == ["audio_out", *[f"{s}_out" for s in states]]
    meta = contract.metadata
    assert meta["sample_rate"] == 48000 and meta["effect"] == "tube" and meta["mlflow_run_id"] == "test"
    assert meta["state_names"] == states
    if name == "tcn":
        assert meta["receptive_field_samples"] == 1 + 2 * (1 + 2 + 4 + 8 + 16)
        assert contract.state_shapes == [(1, 4, 2 * d) for d in (1, 2, 4, 8, 16)]
    else:
        assert meta["receptive_field_samples"] is None
        layers, size = MODELS[name]["layers"], MODELS[name]["size"]
        assert contract.state_shapes == [(layers, 1, size)] * len(states)


def conv_output_lengths(path, buffer: int) -> list[int]:
    """Time length of every Conv node's output, measured by running the graph on ``buffer`` samples
    with every Conv output exposed as a graph output."""
    proto = onnx.load(str(path))
    conv_outputs = [node.output[0] for node in proto.graph.node if node.op_type == "Conv"]
    for name in conv_outputs:
        proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    contract = read_onnx_contract(path)
    feeds = {
        "audio": np.zeros((1, 1, buffer), np.float32),
        **{n: np.zeros(s, np.float32) for n, s in zip(contract.state_names, contract.state_shapes)},
    }
    return [out.shape[2] for out in session.run(conv_outputs, feeds)]


@pytest.mark.parametrize("buffer", [1, 32, 512, 4096])
def test_streaming_tcn_work_grows_with_the_buffer_not_the_receptive_field(exported, buffer):
    """Every convolution computes exactly `buffer` output samples: the cached past is read, not
    recomputed, so the work is (layers x buffer), whatever the 63-sample receptive field."""
    _, path = exported["tcn"]
    lengths = conv_output_lengths(path, buffer)
    # input 1x1, 5 dilated convs, 4 residual 1x1 mixes (the last block's is unused and pruned), output 1x1
    assert len(lengths) == 1 + 5 + 4 + 1
    assert lengths == [buffer] * len(lengths)


def test_missing_truncated_and_foreign_files(exported, tmp_path):
    with pytest.raises(OnnxModelError, match=r"nope\.onnx: no such ONNX file; run the export_onnx stage"):
        OnnxProcessor(tmp_path / "nope.onnx", "onnx:x", "tube")
    _, path = exported["lstm"]
    data = path.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(OnnxModelError, match=r"cut\.onnx: not a valid ONNX model .*truncated"):
        OnnxProcessor(tmp_path / "cut.onnx", "onnx:x", "tube")
    (tmp_path / "text.onnx").write_text("not a model")
    with pytest.raises(OnnxModelError, match=r"text\.onnx: not a valid ONNX model"):
        read_onnx_contract(tmp_path / "text.onnx")


def test_mismatched_state_names_are_refused(exported, tmp_path):
    _, path = exported["lstm"]
    proto = onnx.load(str(path))
    for entry in proto.metadata_props:
        if entry.key == "state_names":
            entry.value = json.dumps(["hidden", "cell"])
    onnx.save(proto, str(tmp_path / "renamed.onnx"))
    with pytest.raises(OnnxModelError, match=r"renamed\.onnx: graph inputs \['audio', 'h', 'c'\].*do not match"):
        OnnxProcessor(tmp_path / "renamed.onnx", "onnx:x", "tube")
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(
        OnnxModelError, match=r"bare\.onnx: metadata lacks \['sample_rate', 'state_names', 'state_shapes'\]"
    ):
        read_onnx_contract(tmp_path / "bare.onnx")


@pytest.mark.parametrize("name", ["tcn", "lstm"])
def test_the_parameter_count_is_what_the_file_holds(exported, name):
    # the TCN's last residual mix feeds nothing: the exporter drops it and the count leaves it out
    _, path = exported[name]
    proto = onnx.load(str(path))
    held = sum(int(np.prod(init.dims)) for init in proto.graph.initializer)
    assert read_onnx_contract(path).metadata["params"] == held


def test_the_parity_settings_come_from_config_and_bad_ones_are_refused():
    from conftest import compose
    from distortion_bench.bench.export_stage import parity_settings
    from distortion_bench.errors import ConfigError

    assert parity_settings(compose()) == (2.0, 12000)
    assert parity_settings(compose("experiment=smoke")) == (0.5, 2000)
    with pytest.raises(ConfigError, match=r"export\.parity_seconds: expected seconds in \(0, 600\], got 0"):
        parity_settings(compose("export.parity_seconds=0"))
    with pytest.raises(ConfigError, match=r"export\.single_sample_samples: expected a number of samples >= 1"):
        parity_settings(compose("export.single_sample_samples=0"))
