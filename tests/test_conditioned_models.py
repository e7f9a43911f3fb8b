"""Conditioned networks: the streaming contract with knobs, and that the knobs are really followed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distortion_bench.nn.conditioned import FiLMTCN, stream_with_knobs
from distortion_bench.nn.models import StreamingTCN, build_model
from nn_fixtures import perturbed_model

KNOBS = {"gain_db": {"min": 0.0, "max": 24.0, "unit": "dB"}, "bias": {"min": 0.0, "max": 0.5}}
CONFIGS = {
    "lstm_knobs": {"type": "lstm_knobs", "size": 8, "layers": 1, "warmup_samples": 64, "knobs": KNOBS},
    "gru_knobs": {"type": "gru_knobs", "size": 6, "layers": 2, "warmup_samples": 64, "knobs": KNOBS},
    "tcn_knobs": {"type": "tcn_knobs", "size": 6, "kernel_size": 3, "dilations": [1, 2, 4, 8], "knobs": KNOBS},
}


def perturbed(name: str) -> torch.nn.Module:
    return perturbed_model(CONFIGS[name], 48000)


def chunk_sizes(cut: int, n: int) -> list[int]:
    return [cut] if cut else np.random.default_rng(0).integers(1, 300, size=n).tolist()


def piecewise_knobs(sizes: list[int], n: int, seed: int = 1) -> torch.Tensor:
    """``(1, 2, n)``: a new random setting at the start of every chunk, held through it."""
    rng = np.random.default_rng(seed)
    knobs = np.empty((1, 2, n), np.float32)
    start, i = 0, 0
    while start < n:
        stop = min(start + sizes[i % len(sizes)], n)
        knobs[0, :, start:stop] = np.array([[rng.uniform(0, 24)], [rng.uniform(0, 0.5)]])
        start, i = stop, i + 1
    return torch.from_numpy(knobs)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("cut", [1, 32, 256, 0], ids=["1", "32", "256", "random"])
def test_chunked_with_knob_changes_between_calls_equals_whole(name, cut):
    model, n = perturbed(name), 300 if cut == 1 else 1200  # one call per sample: fewer samples
    x = torch.randn(1, 1, n, generator=torch.Generator().manual_seed(2)) * 0.5
    sizes = chunk_sizes(cut, n)
    knobs = piecewise_knobs(sizes, n)
    with torch.no_grad():
        whole, _ = model(x, model.initial_state(1), knobs)  # per-sample knobs, one call
        chunked, _ = stream_with_knobs(model, x, knobs, sizes)  # one setting per call
    torch.testing.assert_close(chunked, whole, atol=2e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_knobs_change_the_output_and_bad_knobs_are_refused(name):
    model = perturbed(name)
    x = torch.randn(1, 1, 500, generator=torch.Generator().manual_seed(4)) * 0.5
    with torch.no_grad():
        a, _ = model(x, model.initial_state(1), torch.tensor([[0.0, 0.0]]))
        b, _ = model(x, model.initial_state(1), torch.tensor([[24.0, 0.5]]))
    assert (a - b).abs().max() > 1e-3
    with pytest.raises(ValueError, match=r"needs knobs"):
        model(x, model.initial_state(1))
    with pytest.raises(ValueError, match=r"knobs: expected \(batch, 2\) or \(batch, 2, time\), got \(1, 3\)"):
        model(x, model.initial_state(1), torch.zeros(1, 3))
    assert model.describe()["knobs"]["gain_db"] == {"min": 0.0, "max": 24.0, "scale": "linear", "unit": "dB"}


def test_an_untrained_film_tcn_is_the_plain_tcn():
    torch.manual_seed(0)
    film = build_model(CONFIGS["tcn_knobs"], 48000)
    assert isinstance(film, FiLMTCN)
    plain = StreamingTCN(6, 3, [1, 2, 4, 8], 48000, skip=True)
    plain.load_state_dict({k: v for k, v in film.state_dict().items() if not k.startswith("film.")})
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(0.1)
        film.load_state_dict({**film.state_dict(), **plain.state_dict()})
        x = torch.randn(1, 1, 400)
        y_film, _ = film(x, film.initial_state(1), torch.tensor([[18.0, 0.3]]))
        y_plain, _ = plain(x, plain.initial_state(1))
    torch.testing.assert_close(y_film, y_plain)


def test_a_conditioned_lstm_learns_to_follow_its_knob():
    """Two settings of a toy effect (gain 0 dB: y = tanh(x); 12 dB: y = tanh(4 x)): one small
    conditioned LSTM learns both in 300 steps, each at least 3x better than their average (the
    best a model that ignored the knob could do at both)."""
    torch.manual_seed(0)
    knobs = {"gain_db": {"min": 0.0, "max": 12.0, "unit": "dB"}}
    model = build_model({"type": "lstm_knobs", "size": 8, "layers": 1, "warmup_samples": 0, "knobs": knobs}, 48000)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(1)

    def batch(n: int = 16, t: int = 256):
        x = torch.rand(n, 1, t, generator=g) - 0.5
        setting = torch.randint(0, 2, (n, 1), generator=g).float() * 12.0
        k = 10 ** (setting / 20)
        return x, torch.tanh(k.unsqueeze(2) * x), setting

    for _ in range(300):
        x, y, setting = batch()
        y_hat, _ = model(x, model.initial_state(x.shape[0]), setting)
        loss = ((y_hat - y) ** 2).sum() / (y**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.rand(1, 1, 2048, generator=g) - 0.5
    with torch.no_grad():
        for gain_db, k in ((0.0, 1.0), (12.0, 10**0.6)):
            target = torch.tanh(k * x)
            y_hat, _ = model(x, model.initial_state(1), torch.tensor([[gain_db]]))
            esr = float(((y_hat - target) ** 2).sum() / (target**2).sum())
            average = 0.5 * (torch.tanh(x) + torch.tanh(10**0.6 * x))  # what ignoring the knob gives at best
            esr_average = float(((average - target) ** 2).sum() / (target**2).sum())
            assert esr < 0.05 and esr < esr_average / 3, (gain_db, esr, esr_average)


def test_a_conditioned_shaper_learns_a_staircase_per_word_length():
    """A toy bitcrusher at 3 and 5 bits (mid-tread, no memory): the shaper's bank (a table per
    bits value, 64 cells) learns both staircases in 150 steps, each to a residual ESR (error
    energy / what the quantizer adds) below 0.1, where the other word length's staircase scores
    above 1; streamed in chunks with bits changing between calls it equals the whole; and a
    knob space without an integer knob is refused."""
    from distortion_bench.errors import ConfigError

    torch.manual_seed(0)
    knobs = {"bits": {"min": 3, "max": 5, "scale": "integer", "unit": "bits"}}
    cfg = {"type": "shaper_knobs", "size": 4, "layers": 1, "core": "lstm", "cells": 64, "warmup_samples": 0}
    model = build_model({**cfg, "table_lr": 10.0, "knobs": knobs}, 48000)
    opt = torch.optim.Adam(model.optimizer_groups(0.01))
    g = torch.Generator().manual_seed(1)

    def quantize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        step = 2.0 ** (1.0 - bits)
        return torch.minimum(torch.clamp(torch.round(x / step) * step, min=-1.0), 1.0 - step)

    for _ in range(150):
        x = torch.rand(16, 1, 256, generator=g) * 2 - 1
        bits = 3.0 + 2.0 * torch.randint(0, 2, (16, 1), generator=g).float()
        y_hat, _ = model(x, model.initial_state(16), bits)
        y = quantize(x, bits.unsqueeze(2))
        loss = ((y_hat - y) ** 2).sum() / ((y - x) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.rand(1, 1, 4096, generator=g) * 2 - 1
    with torch.no_grad():
        for bits, other in ((3.0, 5.0), (5.0, 3.0)):
            target = quantize(x, torch.tensor(bits))
            added = float(((target - x) ** 2).sum())
            y_hat, _ = model(x, model.initial_state(1), torch.tensor([[bits]]))
            assert float(((y_hat - target) ** 2).sum()) / added < 0.1, bits
            wrong = quantize(x, torch.tensor(other))
            assert float(((wrong - target) ** 2).sum()) / added > 1.0
        sizes = chunk_sizes(0, 40)
        per_sample = torch.from_numpy(
            np.repeat(np.random.default_rng(3).integers(3, 6, len(sizes)), sizes)[: x.shape[2]].astype(np.float32)
        ).view(1, 1, -1)
        whole, _ = model(x, model.initial_state(1), per_sample)
        chunked, _ = stream_with_knobs(model, x, per_sample, sizes)
    torch.testing.assert_close(chunked, whole, atol=2e-6, rtol=0)
    with pytest.raises(ConfigError, match=r"shaper_knobs: its tables are keyed by an integer knob"):
        build_model({**cfg, "knobs": KNOBS}, 48000)


@pytest.mark.parametrize("name", ["lstm_knobs", "tcn_knobs"])
def test_onnx_export_takes_knobs_per_call_and_equals_pytorch(tmp_path, name):
    import lightning as L
    import onnx

    from conftest import compose
    from distortion_bench.config import plain
    from distortion_bench.dsp.knobs import KnobError
    from distortion_bench.engine.nn_processors import OnnxProcessor, TorchProcessor
    from distortion_bench.nn.export import export_onnx
    from distortion_bench.nn.module import EffectModule
    from distortion_bench.onnx_contract import OnnxModelError, read_onnx_contract

    torch.manual_seed(0)
    module = EffectModule(CONFIGS[name], plain(compose().train), 48000)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in module.model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    ckpt, path = tmp_path / "m.ckpt", tmp_path / f"tube-{name}.onnx"
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": L.__version__,
        },
        ckpt,
    )
    export_onnx(module.model, path, 48000, {"effect": "tube", "model": name, "mlflow_run_id": "test"})
    contract = read_onnx_contract(path)
    assert [i.name for i in onnx.load(str(path)).graph.input][:2] == ["audio", "knobs"]
    assert contract.knobs["gain_db"] == {"min": 0.0, "max": 24.0, "scale": "linear", "unit": "dB"}
    ort_proc, torch_proc = OnnxProcessor(path, "onnx:x", "tube"), TorchProcessor(ckpt, "torch:x", "tube")
    x = (torch.randn(1, 4000, generator=g) * 0.5).numpy()[0]
    rng = np.random.default_rng(0)
    worst = 0.0
    for start in range(0, 4000, 250):  # the knobs change on every call (at once: the per-call contract)
        setting = {"gain_db": float(rng.uniform(0, 24)), "bias": float(rng.uniform(0, 0.5))}
        ort_proc.set_knobs(at_once=True, **setting)
        torch_proc.set_knobs(at_once=True, **setting)
        a = ort_proc.process_buffer(x[start : start + 250]).copy()
        b = torch_proc.process_buffer(x[start : start + 250]).copy()
        worst = max(worst, float(np.max(np.abs(a - b))))
    assert worst <= 1e-4
    with pytest.raises(KnobError, match=r"knob 'gain_db': expected a number in 0\.\.24 dB, got 30"):
        ort_proc.set_knobs(gain_db=30)
    with pytest.raises(KnobError, match=r"knob 'drive': unknown knob; expected one of \['gain_db', 'bias'\]"):
        torch_proc.set_knobs(drive=1.0)
    # a file that takes knobs but does not name them is refused
    proto = onnx.load(str(path))
    kept = [e for e in proto.metadata_props if e.key != "knobs"]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.save(proto, str(tmp_path / "unnamed.onnx"))
    with pytest.raises(OnnxModelError, match=r"the graph takes 'knobs' but the metadata does not name them"):
        read_onnx_contract(tmp_path / "unnamed.onnx")
    # knobs per sample ((1, K, time), a glide) run through the file as through PyTorch, and a
    # file whose knobs input has no time axis (exported before it had one) is refused
    knobs = np.stack([np.linspace(0, 24, 4000), np.linspace(0.5, 0, 4000)])[None].astype(np.float32)
    session = ort_proc.session
    zeros = {n: np.zeros(s, np.float32) for n, s in zip(contract.state_names, contract.state_shapes)}
    y_onnx = session.run(["audio_out"], {"audio": x[None, None], "knobs": knobs, **zeros})[0]
    with torch.no_grad():
        y_torch, _ = module.model(
            torch.from_numpy(x).view(1, 1, -1), module.model.initial_state(1), torch.from_numpy(knobs)
        )
    assert float(np.max(np.abs(y_onnx - y_torch.numpy()))) <= 1e-4
    proto = onnx.load(str(path))
    proto.graph.input[1].type.tensor_type.shape.dim.pop()
    onnx.save(proto, str(tmp_path / "old.onnx"))
    with pytest.raises(OnnxModelError, match=r"input 'knobs' has shape \[1, 2\], expected \[1, 2, 'knob_time'\]"):
        read_onnx_contract(tmp_path / "old.onnx")
