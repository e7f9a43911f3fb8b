"""Who caused a glitch: the processor, or the scheduler (DESIGN section 6).

A stream records, per callback, when it was entered, when the processor finished and whether
PortAudio flagged an output underflow (the listener heard a gap). The JACK server reports its
own xruns, each dated when its log line was read. Every such glitch gets one cause:

- **processor**: a callback whose processing took more than the *period budget* was running
  shortly before (or during) the glitch. The budget is ``budget_fraction`` of the period
  (default 0.8): the rest of the period belongs to PortAudio's JACK host, the Python call
  and the server's own cycle, so processing that alone used more than 80 % of it has left the
  callback too little time to finish, whatever the scheduler does.
- **scheduler**: no callback overran the budget around it: processing was short, so the
  wake-up came late (the thread was not scheduled in time).

"Shortly before" is the attribution window: an overrun delays the callbacks after it until
the server has caught up, and PortAudio flags the callback *after* an xrun, so a flagged
callback is the processor's when an over-budget callback finished at most ``2 periods``
before it was entered (or it is itself over budget). An xrun line is read from the server a
little after the xrun (up to a few milliseconds on a busy machine), so an xrun read at ``T`` is
the processor's when an over-budget callback was running at some time in
``[T - 2 periods - log_slack, T]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Processing above this fraction of the period is an overrun of the period budget.
DEFAULT_BUDGET_FRACTION = 0.8
#: How late an xrun's log line may be read after the xrun itself (nanoseconds).
DEFAULT_LOG_SLACK_NS = 3_000_000


@dataclass(frozen=True)
class GlitchCauses:
    """Glitches by cause. ``*_glitches`` split the flagged callbacks (underruns) and
    ``*_xruns`` the server's xruns; ``over_budget`` counts callbacks whose processing overran."""

    processor_glitches: int
    scheduler_glitches: int
    processor_xruns: int
    scheduler_xruns: int
    over_budget: int
    budget_us: float


def attribute(enter_ns: np.ndarray, done_ns: np.ndarray, process_ns: np.ndarray, flagged: np.ndarray,
              xrun_ns: np.ndarray | list[int], period_ns: float,
              budget_fraction: float = DEFAULT_BUDGET_FRACTION,
              log_slack_ns: float = DEFAULT_LOG_SLACK_NS) -> GlitchCauses:
    """Attribute every flagged callback and every xrun (see the module docstring).

    Args:
        enter_ns: ``(callbacks,)`` when each callback was entered (``perf_counter_ns``).
        done_ns: ``(callbacks,)`` when its processing finished.
        process_ns: ``(callbacks,)`` its processing time.
        flagged: ``(callbacks,)`` bool, PortAudio flagged an output underflow on entry.
        xrun_ns: when each server xrun was read (``perf_counter_ns``, same clock).
        period_ns: the buffer's duration in nanoseconds.
        budget_fraction: the period budget as a fraction of the period (0 < f <= 1 typically).
    """
    enter = np.asarray(enter_ns, np.int64)
    done = np.asarray(done_ns, np.int64)
    proc = np.asarray(process_ns, np.int64)
    flags = np.asarray(flagged, bool)
    if not (enter.shape == done.shape == proc.shape == flags.shape):
        raise ValueError(f"attribute: per-callback records differ in length: enter {enter.shape}, "
                         f"done {done.shape}, process {proc.shape}, flagged {flags.shape}")
    budget = budget_fraction * period_ns
    slow = np.flatnonzero(proc > budget)
    slow_start, slow_end = enter[slow], done[slow]
    reach = 2.0 * period_ns

    processor_glitches = 0
    for i in np.flatnonzero(flags):
        # over-budget callbacks entered at or before i whose processing ended within `reach` of i's entry
        k = np.searchsorted(slow, i, side="right")
        if k and np.any(enter[i] - slow_end[:k] <= reach):
            processor_glitches += 1
    processor_xruns = 0
    xruns = np.asarray(xrun_ns, np.int64)
    for t in xruns:
        lo = t - reach - log_slack_ns
        if np.any((slow_start <= t) & (slow_end >= lo)):
            processor_xruns += 1
    n_flagged = int(flags.sum())
    return GlitchCauses(processor_glitches, n_flagged - processor_glitches, processor_xruns,
                        int(xruns.size) - processor_xruns, int(slow.size), budget / 1e3)
