"""Training losses: the residual (quantization-aware) terms on constructed signals, config errors."""

from __future__ import annotations

import pytest
import torch

from distortion_bench.errors import ConfigError
from distortion_bench.nn.losses import RESIDUAL_FLOOR, loss_from_config, residual_esr


def crushed(bits: int = 4, n: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """A sine and the same sine through an N-bit mid-tread quantizer, ``(2, 1, n)`` each."""
    t = torch.arange(2 * n, dtype=torch.float32).view(2, 1, n)
    x = 0.7 * torch.sin(2 * torch.pi * 0.0031 * t)
    scale = 2.0 ** (bits - 1)
    return x, torch.clamp(torch.floor(x * scale + 0.5), -scale, scale - 1) / scale


def mix(**weights: float):
    return loss_from_config({"weights": {"esr": 0.0, **weights}}, 48000)


def test_identity_scores_one_and_the_target_zero():
    x, y = crushed()
    assert residual_esr(x, y, x).item() == pytest.approx(1.0, abs=1e-6)
    assert residual_esr(y, y, x).item() == 0.0
    # half-way between dry and target: a quarter of the residual's energy is left
    assert residual_esr(0.5 * (x + y), y, x).item() == pytest.approx(0.25, rel=1e-5)
    # through the configured mix (joined over the batch)
    total, parts = mix(residual_esr=1.0)(x, y, x)
    assert total.item() == pytest.approx(1.0, abs=1e-6) and set(parts) == {"residual_esr"}


def test_residual_esr_is_not_fooled_by_what_passes_through():
    x, y = crushed(bits=8)
    plain, _ = mix(esr=1.0)(x, y)
    residual, _ = mix(residual_esr=1.0)(x, y, x)
    assert plain.item() < 3e-4  # plain ESR calls the identity nearly perfect ...
    assert residual.item() == pytest.approx(1.0, abs=1e-4)  # ... the residual ESR calls it what it is


def test_a_silent_residual_gives_a_finite_loss():
    x = torch.full((1, 1, 1000), 0.25)  # on a quantizer level: the effect adds nothing
    assert residual_esr(x, x, x).item() == 0.0
    off = x + 1e-3
    value = residual_esr(off, x, x).item()
    assert value == pytest.approx(1e-6 / RESIDUAL_FLOOR, rel=1e-4)  # divided by the floor, not by 0
    loss, _ = mix(residual_esr=1.0)(off.requires_grad_(), x, x)
    loss.backward()
    assert torch.isfinite(off.grad).all()


def test_residual_mrstft_is_zero_for_the_target_and_large_for_the_identity():
    x, y = crushed(bits=4)
    loss = mix(residual_mrstft=1.0)
    exact, _ = loss(y, y, x)
    identity, _ = loss(x, y, x)
    assert exact.item() == pytest.approx(0.0, abs=1e-5)
    assert identity.item() > 1.0
    assert loss.needs_dry and not mix(esr=1.0).needs_dry


def test_residual_terms_need_the_dry_signal():
    x, y = crushed()
    with pytest.raises(ValueError, match="need the dry input"):
        mix(residual_esr=1.0)(x, y)


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"residual": 1.0}, r"train\.loss\.weights: unknown term\(s\) \['residual'\]"),
        ({"residual_esr": -1.0}, r"train\.loss\.weights\.residual_esr: expected a weight >= 0"),
        ({"residual_esr": 0.0}, r"at least one term"),
    ],
)
def test_bad_loss_config(weights, match):
    with pytest.raises(ConfigError, match=match):
        mix(**weights)
