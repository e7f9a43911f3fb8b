"""Glitch attribution on constructed timelines, each with its ground truth: a deadline miss is
the processor's only if the stream, replayed with every wake-up on time and each callback
computing its measured CPU time, misses it too."""

from __future__ import annotations

import numpy as np
import pytest

from distortion_bench.analysis.glitches import attribute, on_time_misses, tail_statistic

SR = 48000
PERIOD = 64 / SR * 1e9  # 1.333 ms
MS = 1_000_000  # ns


def timeline(
    n: int,
    cpu_periods: float = 0.04,
    late: dict[int, float] | None = None,
    cpu: dict[int, float] | None = None,
    preempted: dict[int, float] | None = None,
):
    """What a stream of ``n`` callbacks records.

    Args:
        cpu_periods: every callback's CPU time, in periods.
        late: callback -> how much later than due it is woken (ms), on top of any backlog.
        cpu: callback -> its CPU time in periods (overrides ``cpu_periods``).
        preempted: callback -> extra wall time in periods while it was not running.

    Returns:
        ``enter, done, wall, cpu`` in nanoseconds, each ``(n,)``.
    """
    enter = np.zeros(n, np.int64)
    cpu_ns = np.array([(cpu or {}).get(i, cpu_periods) * PERIOD for i in range(n)]).astype(np.int64)
    wall = cpu_ns + np.array([(preempted or {}).get(i, 0.0) * PERIOD for i in range(n)]).astype(np.int64)
    t = 0.0
    for i in range(n):
        t = max(t, i * PERIOD + (late or {}).get(i, 0.0) * MS)
        enter[i] = int(t)
        t = enter[i] + wall[i]
    return enter, enter + wall, wall, cpu_ns


def flags(n: int, *at: int) -> np.ndarray:
    out = np.zeros(n, bool)
    out[list(at)] = True
    return out


def causes(enter, done, wall, cpu, flagged, xruns=(), **kw):
    c = attribute(enter, done, wall, cpu, flagged, list(xruns), PERIOD, **kw)
    return c.processor_glitches, c.scheduler_glitches, c.processor_xruns, c.scheduler_xruns


def test_the_on_time_replay_carries_a_backlog():
    # 1.5 periods overrun its own deadline; the next (0.6) starts 0.5 late and ends at 3.1 > 3;
    # the one after catches up (ends 3.7 < 4)
    misses = on_time_misses(np.array([0.5, 1.5, 0.6, 0.6, 0.6]) * PERIOD, PERIOD)
    assert misses.tolist() == [False, True, True, False, False]
    assert not on_time_misses(np.full(1000, 0.99 * PERIOD), PERIOD).any()


