"""Live spectrum analyzer : the spectra of the dry
signal, the DSP output and a model's output side by side, with harmonic markers.

Feeding is cheap and thread-safe: the audio callback's tap hands over *copies* of each buffer
(:meth:`SpectrumAnalyzer.feed` only appends them to a queue); FFTs, the DSP reference and
drawing happen elsewhere (:meth:`SpectrumAnalyzer.update`, called by the animation or after the
stream). On a desktop :meth:`show` draws a window that updates while audio streams; headless,
:meth:`render` writes the same animation to a GIF (Pillow) or MP4 (ffmpeg, if installed).

A frame is ``fft_size`` samples (Hann window), one per ``hop`` samples of audio; the markers
sit at the harmonics ``k f0`` of the dry signal's strongest partial.
"""

from __future__ import annotations

import collections
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distortion_bench.engine.processor import Processor


@dataclass(frozen=True)
class Frame:
    """One analyzer frame: dB spectra per panel (``(fft_size // 2 + 1,)`` each) and the dry f0 (Hz)."""

    time_s: float
    spectra_db: dict[str, np.ndarray]
    f0_hz: float


class SpectrumAnalyzer:
    """Spectra of dry / DSP reference / wet (the streamed processor's output).

    Args:
        sample_rate: Hz.
        reference: the DSP processor run on the dry copies (outside the callback); None = no panel.
        wet_label: the title of the streamed processor's panel.
        fft_size: samples per frame; hop: samples between frames (default ``fft_size``).
        harmonics: markers drawn at ``k f0`` for k = 1..harmonics.
    """

    def __init__(
        self,
        sample_rate: int,
        reference: Processor | None,
        wet_label: str,
        fft_size: int = 4096,
        hop: int | None = None,
        harmonics: int = 10,
        max_queue: int = 4096,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.reference = reference
        self.wet_label = wet_label
        self.fft_size = int(fft_size)
        self.hop = int(hop or fft_size)
        self.harmonics = int(harmonics)
        self.window = np.hanning(self.fft_size).astype(np.float64)
        self.freqs = np.fft.rfftfreq(self.fft_size, 1.0 / self.sample_rate)
        self._queue: collections.deque[tuple[np.ndarray, np.ndarray]] = collections.deque(maxlen=max_queue)
        self._lock = threading.Lock()
        self._dry = np.zeros(0, np.float32)
        self._wet = np.zeros(0, np.float32)
        self._ref = np.zeros(0, np.float32)
        self._consumed = 0
        self.dropped = 0
        self.frames: list[Frame] = []
        if reference is not None:
            reference.reset()

    @property
    def labels(self) -> list[str]:
        return ["dry"] + (["DSP reference"] if self.reference is not None else []) + [self.wet_label]

    def feed(self, dry: np.ndarray, wet: np.ndarray) -> None:
        """Hand over copies of one buffer pair (called from the audio callback: O(1))."""
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append((dry, wet))

    def update(self) -> int:
        """Consume what was fed; compute every complete frame. Returns frames added."""
        with self._lock:
            parts = []
            while self._queue:
                parts.append(self._queue.popleft())
            if parts:
                dry = np.concatenate([p[0] for p in parts])
                wet = np.concatenate([p[1] for p in parts])
                # the reference keeps its state from call to call, as if it streamed
                ref = self.reference.process_signal(dry, 4096, reset=False) if self.reference is not None else None
                self._dry = np.concatenate([self._dry, dry])
                self._wet = np.concatenate([self._wet, wet])
                if ref is not None:
                    self._ref = np.concatenate([self._ref, ref])
            added = 0
            while self._dry.size >= self.fft_size:
                self.frames.append(self._frame(self._consumed))
                added += 1
                self._consumed += self.hop
                self._dry, self._wet = self._dry[self.hop :], self._wet[self.hop :]
                if self.reference is not None:
                    self._ref = self._ref[self.hop :]
            return added

    def _spectrum_db(self, x: np.ndarray) -> np.ndarray:
        mag = np.abs(np.fft.rfft(x[: self.fft_size].astype(np.float64) * self.window))
        with np.errstate(divide="ignore"):
            return 20.0 * np.log10(np.maximum(mag / (self.fft_size / 4.0), 1e-12))  # 0 dB = full-scale sine

    def _frame(self, start: int) -> Frame:
        spectra = {"dry": self._spectrum_db(self._dry)}
        if self.reference is not None:
            spectra["DSP reference"] = self._spectrum_db(self._ref)
        spectra[self.wet_label] = self._spectrum_db(self._wet)
        peak = int(np.argmax(spectra["dry"][1:])) + 1
        return Frame(start / self.sample_rate, spectra, float(self.freqs[peak]))

    # drawing -------------------------------------------------------------------------------

    def _figure(self):  # type: ignore[no-untyped-def]
        import matplotlib.pyplot as plt

        labels = self.labels
        fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 3.6), sharey=True)
        axes = np.atleast_1d(axes)
        lines, markers = {}, {}
        for ax, label in zip(axes, labels):
            (lines[label],) = ax.plot(self.freqs, np.full(self.freqs.size, -140.0), lw=0.8)
            markers[label] = [ax.axvline(0.0, color="red", lw=0.6, alpha=0.5) for _ in range(self.harmonics)]
            ax.set_xscale("log")
            ax.set_xlim(20.0, self.sample_rate / 2)
            ax.set_ylim(-140.0, 6.0)
            ax.set_title(label, fontsize=9)
            ax.set_xlabel("Hz")
            ax.grid(True, which="both", alpha=0.25)
        axes[0].set_ylabel("dB re full-scale sine")
        title = fig.suptitle("")
        return fig, lines, markers, title

    def _draw(self, frame: Frame, lines, markers, title) -> None:  # type: ignore[no-untyped-def]
        for label, spectrum in frame.spectra_db.items():
            lines[label].set_ydata(spectrum)
            for k, m in enumerate(markers[label], start=1):
                f = k * frame.f0_hz
                m.set_xdata([f, f])
                m.set_visible(f < self.sample_rate / 2)
        title.set_text(f"t = {frame.time_s:5.2f} s   f0 = {frame.f0_hz:7.1f} Hz (red: harmonics)")

    def render(self, path: str | os.PathLike[str], fps: int = 10) -> int:
        """Write every computed frame as an animation (``.gif`` or ``.mp4``), atomically; returns the frame count."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import animation

        self.update()
        if not self.frames:
            raise ValueError("spectrum analyzer: no frames to render (fed less than fft_size samples)")
        fig, lines, markers, title = self._figure()
        anim = animation.FuncAnimation(
            fig, lambda i: self._draw(self.frames[i], lines, markers, title), frames=len(self.frames), blit=False
        )
        target = Path(path)
        writer = animation.FFMpegWriter(fps=fps) if target.suffix.lower() == ".mp4" else animation.PillowWriter(fps=fps)
        target.parent.mkdir(parents=True, exist_ok=True)
        # the writers pick the format from the file name: save under the real name in a
        # private folder beside the target, then rename (atomic, nothing half-written)
        with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as tmp:
            anim.save(str(Path(tmp) / target.name), writer=writer, dpi=80)
            os.replace(Path(tmp) / target.name, target)
        plt.close(fig)
        return len(self.frames)

    def show(self, is_running, interval_ms: int = 100) -> None:  # type: ignore[no-untyped-def]
        """A window that follows the stream until it is closed or ``is_running()`` turns false."""
        import matplotlib.pyplot as plt
        from matplotlib import animation

        fig, lines, markers, title = self._figure()

        def step(_):  # type: ignore[no-untyped-def]
            self.update()
            if self.frames:
                self._draw(self.frames[-1], lines, markers, title)
            if not is_running():
                plt.close(fig)

        self._anim = animation.FuncAnimation(fig, step, interval=interval_ms, cache_frame_data=False)
        plt.show()
