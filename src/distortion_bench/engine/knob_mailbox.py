"""Knob changes from a user-interface thread to the audio callback, without a lock.

The UI thread posts a whole setting (:meth:`KnobMailbox.post`): a new ``(sequence, values)``
tuple replaces the reference the mailbox holds, which is one atomic store under the GIL. The
callback reads that reference at the start of every buffer (:class:`KnobbedProcessor`), one
atomic load and an integer comparison, and only when the sequence moved does it apply the
values to the processor, in its own thread, between buffers: the processor's state is never
written by two threads at once, and nothing is allocated in the callback unless a change came.
The latest post wins; values superseded before the callback read them are never applied (a UI
that sends 100 changes a second to a 64-frame stream loses nothing audible).

The UI checks values against the processor's knob space before posting, so the callback does not
refuse them; if one is refused anyway, the callback keeps the old setting and records the error
(``KnobbedProcessor.refused``): the stream never stops for a knob.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from distortion_bench.dsp.knobs import KnobError, KnobSpace
from distortion_bench.engine.processor import Processor, ProcessorFacts


class KnobMailbox:
    """The latest knob setting posted by another thread (module docstring)."""

    def __init__(self) -> None:
        self.latest: tuple[int, dict[str, float]] = (0, {})

    def post(self, **values: float) -> None:
        """Post a setting (already checked by the caller) for the next buffer."""
        self.latest = (self.latest[0] + 1, dict(values))


class KnobbedProcessor(Processor):
    """A processor whose knobs follow a :class:`KnobMailbox`, read at the start of each buffer.

    ``applied``: how many posted settings reached the processor; ``refused``: the last error of a
    setting the processor did not take (None if none).
    """

    def __init__(self, inner: Processor, mailbox: KnobMailbox) -> None:
        self.inner = inner
        self.mailbox = mailbox
        self.seen = mailbox.latest[0]
        self.applied = 0
        self.refused: str | None = None

    def process_buffer(self, x: np.ndarray) -> np.ndarray:
        latest = self.mailbox.latest  # one load: the tuple cannot change under us
        if latest[0] != self.seen:
            self.seen = latest[0]
            try:
                self.inner.set_knobs(**latest[1])
                self.applied += 1
            except KnobError as exc:
                self.refused = str(exc)
        return self.inner.process_buffer(x)

    def reset(self) -> None:
        self.inner.reset()

    def facts(self) -> ProcessorFacts:
        return self.inner.facts()

    def knob_space(self) -> Any:
        return self.inner.knob_space()

    def set_knobs(self, *, at_once: bool = False, **values: float) -> None:
        self.inner.set_knobs(at_once=at_once, **values)


def random_setting(space: KnobSpace, rng: np.random.Generator) -> dict[str, float]:
    """A setting drawn uniformly over each knob's range (integer knobs: a whole value)."""
    values = {}
    for s in space.specs:
        v = float(rng.uniform(s.minimum, s.maximum))
        values[s.name] = float(round(v)) if s.scale == "integer" else v
    return values


class KnobTurner:
    """A user-interface thread: posts a new random setting to ``mailbox`` every ``every_s``
    seconds while in use (``with KnobTurner(...):``), seeded, so two runs turn the same way.

    ``posted``: how many settings it posted.
    """

    def __init__(self, mailbox: KnobMailbox, space: KnobSpace, every_s: float, seed: int = 0) -> None:
        if not every_s > 0:
            raise ValueError(f"every_s: expected seconds > 0, got {every_s!r}")
        self.mailbox, self.space, self.every_s = mailbox, space, float(every_s)
        self.rng = np.random.default_rng(seed)
        self.posted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="knob-turner", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.mailbox.post(**random_setting(self.space, self.rng))
            self.posted += 1

    def __enter__(self) -> KnobTurner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
