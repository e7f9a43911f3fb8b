"""Streaming models: chunked == whole, state shapes, receptive field, size knob, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import compose
from distortion_bench.config import plain
from distortion_bench.errors import ConfigError
from distortion_bench.nn.models import StreamingTCN, build_model, stream

CONFIGS = {
    "tcn": {"type": "tcn", "size": 6, "kernel_size": 3, "dilations": [1, 2, 4, 8, 16, 32]},
    "tcn_k5": {"type": "tcn", "size": 4, "kernel_size": 5, "dilations": [1, 3, 9]},
    "tcn_skip": {"type": "tcn", "size": 4, "kernel_size": 3, "dilations": [1, 2, 4], "skip": True},
    "lstm": {"type": "lstm", "size": 12, "layers": 2, "skip": True, "warmup_samples": 100},
    "gru": {"type": "gru", "size": 12, "layers": 1, "skip": False, "warmup_samples": 100},
    "shaper": {"type": "shaper", "size": 6, "core": "lstm", "layers": 1, "cells": 64, "warmup_samples": 100},
}


def perturb(model: torch.nn.Module, seed: int = 3) -> torch.nn.Module:
    """Random parameters everywhere: a fresh shaper is the identity (table on the diagonal,
    core output at zero), which would make streaming and export checks trivially pass."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


def model_and_signal(name: str, batch: int = 2, n: int = 2000):
    torch.manual_seed(0)
    model = build_model(CONFIGS[name], 48000).eval()
    if name in ("shaper", "tcn_skip"):
        perturb(model)
    x = torch.randn(batch, 1, n, generator=torch.Generator().manual_seed(1)) * 0.5
    return model, x


def random_sizes() -> list[int]:
    return np.random.default_rng(0).integers(1, 400, size=50).tolist()


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("chunks", [[1], [32], [256], [512], random_sizes()], ids=["1", "32", "256", "512", "random"])
def test_chunked_equals_whole(name, chunks):
    model, x = model_and_signal(name)
    with torch.no_grad():
        whole, whole_state = model(x, model.initial_state(2))
        chunked, chunked_state = stream(model, x, chunks)
    assert chunked.shape == whole.shape == (2, 1, 2000)
    assert (chunked - whole).abs().max().item() <= 1e-5
    for a, b in zip(chunked_state, whole_state):
        assert (a - b).abs().max().item() <= 1e-5


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "tcn",
            [
                ("cache0", (3, 6, 2)),
                ("cache1", (3, 6, 4)),
                ("cache2", (3, 6, 8)),
                ("cache3", (3, 6, 16)),
                ("cache4", (3, 6, 32)),
                ("cache5", (3, 6, 64)),
            ],
        ),
        ("tcn_k5", [("cache0", (3, 4, 4)), ("cache1", (3, 4, 12)), ("cache2", (3, 4, 36))]),
        ("lstm", [("h", (2, 3, 12)), ("c", (2, 3, 12))]),
        ("gru", [("h", (1, 3, 12))]),
        ("shaper", [("h", (1, 3, 6)), ("c", (1, 3, 6))]),
    ],
)
def test_state_shapes(name, expected):
    model, x = model_and_signal(name, batch=3, n=50)
    assert model.state_spec(3) == expected
    state = model.initial_state(3)
    assert [tuple(s.shape) for s in state] == [shape for _, shape in expected]
    assert all(float(s.abs().sum()) == 0.0 for s in state)  # zeros: the state after silence
    _, new_state = model(x, state)
    assert [tuple(s.shape) for s in new_state] == [shape for _, shape in expected]


@pytest.mark.parametrize("name, field", [("tcn", 127), ("tcn_k5", 53)])
def test_tcn_receptive_field_is_what_an_impulse_reaches(name, field):
    model, _ = model_and_signal(name)
    assert isinstance(model, StreamingTCN) and model.receptive_field == field
    assert model.warmup_samples() == field - 1
    x = torch.zeros(1, 1, 400)
    with torch.no_grad():
        base, _ = model(x, model.initial_state(1))
        x[0, 0, 100] = 1.0
        hit, _ = model(x, model.initial_state(1))
    changed = torch.nonzero((hit - base).abs()[0, 0] > 0).flatten()
    assert changed.min().item() == 100  # causal: nothing before the impulse
    assert changed.max().item() == 100 + field - 1  # and nothing beyond the field
    assert model.describe()["receptive_field_ms"] == pytest.approx(1000 * field / 48000, abs=1e-3)


