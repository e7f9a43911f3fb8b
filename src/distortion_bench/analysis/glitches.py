"""Who caused a glitch: the processor, or the scheduler.

A stream records, per callback, when it was entered (the wake-up), when the processor finished,
the processing's wall time *and its CPU time* (the callback thread's own clock, which does not
advance while the thread is preempted), and whether PortAudio flagged an output underflow on
entry. The JACK server reports its own xruns, each dated when its log line was read.

The question asked of every glitch is the one a user's fix depends on: *would it have happened
with a perfect scheduler?* So the stream is replayed with every wake-up on time: callback ``k``
is woken at ``k * period``, starts when it is woken or when callback ``k - 1`` has finished
(whichever is later: one audio thread, so a long callback delays the next ones), and computes
for its measured CPU time. Where that replay finishes a callback after its deadline (the end of
its period) the processor missed it on its own: a **processor miss**. Glitches are then charged:

- a flagged callback to the **processor** when a processor miss happened in one of the
  ``reach`` callbacks *before* it (the flag reports a gap that happened before the callback
  ran: PortAudio flags the callback after an xrun, never the one that caused it), else to the
  **scheduler**;
- a server xrun to the **processor** when a callback that was running in the ``reach`` periods
  before the xrun was read (plus ``log_slack``: the log line comes a little after the xrun) is
  a processor miss, else to the **scheduler**. Xruns read outside the recorded window (before
  the first recorded callback or after the last) are not charged at all: they are counted
  apart, so callbacks and xruns are counted over the same time.

Wall time is not used to blame: a call that took three periods of wall time but a tenth of one
in CPU time was preempted (the scheduler's); a callback that finished at 0.85 of the period and
a wake-up that came late after it do not make a processor glitch. ``over_budget`` still counts
callbacks whose CPU time exceeded ``budget_fraction`` of the period (little headroom, a warning
sign), and ``preempted`` those whose wall time exceeded it while their CPU time did not.

What the replay cannot see: work the processor hands to other threads (its CPU time is only the
callback thread's; the benches run the networks with one intra-op thread, in the callback), and
the host's own cost outside the processing (PortAudio, the Python call; a few microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: CPU time above this fraction of the period counts as over budget (little headroom left).
DEFAULT_BUDGET_FRACTION = 0.8
#: How late an xrun's log line may be read after the xrun itself (nanoseconds).
DEFAULT_LOG_SLACK_NS = 3_000_000
#: Callbacks (periods) before a glitch in which a processor miss explains it.
DEFAULT_REACH = 2


@dataclass(frozen=True)
class GlitchCauses:
    """Glitches by cause over the recorded window.

    ``*_glitches`` split the flagged callbacks (underruns) and ``*_xruns`` the server's xruns read
    inside the window; ``xruns_outside`` were read outside it (not charged). ``processor_misses``:
    deadlines the on-time replay misses; ``over_budget``: callbacks with CPU time above the
    budget; ``preempted``: wall time above the budget, CPU time not.
    """

    processor_glitches: int
    scheduler_glitches: int
    processor_xruns: int
    scheduler_xruns: int
    xruns_outside: int
    processor_misses: int
    over_budget: int
    preempted: int
    budget_us: float


def on_time_misses(cpu_ns: np.ndarray, period_ns: float) -> np.ndarray:
    """Deadlines missed when every wake-up is on time and each callback computes its CPU time.

    Args:
        cpu_ns: ``(callbacks,)`` processing CPU time of each callback (nanoseconds).
        period_ns: the buffer's duration (nanoseconds); callback ``k`` is due by ``(k + 1) * period``.

    Returns:
        ``(callbacks,)`` bool: callback ``k`` finished after its deadline in the replay.
    """
    cpu = np.asarray(cpu_ns, np.float64)
    missed = np.zeros(cpu.shape, bool)
    finish = -np.inf
    for k, c in enumerate(cpu):  # a recurrence (each start waits for the previous finish)
        wake = k * period_ns
        finish = max(wake, finish) + c
        missed[k] = finish > wake + period_ns
    return missed


def attribute(
    enter_ns: np.ndarray,
    done_ns: np.ndarray,
    process_ns: np.ndarray,
    cpu_ns: np.ndarray,
    flagged: np.ndarray,
    xrun_ns: np.ndarray | list[int],
    period_ns: float,
    budget_fraction: float = DEFAULT_BUDGET_FRACTION,
    log_slack_ns: float = DEFAULT_LOG_SLACK_NS,
    reach: int = DEFAULT_REACH,
) -> GlitchCauses:
    """Attribute every flagged callback and every xrun (see the module docstring).

    Args:
        enter_ns: ``(callbacks,)`` when each callback was entered (``perf_counter_ns``).
        done_ns: ``(callbacks,)`` when its processing finished.
        process_ns: ``(callbacks,)`` its processing wall time.
        cpu_ns: ``(callbacks,)`` its processing CPU time (the callback thread's clock).
        flagged: ``(callbacks,)`` bool, PortAudio flagged an output underflow on entry.
        xrun_ns: when each server xrun was read (``perf_counter_ns``, same clock).
        period_ns: the buffer's duration in nanoseconds.
        budget_fraction: CPU time above this share of the period counts as over budget.
        log_slack_ns: how late an xrun's log line may be read after the xrun.
        reach: callbacks before a glitch in which a processor miss explains it.
    """
    enter = np.asarray(enter_ns, np.int64)
    done = np.asarray(done_ns, np.int64)
    wall = np.asarray(process_ns, np.int64)
    cpu = np.asarray(cpu_ns, np.int64)
    flags = np.asarray(flagged, bool)
    if not (enter.shape == done.shape == wall.shape == cpu.shape == flags.shape):
        raise ValueError(
            f"attribute: per-callback records differ in length: enter {enter.shape}, "
            f"done {done.shape}, process {wall.shape}, cpu {cpu.shape}, flagged {flags.shape}"
        )
    budget = budget_fraction * period_ns
    missed = on_time_misses(cpu, period_ns)
    # misses[k] = processor misses among callbacks 0..k-1 (prefix sums: O(1) per window)
    misses = np.concatenate([[0], np.cumsum(missed)])

    processor_glitches = 0
    for i in np.flatnonzero(flags):
        if misses[i] - misses[max(0, i - reach)] > 0:  # a miss in callbacks i - reach .. i - 1
            processor_glitches += 1

    xruns = np.asarray(xrun_ns, np.int64)
    processor_xruns = outside = 0
    if enter.size:
        window_end = int(done[-1]) + log_slack_ns
        miss_start, miss_end = enter[missed], done[missed]
        for t in xruns:
            if t < enter[0] or t > window_end:
                outside += 1
                continue
            lo = t - reach * period_ns - log_slack_ns
            if np.any((miss_start <= t) & (miss_end >= lo)):
                processor_xruns += 1
    else:
        outside = int(xruns.size)
    n_flagged = int(flags.sum())
    inside = int(xruns.size) - outside
    return GlitchCauses(
        processor_glitches=processor_glitches,
        scheduler_glitches=n_flagged - processor_glitches,
        processor_xruns=processor_xruns,
        scheduler_xruns=inside - processor_xruns,
        xruns_outside=outside,
        processor_misses=int(missed.sum()),
        over_budget=int(np.count_nonzero(cpu > budget)),
        preempted=int(np.count_nonzero((wall > budget) & (cpu <= budget))),
        budget_us=budget / 1e3,
    )


#: Callbacks needed before a percentile is reported under its name: the p99.9 of n values is an
#: order statistic among the top n/1000, so below 10,000 values it is one of the ten largest.
MIN_FOR_PERCENTILE = {99.9: 10_000, 99.0: 1_000}


def tail_statistic(values_us: np.ndarray) -> tuple[str, float]:
    """The highest tail statistic the number of values supports, with its honest name.

    ``("p99.9", v)`` from 10,000 values or more, ``("p99", v)`` from 1,000, else ``("max of N", v)``.
    """
    v = np.asarray(values_us, np.float64)
    if v.size == 0:
        return "none", float("nan")
    for q, need in MIN_FOR_PERCENTILE.items():
        if v.size >= need:
            return f"p{q:g}", float(np.percentile(v, q))
    return f"max of {v.size}", float(v.max())


def supported_percentile(values_us: np.ndarray, q: float) -> float:
    """Percentile ``q`` (99 or 99.9) of the values, or NaN when there are fewer than
    :data:`MIN_FOR_PERCENTILE` of them (a p99.9 of 500 values is just their maximum, misnamed)."""
    v = np.asarray(values_us, np.float64)
    return float(np.percentile(v, q)) if v.size >= MIN_FOR_PERCENTILE[q] else float("nan")
