"""DSP processors: the project's NumPy/Numba effects, and Spotify's pedalboard as a peer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from distortion_bench.dsp import build_effect
from distortion_bench.dsp.base import Effect
from distortion_bench.dsp.knobs import KnobError, KnobSpace
from distortion_bench.dsp.params import bitcrusher_params_from_config, tube_params_from_config
from distortion_bench.dsp.registry import KNOB_KEYS
from distortion_bench.dsp.tube import TubeSaturatorNumba
from distortion_bench.engine.processor import GrowingBuffer, Processor, ProcessorFacts, check_input
from distortion_bench.errors import ConfigError


class DspProcessor(Processor):
    """A :class:`~distortion_bench.dsp.base.Effect` (NumPy or Numba) with its own state."""

    def __init__(self, effect: Effect[Any], effect_name: str, name: str | None = None) -> None:
        self.effect = effect
        self.effect_name = effect_name
        self.name = name or f"{effect.implementation}:{effect_name}"
        self.state = effect.initial_state()
        self.out = GrowingBuffer()

    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        out = self.out.view(x.shape[0])
        self.effect.process(x, self.state, out)  # validates x; writes out, updates state in place
        return out

    def reset(self) -> None:
        """The state after silence, with the knobs back at the configured setting."""
        self.state = self.effect.initial_state()

    def latency_samples(self) -> int:
        return self.effect.latency_samples()

    def solver_stats(self) -> dict[str, float] | None:
        """An iterative effect's solver counters since the last reset (iterations per high-rate
        sample, mean and max; samples not converged), None for a closed-form effect."""
        stats = getattr(self.effect, "solver_stats", None)
        return None if stats is None else stats(self.state)

    def knob_space(self) -> KnobSpace:
        return self.effect.knobs

    def set_knobs(self, *, at_once: bool = False, **values: float) -> None:
        """The effect's knobs (:meth:`~distortion_bench.dsp.base.Effect.set_knobs`), smoothed."""
        self.effect.set_knobs(self.state, at_once=at_once, **values)

    def facts(self) -> ProcessorFacts:
        coeffs = getattr(self.effect, "sos", np.zeros(0))
        state_bytes = sum(v.nbytes for v in vars(self.state).values() if isinstance(v, np.ndarray))
        return ProcessorFacts(
            name=self.name,
            backend=self.effect.implementation,
            effect=self.effect_name,
            parameters=0,
            weight_bytes=int(coeffs.nbytes),
            state_bytes=int(state_bytes),
            # a fast form states how far it may be from the exact one (the tube's float32 shaper)
            tolerance=float(getattr(self.effect, "max_abs_difference", 0.0)),
            extra=self.effect.describe(),
        )