def test_skip_adds_the_input():
    torch.manual_seed(0)
    with_skip = build_model({**CONFIGS["lstm"], "skip": True}, 48000)
    without = build_model({**CONFIGS["lstm"], "skip": False}, 48000)
    without.load_state_dict(with_skip.state_dict())
    x = torch.randn(1, 1, 100)
    with torch.no_grad():
        a, _ = with_skip(x, with_skip.initial_state(1))
        b, _ = without(x, without.initial_state(1))
    assert torch.allclose(a - b, x, atol=1e-6)


def test_a_fresh_skip_tcn_is_the_identity_and_its_skip_adds_the_input():
    torch.manual_seed(0)
    fresh = build_model(CONFIGS["tcn_skip"], 48000)
    x = torch.randn(1, 1, 300)
    with torch.no_grad():
        y, _ = fresh(x, fresh.initial_state(1))
    assert torch.equal(y, x)  # output conv at zero: training starts from the dry signal
    trained = perturb(build_model(CONFIGS["tcn_skip"], 48000))
    plain_tcn = build_model({**CONFIGS["tcn_skip"], "skip": False}, 48000)
    plain_tcn.load_state_dict(trained.state_dict())
    with torch.no_grad():
        a, _ = trained(x, trained.initial_state(1))
        b, _ = plain_tcn(x, plain_tcn.initial_state(1))
    assert torch.allclose(a - b, x, atol=1e-6) and not torch.allclose(b, torch.zeros_like(b))
    assert trained.describe()["skip"] is True


def test_families_are_registered_by_name():
    from distortion_bench.nn.models import FAMILIES, RecurrentModel, ShaperModel

    assert list(FAMILIES) == ["tcn", "lstm", "gru", "shaper", "lstm_knobs", "gru_knobs", "tcn_knobs", "shaper_knobs"]
    assert isinstance(build_model(CONFIGS["gru"], 48000), RecurrentModel)
    assert build_model(CONFIGS["gru"], 48000).model_type == "gru"
    assert isinstance(build_model(CONFIGS["shaper"], 48000), ShaperModel)


def test_size_knob_scales_parameters():
    def params(cfg, size):
        return build_model({**cfg, "size": size}, 48000).num_parameters()

    # LSTM: 4 gates x (input 1 + hidden h + 2 biases) x h + linear h + 1.
    assert params(CONFIGS["lstm"] | {"layers": 1}, 16) == 4 * 16 * (1 + 16 + 2) + 16 + 1
    tcn = CONFIGS["tcn"]
    assert params(tcn, 4) < params(tcn, 8) < params(tcn, 16)


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"type": "transformer", "size": 8}, r"model\.type: expected one of \['tcn', 'lstm', 'gru', 'shaper', 'lstm_k"),
        ({**CONFIGS["shaper"], "cells": 1}, r"model\.cells: expected an integer >= 2, got 1"),
        ({**CONFIGS["shaper"], "cells": 2**21}, r"model\.cells: expected an integer in \[2, 1048576\]"),
        ({**CONFIGS["shaper"], "cells": 64.5}, r"model\.cells: expected an integer"),
        ({**CONFIGS["shaper"], "core": "tcn"}, r"model\.core: expected one of \['gru', 'lstm'\], got 'tcn'"),
        ({**CONFIGS["lstm"], "size": 0}, r"model\.size: expected an integer >= 1, got 0"),
        ({**CONFIGS["tcn"], "dilations": []}, r"model\.dilations: expected a non-empty list"),
        ({**CONFIGS["tcn"], "kernel_size": 1}, r"model\.kernel_size: expected an integer >= 2"),
        ({**CONFIGS["gru"], "layers": 0}, r"model\.layers"),
        ({**CONFIGS["tcn"], "skip": "yes"}, r"model\.skip: expected true or false, got 'yes'"),
    ],
)
def test_bad_model_config(cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_model(cfg, 48000)


def test_every_configured_model_family_builds_from_the_default_config():
    # the shipped conf/model/*.yaml, as composed: a key dropped from one fails here, not in training
    cfg = compose()
    for name, model_cfg in cfg.models.items():
        model = build_model(plain(model_cfg), int(cfg.audio.sample_rate), key=f"models.{name}")
        assert model.num_parameters() > 0, name
