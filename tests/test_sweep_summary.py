"""The sweep summary's pure parts (no sweep run)."""

from __future__ import annotations

from distortion_bench.sweep.summary import pareto_front


def test_pareto_front():
    pts = [(1.0, 5.0), (2.0, 2.0), (3.0, 3.0), (0.5, 9.0), (4.0, 1.0)]
    assert pareto_front(pts) == [3, 0, 1, 4]  # (3, 3) is beaten by (2, 2)
