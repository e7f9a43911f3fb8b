"""Trained networks run as Numba kernels, built from their exported ONNX files.

``numba:<effect>-<model>`` in the registry (beside ``numba:<effect>`` for the DSP). The weights,
structure and state layout come from the ONNX file (:mod:`distortion_bench.kernels.onnx_plan`).
A recurrent network runs a kernel generated for its shape (sizes as literals,
:mod:`distortion_bench.kernels.generated`, cached by the file's hash); anything the generator
does not cover (a TCN, a knob-conditioned model), and ``numba-generic:<effect>-<model>`` (the
baseline the benches measure the generated kernels against), runs the generic kernels
(:mod:`distortion_bench.kernels.recurrent`, :mod:`distortion_bench.kernels.tcn`), compiled once
per machine and cached on disk by Numba. State, scratch and output live in
arrays allocated when the processor is built, so a call allocates nothing (the output array
grows, once, only when a buffer is longer than any before).

A knob-conditioned file (``lstm_knobs``, ``gru_knobs``, ``tcn_knobs``) takes :meth:`set_knobs`
like its ONNX Runtime and PyTorch peers (checked against the trained ranges the file states,
mid-range until set): a change folds into the kernel's weights once
(:mod:`distortion_bench.kernels.knob_folding`), so the same kernels run at the same cost; while a
continuous knob glides to a new value (the DSP's time constant, so a step does not click), a
recurrent network runs one sample at a time with the knobs folded before each and a TCN reads
its FiLM values per sample (:mod:`distortion_bench.kernels.knob_glide`), and whole buffers run
again once it has arrived.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.engine.knob_glide import DEFAULT_GLIDE_S, KnobGlide
from distortion_bench.engine.processor import GrowingBuffer, Processor, ProcessorFacts, check_input
from distortion_bench.kernels.activations import GATE_MAX_ABS_ERROR, TANH_MAX_ABS_ERROR
from distortion_bench.kernels.aligned import aligned_copy, aligned_zeros
from distortion_bench.kernels.generated import load_generated
from distortion_bench.kernels.knob_folding import film_rows, fold_film, fold_recurrent
from distortion_bench.kernels.knob_glide import glide_recurrent, glide_tcn
from distortion_bench.kernels.onnx_plan import RecurrentPlan, TcnPlan, read_plan
from distortion_bench.kernels.recurrent import gru_kernel, lstm_kernel, scratch_size
from distortion_bench.kernels.tcn import (
    NO_FILM,
    film_offset,
    initial_layout,
    pack,
    scratch_shape,
    state_shape,
    tcn_film_kernel,
    tcn_kernel,
)
from distortion_bench.onnx_contract import OnnxModelError, read_onnx_contract

log = logging.getLogger(__name__)

#: which kernel a processor runs: ``generated`` (sizes as literals, :mod:`~distortion_bench.kernels.generated`;
#: the generic kernel where the generator does not cover the model) or ``generic`` (always the generic one)
KERNEL_CHOICES = ("generated", "generic")
#: samples of FiLM values per sample a TCN's glide holds before it grows (the largest buffer benched)
FILM_COLUMNS = 4096
#: max abs difference from ONNX Runtime accepted when the processor checks itself on build
VERIFY_TOLERANCE = 1e-4
#: samples of the build-time check (noise bursts at several levels, cut into uneven buffers)
VERIFY_SAMPLES = 6000


def verify_signal(samples: int = VERIFY_SAMPLES, seed: int = 1234) -> np.ndarray:
    """``(samples,)`` float32: noise at -30, -12 and 0 dBFS peak, then silence (a fixed test)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, samples).astype(np.float32)
    thirds = np.array_split(np.arange(samples), 4)
    for idx, gain in zip(thirds, (10 ** (-30 / 20), 10 ** (-12 / 20), 1.0, 0.0)):
        x[idx] *= np.float32(gain)
    return x


