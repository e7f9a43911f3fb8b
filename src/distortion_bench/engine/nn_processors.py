"""Neural processors: PyTorch eager and ONNX Runtime, both streaming with carried state.

A knob-conditioned model's knobs glide to each new value with the DSP's time constant
(:mod:`.knob_glide`), sample by sample in every backend: PyTorch and the exported file take the
knobs as ``(1, K, time)`` while they glide (one run per buffer, a setting per sample, the glide's
values computed in the callback without allocating) and as ``(1, K, 1)`` once they have arrived.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from distortion_bench.dsp.knobs import KnobSpace
from distortion_bench.engine.knob_glide import DEFAULT_GLIDE_S, KnobGlide
from distortion_bench.engine.processor import GrowingBuffer, Processor, ProcessorFacts, check_input
from distortion_bench.errors import DistortionBenchError
from distortion_bench.kernels.knob_glide import glide_values


class TorchProcessor(Processor):
    """A trained model run in PyTorch eager mode (``inference_mode``), batch 1.

    ``threads`` sets PyTorch's intra-op threads for the whole process (a global setting);
    ``knob_glide_s``, ``sample_rate``: a conditioned model's knob glide (seconds, Hz).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        name: str,
        effect: str,
        threads: int = 1,
        knob_glide_s: float = DEFAULT_GLIDE_S,
        sample_rate: int = 48000,
    ) -> None:
        import torch

        from distortion_bench.nn.module import EffectModule

        if not Path(checkpoint).is_file():
            raise DistortionBenchError(f"{checkpoint}: no such checkpoint; run the train stage")
        torch.set_num_threads(int(threads))
        self._torch = torch
        self.model = EffectModule.load_from_checkpoint(str(checkpoint), map_location="cpu").model.eval()
        self.name, self.effect = name, effect
        self.state = self.model.initial_state(1)
        self.out = GrowingBuffer()
        scaler = getattr(self.model, "scaler", None)
        self.space = scaler.space if scaler is not None else None
        self.glide = None if self.space is None else KnobGlide(self.space, knob_glide_s, sample_rate)
        if self.glide is not None:
            self.glide.warm()
        self.path = GrowingBuffer()

    def knob_space(self) -> KnobSpace:
        return self.space or KnobSpace(())

    def set_knobs(self, *, at_once: bool = False, **values: float) -> None:
        """A conditioned model's knobs for the next buffers (checked against the trained ranges)."""
        if self.glide is None:
            super().set_knobs(at_once=at_once, **values)
            return
        self.glide.set(values, at_once)

    def _knobs(self, n: int) -> Any:
        """The model's knob input for the next ``n`` samples: ``(1, K)``, or ``(1, K, n)`` while
        they glide (in the knobs' units, as the model takes them)."""
        g = self.glide
        if not g.moving:
            return self._torch.from_numpy(g.values.astype(np.float32)[None])
        path = self.path.view(len(g.values) * n).reshape(len(g.values), n)
        g.moving = glide_values(g.now, g.target, g.a, g.snap, g.u, g.is_log, g.lo, g.span, path)
        return self._torch.from_numpy(path[None])

    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        check_input(x)
        with self._torch.inference_mode():
            audio = self._torch.from_numpy(x).view(1, 1, -1)
            if self.glide is None:
                y, self.state = self.model(audio, self.state)
            else:
                y, self.state = self.model(audio, self.state, self._knobs(x.shape[0]))
        out = self.out.view(x.shape[0])
        out[:] = y.view(-1).numpy()
        return out

    def reset(self) -> None:
        self.state = self.model.initial_state(1)
        if self.glide is not None:
            self.glide.settle()

    def facts(self) -> ProcessorFacts:
        params = self.model.num_parameters()
        return ProcessorFacts(
            name=self.name,
            backend="torch",
            effect=self.effect,
            parameters=params,
            weight_bytes=sum(p.numel() * p.element_size() for p in self.model.parameters()),
            state_bytes=sum(s.numel() * s.element_size() for s in self.state),
            tolerance=1e-5,
            extra=self.model.describe(),
        )