def test_fixed_cpu_below_budget_on_a_busy_machine_is_never_the_processors():
    # 0.5 period of CPU every callback; the busy machine preempts a third of them for 0.2-3
    # periods (wall clock far over budget) and the stream glitches all over: all the scheduler's
    n = 600
    rng = np.random.default_rng(0)
    hit = rng.choice(n, n // 3, replace=False)
    pre = {int(i): float(rng.uniform(0.2, 3.0)) for i in hit}
    enter, done, wall, cpu = timeline(n, 0.5, preempted=pre)
    flagged = flags(n, *[int(i) + 1 for i in hit if i + 1 < n])
    xruns = [int(done[i]) for i in hit]
    p, s, px, sx = causes(enter, done, wall, cpu, flagged, xruns)
    assert (p, px) == (0, 0) and s == int(flagged.sum()) and sx == len(xruns)
    c = attribute(enter, done, wall, cpu, flagged, xruns, PERIOD)
    assert c.processor_misses == 0 and c.over_budget == 0
    assert c.preempted == sum(1 for v in pre.values() if 0.5 + v > 0.8)


def test_a_processor_that_computes_past_its_deadline_gets_its_glitches():
    # 1.5 periods of CPU every 50th callback: the flag on the next callback and the xrun while
    # it ran are the processor's; a late wake-up elsewhere stays the scheduler's
    n = 300
    heavy = list(range(25, n, 50))
    enter, done, wall, cpu = timeline(n, 0.1, cpu={i: 1.5 for i in heavy}, late={240: 3.0})
    flagged = flags(n, *[i + 1 for i in heavy], 240)
    xruns = [int(enter[i] + 1.2 * PERIOD) for i in heavy] + [int(enter[240])]
    assert causes(enter, done, wall, cpu, flagged, xruns) == (len(heavy), 1, len(heavy), 1)
    assert attribute(enter, done, wall, cpu, flagged, xruns, PERIOD).processor_misses == len(heavy)


def test_preemption_is_the_schedulers():
    # wall 3 periods, CPU 0.3: the thread was not running; the flags after it are the scheduler's
    enter, done, wall, cpu = timeline(100, 0.05, cpu={40: 0.3}, preempted={40: 2.7})
    flagged = flags(100, 41, 42)
    c = attribute(enter, done, wall, cpu, flagged, [int(enter[40] + 2 * PERIOD)], PERIOD)
    assert (c.processor_glitches, c.scheduler_glitches, c.processor_xruns, c.scheduler_xruns) == (0, 2, 0, 1)
    assert (c.preempted, c.over_budget) == (1, 0)


def test_a_late_wakeup_then_a_long_callback_is_not_the_processors():
    # woken 1 ms late, then 0.9 period of CPU: it ends after its deadline, but on time it would not
    enter, done, wall, cpu = timeline(100, 0.05, late={30: 1.0}, cpu={30: 0.9})
    assert done[30] > 31 * PERIOD  # really late
    assert causes(enter, done, wall, cpu, flags(100, 31, 32), [int(done[30])]) == (0, 2, 0, 1)


def test_steady_heavy_processing_with_late_wakeups_is_the_schedulers():
    # 0.85 period of CPU every callback meets every deadline on time; three 1 ms late wake-ups
    # make three glitches, none of them the processor's (but every callback is over budget)
    enter, done, wall, cpu = timeline(200, 0.85, late={50: 1.0, 100: 1.0, 150: 1.0})
    c = attribute(enter, done, wall, cpu, flags(200, 51, 101, 151), [], PERIOD)
    assert (c.processor_glitches, c.scheduler_glitches, c.processor_misses) == (0, 3, 0)
    assert c.over_budget == 200


def test_a_callback_that_met_its_deadline_is_not_blamed_for_the_gap_after_it():
    # callback 20 computes 0.85 period and meets its deadline; the next wake-up comes 5 ms late
    enter, done, wall, cpu = timeline(60, 0.05, cpu={20: 0.85}, late={21: 5.0})
    assert causes(enter, done, wall, cpu, flags(60, 21, 22), [int(enter[21] - MS)]) == (0, 2, 0, 1)


def test_the_flag_on_entry_is_charged_to_what_happened_before_the_callback():
    # callback 10 is flagged on entry (a gap before it: a late wake-up) and then overruns itself
    # (2 periods): its own flag is the scheduler's, the flag on 11 is the processor's
    enter, done, wall, cpu = timeline(40, 0.05, late={10: 2.0}, cpu={10: 2.0})
    assert causes(enter, done, wall, cpu, flags(40, 10, 11)) == (1, 1, 0, 0)


def test_an_old_miss_does_not_excuse_a_later_glitch():
    enter, done, wall, cpu = timeline(100, 0.05, cpu={10: 2.0})
    assert causes(enter, done, wall, cpu, flags(100, 11, 60), [int(enter[60])]) == (1, 1, 0, 1)


def test_xruns_outside_the_recorded_window_are_counted_apart():
    enter, done, wall, cpu = timeline(50, 0.05)
    xruns = [int(enter[0]) - 5 * MS, int(enter[10]), int(done[-1]) + 50 * MS]
    c = attribute(enter, done, wall, cpu, np.zeros(50, bool), xruns, PERIOD)
    assert (c.processor_xruns, c.scheduler_xruns, c.xruns_outside) == (0, 1, 2)


def test_records_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        attribute(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(3, bool), [], PERIOD)


@pytest.mark.parametrize("n, name", [(625, "max of 625"), (1250, "p99"), (10_000, "p99.9"), (0, "none")])
def test_the_tail_statistic_is_named_by_what_the_count_supports(n, name):
    values = np.arange(n, dtype=np.float64)
    stat, value = tail_statistic(values)
    assert stat == name
    if n == 625:
        assert value == 624.0
    elif n:
        assert value == pytest.approx(np.percentile(values, 99.9 if n >= 10_000 else 99.0))