class NumbaNetworkProcessor(Processor):
    """An exported LSTM, GRU, shaper or TCN run by a compiled Numba kernel, batch 1, float32.

    Args:
        path: the exported ``.onnx`` file (the only source of weights and structure).
        name: registry name, e.g. ``numba:tube-lstm``.
        effect: the effect it emulates.
        verify: run :data:`VERIFY_SAMPLES` of noise through the kernel and ONNX Runtime on build
            and refuse the file if they differ by more than :data:`VERIFY_TOLERANCE`.
        knob_glide_s: a conditioned model's knob glide time constant, seconds (the DSP's
            ``smoothing_ms``; 0: a change lands at the next buffer).
        kernel: ``generated`` (default: a kernel generated for this model's shape, cached by the
            file's hash; the generic kernel, with a log line saying why, where the generator does
            not cover the model or its kernel fails the build-time check) or ``generic``.
            :attr:`kernel_kind` says which one runs, :attr:`kernel_reason` why not generated.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        name: str,
        effect: str,
        verify: bool = True,
        knob_glide_s: float = DEFAULT_GLIDE_S,
        kernel: str = "generated",
    ) -> None:
        if kernel not in KERNEL_CHOICES:
            raise ValueError(f"{name}: kernel {kernel!r} is not one of {list(KERNEL_CHOICES)}")
        self.path = Path(path)
        self.name, self.effect = name, effect
        self.plan: RecurrentPlan | TcnPlan = read_plan(self.path)
        self.parameters = int(read_onnx_contract(self.path).metadata.get("params", 0))
        self.out = GrowingBuffer()
        plan = self.plan
        # every array a kernel streams through starts on a cache line (kernels/aligned.py)
        if isinstance(plan, RecurrentPlan):
            self.kind = "recurrent"
            self._generic_recurrent()
            self._table = plan.table
            self._skip = bool(plan.skip)
        else:
            self.kind = "tcn"
            self._tcn = tcn_film_kernel if plan.film else tcn_kernel
            self.layout = initial_layout(plan.channels, plan.blocks)
            self.state = aligned_zeros(state_shape(plan.channels, plan.contexts))
            self.scratch = aligned_zeros(scratch_shape(plan.channels))
            self._weights = aligned_copy(pack(plan))
        self.space = KnobSpace.from_dict(plan.knobs, f"{self.path}: metadata knobs") if plan.knobs else None
        if self.space is not None:
            sample_rate = int(read_onnx_contract(self.path).metadata["sample_rate"])
            self.glide = KnobGlide(self.space, knob_glide_s, sample_rate)
            if self.kind == "tcn":  # a FiLM TCN's settings and FiLM values per sample while a knob glides
                self._film_columns(FILM_COLUMNS)
            else:
                self._film_hidden = np.zeros(plan.film[1].shape[0], np.float32)
            self._glide_args = self._fold_arguments()
            self._choose_table()
            self._fold_knobs()
            self._warm_glide()
        self.kernel_kind, self.kernel_reason, self.kernel_source = "generic", "asked for the generic kernel", None
        if kernel == "generated":
            self._use_generated()
        if verify:
            try:
                self._verify()
            except OnnxModelError as exc:
                if self.kernel_kind != "generated":
                    raise
                # never a wrong answer: the generated kernel is dropped, the generic one must pass
                self._use_generic(f"the generated kernel failed the build-time check ({exc})")
                log.warning("%s: %s; running the generic kernel", self.name, self.kernel_reason)
                self._verify()

    def _use_generated(self) -> None:
        fn, reason, source = load_generated(self.path, self.plan)
        if fn is None:
            self.kernel_reason = reason
            log.info("%s: generic kernel (%s)", self.name, reason)
            return
        self._kernel, self.kernel_kind, self.kernel_reason, self.kernel_source = fn, "generated", "", source

    def _generic_recurrent(self) -> None:
        """The generic recurrent kernel on arrays fresh from the file (weights, state, scratch)."""
        plan = self.plan
        assert isinstance(plan, RecurrentPlan)
        self._kernel = lstm_kernel if plan.cell == "lstm" else gru_kernel
        self._weights = aligned_copy(plan.weights)
        self.state = aligned_zeros((plan.state_rows, plan.hidden))
        self.scratch = aligned_zeros(scratch_size(plan.gates, plan.hidden))

    def _use_generic(self, reason: str) -> None:
        # fresh arrays: a wrong kernel may have written anywhere it could reach
        self._generic_recurrent()
        self.kernel_kind, self.kernel_reason, self.kernel_source = "generic", reason, None

    def knob_space(self) -> KnobSpace:
        return self.space or KnobSpace(())

    def set_knobs(self, *, at_once: bool = False, **values: float) -> None:
        """A conditioned model's knobs for the next buffers (checked against the trained ranges;
        all or nothing); the change folds into the weights here, not in every call."""
        if self.space is None:
            super().set_knobs(at_once=at_once, **values)
            return
        self.glide.set(values, at_once)
        self._choose_table()
        if not self.glide.moving:
            self._fold_knobs()

    def _choose_table(self) -> None:
        """A ``shaper_knobs`` model: the bank's table for its keyed (integer) knob's value."""
        plan = self.plan
        if isinstance(plan, RecurrentPlan) and plan.tables is not None:
            lowest = self.space.specs[plan.table_knob].minimum  # type: ignore[union-attr]
            self._table = plan.tables[int(round(self.glide.values[plan.table_knob] - lowest))]

    def _film_columns(self, n: int) -> None:
        """A FiLM TCN's scratch for glides of up to ``n`` samples: the settings ``(K, n)``, the
        MLP's hidden layer ``(F, n)``, the FiLM values ``(2 (B + 1) C4, n)``."""
        plan = self.plan
        assert isinstance(plan, TcnPlan)
        self._film_path = np.zeros((len(self.glide.values), n), np.float32)
        self._film_hidden = np.zeros((plan.film[1].shape[0], n), np.float32)
        self._film_rows = np.zeros((2 * (len(plan.blocks) + 1) * int(self.layout[0]), n), np.float32)

    def _fold_arguments(self) -> tuple[Any, ...]:
        """What the fold takes after the knobs (:mod:`~distortion_bench.kernels.knob_folding`)."""
        plan = self.plan
        w1, b1, w2, b2 = plan.film
        if isinstance(plan, RecurrentPlan):
            offset = plan.bias0_offset
            base = (offset, plan.weights[offset : offset + plan.gates], plan.knob_w)
            return (*base, plan.weights[: plan.gates], w1, b1, w2, b2, self._film_hidden)
        rows, upath, hidden = self._film_rows, self._film_path, self._film_hidden
        return (film_offset(plan), rows, upath, hidden, w1, b1, w2, b2, plan.in_w, plan.in_b, plan.channels)

    def _fold_knobs(self) -> None:
        """Fold the knobs' values now (``glide.u``) into the weights."""
        a = self._glide_args
        if isinstance(self.plan, RecurrentPlan):
            fold_recurrent(self._weights, a[0], a[1], a[2], self.glide.u, *a[3:])
        else:
            a[2][:, 0] = self.glide.u
            film_rows(a[1], a[2], 1, *a[3:])
            fold_film(self._weights, a[0], self.layout[0], a[1], 0)

    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        check_input(x)
        out = self.out.view(x.shape[0])
        if self.space is not None and self.glide.moving:
            self._glide(x, out)
        elif self.kind == "tcn":
            self._tcn(x, out, self._weights, self.layout, self.state, self.scratch, NO_FILM)
        else:
            self._kernel(x, out, self._weights, self.state, self.scratch, self._table, self._skip)
        return out

    def _glide(self, x: np.ndarray, out: np.ndarray) -> None:
        g = self.glide
        if self.kind == "tcn":
            if x.shape[0] > self._film_rows.shape[1]:  # a longer buffer than any so far (rare)
                self._film_columns(x.shape[0])
                self._glide_args = self._fold_arguments()
            g.moving = glide_tcn(
                x,
                out,
                self._weights,
                self.layout,
                self.state,
                self.scratch,
                g.now,
                g.target,
                g.a,
                g.snap,
                g.u,
                *self._glide_args,
            )
        else:
            g.moving = glide_recurrent(
                x,
                out,
                self.plan.cell == "lstm",  # type: ignore[union-attr]
                self._weights,
                self.state,
                self.scratch,
                self._table,
                self._skip,
                g.now,
                g.target,
                g.a,
                g.snap,
                g.u,
                *self._glide_args,
            )

    def _warm_glide(self) -> None:
        """Load the compiled glide drivers now, not in the first audio callback that turns a knob
        (measured: 17-20 ms, a dozen missed periods at 64 frames). An empty buffer through them:
        with no samples they write nothing."""
        g, empty = self.glide, np.zeros(0, np.float32)
        now, u = g.now.copy(), g.u.copy()
        if self.kind == "tcn":
            args = (self._weights, self.layout, self.state, self.scratch)
            glide_tcn(empty, empty, *args, now, g.target, g.a, g.snap, u, *self._glide_args)
        else:
            lstm = self.plan.cell == "lstm"  # type: ignore[union-attr]
            args = (self._weights, self.state, self.scratch, self._table, self._skip)
            glide_recurrent(empty, empty, lstm, *args, now, g.target, g.a, g.snap, u, *self._glide_args)

    def reset(self) -> None:
        if self.space is not None and self.glide.moving:  # the state after silence at the setting
            self.glide.settle()
            self._fold_knobs()
        self.state.fill(0.0)
        if self.kind == "tcn":
            self.layout[:] = initial_layout(self.plan.channels, self.plan.blocks)  # type: ignore[union-attr]

    def state_arrays(self) -> list[np.ndarray]:
        """The carried state as ONNX names it (``h``/``c`` ``(1, 1, H)``, ``cache<i>`` ``(1, C, ctx)``):
        copies, for comparing with ONNX Runtime's state."""
        if self.kind == "tcn":
            plan = self.plan
            assert isinstance(plan, TcnPlan)
            c, c4, positions = plan.channels, int(self.layout[0]), self.layout[2 + 2 * len(plan.blocks) :]
            return [
                self.state[i * c4 : i * c4 + c, p - ctx : p].copy()[None]
                for i, (ctx, p) in enumerate(zip(plan.contexts, positions))
            ]
        rows = self.plan.state_rows // self.plan.layers  # type: ignore[union-attr]
        return [self.state[r::rows].copy()[:, None, :] for r in range(rows)]

    def _verify(self) -> None:
        from distortion_bench.engine.nn_processors import OnnxProcessor

        x = verify_signal()
        onnx = OnnxProcessor(self.path, f"onnx:{self.name}", self.effect)
        if self.space is not None:  # both at this processor's setting (mid-range when built)
            onnx.set_knobs(at_once=True, **dict(zip(self.space.names, map(float, self.glide.values))))
        reference = onnx.process_signal(x, 509)
        mine = self.process_signal(x, 509)
        self.reset()
        err = float(np.max(np.abs(mine - reference)))
        if not err <= VERIFY_TOLERANCE:
            raise OnnxModelError(
                f"{self.path}: the Numba kernel built from this {self.plan.model_type} graph differs from ONNX "
                f"Runtime by {err:.3g} (expected <= {VERIFY_TOLERANCE}): the graph is wired differently from "
                "what the kernel builder understands (nn/export.py writes the graphs it expects)"
            )

    def facts(self) -> ProcessorFacts:
        plan = self.plan
        extra: dict[str, Any] = {
            "model_type": plan.model_type,
            "macs_per_sample": plan.macs_per_sample,
            "activations_per_sample": plan.activations_per_sample,
            "kernel": self.kernel_kind,
        }
        if self.kernel_reason:
            extra["kernel_reason"] = self.kernel_reason
        if isinstance(plan, TcnPlan):
            extra["receptive_field_samples"] = 1 + sum(plan.contexts)
        if self.space is not None:
            extra["knobs"] = self.space.names
        table = 0
        if isinstance(plan, RecurrentPlan):
            table = plan.tables.nbytes if plan.tables is not None else plan.table.nbytes
        # memory as the kernel holds it: packed (and for a TCN channel-padded) weights, and the
        # whole state array (a TCN's history rows are SPAN samples longer than its contexts)
        return ProcessorFacts(
            name=self.name,
            backend="numba",
            effect=self.effect,
            parameters=self.parameters,
            weight_bytes=int(self._weights.nbytes + table),
            state_bytes=int(self.state.nbytes),
            tolerance=0.0,
            notes=f"network compiled to a {self.kernel_kind} Numba kernel from the ONNX file; tanh and sigmoid "
            f"by a rational approximation (abs error <= {TANH_MAX_ABS_ERROR:g}, gated products "
            f"<= {GATE_MAX_ABS_ERROR:g})",
            extra=extra,
        )