class OnnxProcessor(Processor):
    """An exported model run by ONNX Runtime's CPU execution provider.

    Session: ``threads`` intra-op threads (1 by default, so backends compare fairly),
    sequential execution, no thread spinning (idle threads would steal the audio thread's
    core). I/O goes through an IOBinding on pre-allocated arrays: the input buffer is bound in
    place, the output is written into a reused array, and the state alternates between two
    pre-allocated sets (outputs of one call are bound as inputs of the next, through two
    bindings made once), so nothing is copied or allocated per buffer.

    ``knob_glide_s``: a conditioned model's knob glide time constant, seconds (the module docstring).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        name: str,
        effect: str,
        threads: int = 1,
        knob_glide_s: float = DEFAULT_GLIDE_S,
    ) -> None:
        import onnxruntime as ort

        from distortion_bench.onnx_contract import AUDIO_IN, AUDIO_OUT, KNOBS_IN, read_onnx_contract

        self.contract = read_onnx_contract(path)
        self.name, self.effect = name, effect
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._in, self._out, self._knobs_in = AUDIO_IN, AUDIO_OUT, KNOBS_IN
        # a conditioned model's knobs: one (1, K, 1) array bound once, its values set in place;
        # while they glide, a (1, K, n) trajectory bound per call instead
        knobs = self.contract.knobs
        self.space = KnobSpace.from_dict(knobs, f"{self.contract.path}: metadata knobs") if knobs else None
        sample_rate = int(self.contract.metadata["sample_rate"])
        self.glide = None if self.space is None else KnobGlide(self.space, knob_glide_s, sample_rate)
        self.knobs = None if self.glide is None else self.glide.values.astype(np.float32).reshape(1, -1, 1).copy()
        if self.glide is not None:
            self.glide.warm()
        self.path = GrowingBuffer()
        shapes = self.contract.state_shapes
        self.states = [[np.zeros(s, np.float32) for s in shapes] for _ in range(2)]
        # One binding per direction of the state ping-pong, with the state arrays bound once:
        # per call only the audio is bound (binding from Python costs ~1.5 us a tensor, which
        # for a TCN with 7 caches was more than half of the call at 32 samples).
        self.bindings = [self._state_binding(self.states[k], self.states[1 - k]) for k in range(2)]
        self.current = 0
        self.out = GrowingBuffer()

    def knob_space(self) -> KnobSpace:
        return self.space or KnobSpace(())

    def set_knobs(self, *, at_once: bool = False, **values: float) -> None:
        """A conditioned model's knobs for the next buffers (checked against the trained ranges,
        from the file's metadata); written into the bound array, so nothing is re-bound."""
        if self.glide is None:
            super().set_knobs(at_once=at_once, **values)
            return
        was_moving = self.glide.moving
        self.glide.set(values, at_once)
        if not self.glide.moving:
            self.knobs[0, :, 0] = self.glide.values
            if was_moving:
                self._bind_knobs()

    def _bind_knobs(self) -> None:
        """Both bindings back to the constant ``(1, K, 1)`` knobs (after a glide)."""
        for b in self.bindings:
            b.bind_input(self._knobs_in, "cpu", 0, np.float32, list(self.knobs.shape), self.knobs.ctypes.data)

    def _state_binding(self, src: list[np.ndarray], dst: list[np.ndarray]) -> Any:
        b = self.session.io_binding()
        if self.knobs is not None:
            b.bind_input(self._knobs_in, "cpu", 0, np.float32, list(self.knobs.shape), self.knobs.ctypes.data)
        for name, a, z in zip(self.contract.state_names, src, dst):
            b.bind_input(name, "cpu", 0, np.float32, list(a.shape), a.ctypes.data)
            b.bind_output(f"{name}_out", "cpu", 0, np.float32, list(z.shape), z.ctypes.data)
        return b

    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        check_input(x)
        n = x.shape[0]
        out = self.out.view(n)
        if self.glide is not None and self.glide.moving:
            self._glide(x, out)
        else:
            self._run(x, out)
        return out

    def _run(self, x: np.ndarray, out: np.ndarray) -> None:
        n = x.shape[0]
        b = self.bindings[self.current]
        b.bind_input(self._in, "cpu", 0, np.float32, [1, 1, n], x.ctypes.data)
        b.bind_output(self._out, "cpu", 0, np.float32, [1, 1, n], out.ctypes.data)
        self.session.run_with_iobinding(b)
        self.current = 1 - self.current

    def _glide(self, x: np.ndarray, out: np.ndarray) -> None:
        """One run with the glide's value at every sample (``(1, K, n)``, bound in place of the
        constant knobs); once the knobs arrive, the constant ``(1, K, 1)`` is bound again."""
        g, n = self.glide, x.shape[0]
        k = len(g.values)
        path = self.path.view(k * n).reshape(k, n)
        moving = glide_values(g.now, g.target, g.a, g.snap, g.u, g.is_log, g.lo, g.span, path)
        self.bindings[self.current].bind_input(self._knobs_in, "cpu", 0, np.float32, [1, k, n], path.ctypes.data)
        self._run(x, out)
        if not moving:
            g.moving = False
            self.knobs[0, :, 0] = g.values
            self._bind_knobs()

    def reset(self) -> None:
        if self.glide is not None:
            self.glide.settle()
            self.knobs[0, :, 0] = self.glide.values
            self._bind_knobs()
        for state_set in self.states:
            for a in state_set:
                a.fill(0.0)
        self.current = 0

    def facts(self) -> ProcessorFacts:
        meta = self.contract.metadata
        return ProcessorFacts(
            name=self.name,
            backend="onnxruntime",
            effect=self.effect,
            parameters=int(meta.get("params", 0)),
            weight_bytes=int(4 * meta.get("params", 0)),
            state_bytes=sum(a.nbytes for a in self.states[0]),
            tolerance=1e-5,
            extra={k: meta[k] for k in ("model_type", "receptive_field_samples") if k in meta},
        )


