"""The learned waveshaper family: the table's arithmetic, and that it can learn a staircase."""

from __future__ import annotations

import pytest
import torch

from distortion_bench.nn.losses import residual_esr
from distortion_bench.nn.models import ShaperModel, build_model
from distortion_bench.nn.waveshaper import PiecewiseLinearTable


def staircase(x: torch.Tensor, bits: int) -> torch.Tensor:
    """The project's mid-tread quantizer (dsp/bitcrush.py), in torch."""
    scale = 2.0 ** (bits - 1)
    return torch.clamp(torch.floor(torch.clamp(x, -1, 1) * scale + 0.5), -scale, scale - 1) / scale


def test_a_fresh_table_and_shaper_are_the_identity():
    x = torch.linspace(-1.5, 1.5, 3001).view(1, 1, -1)  # beyond full scale too
    table = PiecewiseLinearTable(64)
    assert torch.allclose(table(x), x, atol=1e-6)
    model = ShaperModel(cells=64, core="gru", hidden=4)
    y, state = model(x, model.initial_state(1))
    assert torch.allclose(y, x, atol=1e-6)
    assert [tuple(s.shape) for s in state] == [(1, 1, 4)]
    assert model.describe() | {"params": 0} == {
        "model_type": "shaper",
        "params": 0,
        "cells": 64,
        "table_lr": 1.0,
        "core": "gru",
        "hidden_size": 4,
        "layers": 1,
    }


def test_each_cell_is_its_own_line():
    table = PiecewiseLinearTable(4)  # cells [-1,-.5) [-.5,0) [0,.5) [.5,1]
    with torch.no_grad():
        table.value.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
        table.slope.copy_(torch.tensor([0.0, 2.0, -1.0, 4.0]))
    x = torch.tensor([-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, -2.0])
    want = torch.tensor([0.0, 0.0, 1.0, 1.5, 2.0, 1.75, 3.0, 4.0, 5.0, 5.5, -1.0])
    assert torch.allclose(table(x), want)  # a jump at every edge; identity beyond
    # gradients reach only the cell a sample falls in
    table(torch.tensor([0.1])).sum().backward()
    assert table.value.grad.tolist() == [0.0, 0.0, 1.0, 0.0]
    assert table.slope.grad[2].item() == pytest.approx(0.1) and table.slope.grad.abs().sum().item() == pytest.approx(
        0.1
    )


@pytest.mark.parametrize("cells", [1, 0, 2**21, True, 4.0])
def test_bad_cell_counts(cells):
    with pytest.raises(ValueError, match="cells: expected an integer in"):
        PiecewiseLinearTable(cells)


def test_the_shaper_learns_a_4_bit_staircase_on_a_ramp():
    """The capability the family exists for, tested rather than hoped for: a short training on
    ramps through the quantizer (no bits given to the model) removes most of the residual."""
    torch.manual_seed(0)
    model = build_model(
        {"type": "shaper", "size": 2, "core": "gru", "layers": 1, "cells": 256, "warmup_samples": 0}, 48000
    )
    # 8 ramps of 256 samples, each over its own part of full scale, in random order of slope sign
    ramps = torch.linspace(-1, 1, 8 * 256).view(8, 1, 256)
    ramps[1::2] = ramps[1::2].flip(-1)
    target = staircase(ramps, 4)
    identity = residual_esr(ramps, target, ramps).item()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        y, _ = model(ramps, model.initial_state(8))
        loss = residual_esr(y, target, ramps)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        y, _ = model(ramps, model.initial_state(8))
        # a held-out ramp, offset so that its samples fall between the training ones
        x_new = (torch.linspace(-1, 1, 2001)[:-1] + 0.5 / 2000).view(1, 1, -1)
        y_new, _ = model(x_new, model.initial_state(1))
    assert identity == pytest.approx(1.0, abs=1e-4)
    assert residual_esr(y, target, ramps).item() < 0.01  # the staircase is learned ...
    assert residual_esr(y_new, staircase(x_new, 4), x_new).item() < 0.05  # ... not the samples