class PedalboardProcessor(Processor):
    """The same effect chain from Spotify's ``pedalboard``: what a user might pick instead.

    An approximation where pedalboard's building blocks differ from the reference definition
    (``facts().notes`` says how):

    - tube saturator: ``Distortion(drive_db=gain_db)`` (``tanh(k x)``) then ``lowpass_order``
      first-order ``LowpassFilter`` stages at the cutoff. No DC bias (pedalboard has no offset
      stage), so no even harmonics; the low-pass is not Butterworth.
    - bitcrusher: ``Bitcrush(bit_depth=bits - 1)``, which has the reference's step 2^(1-N) but a
      symmetric range with 2^N + 1 levels; sample-rate reduction with ``Resample`` (zero-order
      hold), which adds pedalboard's resampler latency.
    """

    def __init__(self, cfg: Mapping[str, Any], effect_name: str, sample_rate: int) -> None:
        import pedalboard as pb  # optional peer: imported only when asked for

        self.effect_name = effect_name
        self.sample_rate = int(sample_rate)
        key = f"effects.{effect_name}"
        # the same knob space as the project's effect (ranges, error messages)
        self.knobs = build_effect(cfg, sample_rate, "numpy", key=key).knobs
        cfg = {k: v for k, v in cfg.items() if k not in KNOB_KEYS}
        if cfg.get("kind") not in ("tube_saturator", "bitcrusher"):
            raise ConfigError(
                f"processor 'pedalboard:{effect_name}': pedalboard has no {cfg.get('kind')} (its Clipping and "
                "Distortion are memoryless curves, not a circuit model); expected a tube_saturator or a bitcrusher"
            )
        if cfg.get("kind") == "tube_saturator":
            p = tube_params_from_config(cfg, sample_rate, key)
            plugins = [pb.Distortion(drive_db=p.gain_db)] + [
                pb.LowpassFilter(cutoff_frequency_hz=p.lowpass_hz) for _ in range(p.lowpass_order)
            ]
            self.notes = (
                "approximation: tanh without DC bias (no even harmonics); low-pass = "
                f"{p.lowpass_order} first-order sections, not Butterworth"
            )
        else:
            b = bitcrusher_params_from_config(cfg, key)
            plugins = [pb.Bitcrush(bit_depth=max(b.bits - 1, 0))]
            if b.downsample > 1:
                plugins.append(
                    pb.Resample(
                        target_sample_rate=self.sample_rate / b.downsample, quality=pb.Resample.Quality.ZeroOrderHold
                    )
                )
            self.notes = "approximation: Bitcrush(bit_depth=N-1): same step, symmetric range with 2^N+1 levels" + (
                "; Resample(zero-order hold) for the sample-and-hold" if b.downsample > 1 else ""
            )
        self.board = pb.Pedalboard(plugins)
        self.out = GrowingBuffer()

    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        check_input(x)
        y = self.board(x[None, :], self.sample_rate, reset=False)  # (channels, time)
        out = self.out.view(x.shape[0])
        out[:] = y[0, : x.shape[0]]
        return out

    def reset(self) -> None:
        self.board.reset()

    def knob_space(self) -> KnobSpace:
        return self.knobs

    def set_knobs(self, *, at_once: bool = False, **values: float) -> None:
        """``gain_db`` sets ``Distortion.drive_db`` and ``bits`` sets ``Bitcrush.bit_depth`` (N - 1),
        from the next buffer and without smoothing (pedalboard has none); ``bias`` is refused: the
        chain has no bias stage."""
        checked = self.knobs.check(values)
        if "bias" in checked:
            raise KnobError("pedalboard: knob 'bias' cannot be set: pedalboard's chain has no bias stage")
        for plugin in self.board:
            if "gain_db" in checked and hasattr(plugin, "drive_db"):
                plugin.drive_db = checked["gain_db"]
            if "bits" in checked and hasattr(plugin, "bit_depth"):
                plugin.bit_depth = max(int(checked["bits"]) - 1, 0)

    def facts(self) -> ProcessorFacts:
        return ProcessorFacts(
            name=f"pedalboard:{self.effect_name}",
            backend="pedalboard",
            effect=self.effect_name,
            parameters=0,
            weight_bytes=0,
            state_bytes=0,
            tolerance=1e-5,
            notes=self.notes,
        )


def dsp_processor(
    cfg: Mapping[str, Any],
    effect_name: str,
    sample_rate: int,
    implementation: str,
    name: str | None = None,
    exact: bool = False,
) -> DspProcessor:
    """A NumPy or Numba processor for the effect configured under ``effects.<effect_name>``
    (``name``: the registry's, when it is not ``<implementation>:<effect_name>``).

    The Numba tube streams in its fast form (:class:`~distortion_bench.kernels.tube_block.TubeSaturatorBlock`:
    float32 shaper, block low-pass; within ``MAX_ABS_DIFFERENCE`` of the exact form) unless
    ``exact``: the sample-by-sample kernel the targets are rendered with, what a reference for
    quality figures must be.
    """
    effect = build_effect(cfg, sample_rate, implementation, key=f"effects.{effect_name}")
    if implementation == "numba" and not exact and isinstance(effect, TubeSaturatorNumba):
        from distortion_bench.kernels.tube_block import TubeSaturatorBlock

        effect = TubeSaturatorBlock.from_exact(effect)
    return DspProcessor(effect, effect_name, name)