class NaiveOnnxTcnProcessor(Processor):
    """An exported TCN run without its caches: every buffer recomputes the receptive field.

    What a streaming implementation saves, measured: the processor keeps the last
    ``receptive_field - 1`` input samples and, per buffer of N samples, runs the same graph on
    those plus the buffer (from a zero state) and keeps the last N outputs, so a buffer costs
    ``receptive_field - 1 + N`` positions of work instead of N. Same session settings and
    binding discipline as :class:`OnnxProcessor`. Its output equals the streaming model's once
    ``receptive_field - 1`` samples have been seen (before that, the zero history stands in for
    the cached activations of silence).
    """

    def __init__(self, path: str | os.PathLike[str], name: str, effect: str, threads: int = 1) -> None:
        self.inner = OnnxProcessor(path, name, effect, threads)
        self.name, self.effect = name, effect
        rf = self.inner.contract.metadata.get("receptive_field_samples")
        if not rf:
            raise DistortionBenchError(
                f"{path}: processor {name!r} needs a TCN (metadata receptive_field_samples), got "
                f"model_type {self.inner.contract.metadata.get('model_type')!r}"
            )
        self.context = int(rf) - 1
        self.history = np.zeros(self.context, dtype=np.float32)
        self.window = GrowingBuffer(4096 + self.context)
        self.full_out = GrowingBuffer(4096 + self.context)
        # zero state in, state out discarded: one binding made once
        zeros, scratch = ([np.zeros(s, np.float32) for s in self.inner.contract.state_shapes] for _ in range(2))
        self._keep = (zeros, scratch)  # the binding points into these arrays
        self.binding = self.inner._state_binding(zeros, scratch)

    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        check_input(x)
        n, c = x.shape[0], self.context
        window = self.window.view(c + n)
        window[:c] = self.history
        window[c:] = x
        full = self.full_out.view(c + n)
        b = self.binding
        b.bind_input(self.inner._in, "cpu", 0, np.float32, [1, 1, c + n], window.ctypes.data)
        b.bind_output(self.inner._out, "cpu", 0, np.float32, [1, 1, c + n], full.ctypes.data)
        self.inner.session.run_with_iobinding(b)
        self.history[:] = window[n:]
        return full[c:]

    def reset(self) -> None:
        self.history.fill(0.0)

    def facts(self) -> ProcessorFacts:
        inner = self.inner.facts()
        return ProcessorFacts(
            name=self.name,
            backend="onnxruntime",
            effect=self.effect,
            parameters=inner.parameters,
            weight_bytes=inner.weight_bytes,
            state_bytes=self.history.nbytes,
            tolerance=1e-5,
            notes=f"naive: recomputes the {self.context + 1}-sample receptive field every buffer",
            extra=inner.extra,
        )
