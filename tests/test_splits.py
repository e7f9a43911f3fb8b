"""Split assignment: whole takes, per category, seeded, every split populated when possible."""

from __future__ import annotations

import pytest

from distortion_bench.data.splits import assign_splits, split_ratios
from distortion_bench.errors import ConfigError

RATIOS = split_ratios({"train": 0.7, "val": 0.15, "test": 0.15})


def takes(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(f"{c}/{c}_{i:03d}.wav", c) for c, n in counts.items() for i in range(n)]


def test_every_take_in_exactly_one_split_and_categories_stratified():
    pairs = takes({"pluck": 12, "chord": 10, "sweep": 5, "noise": 3})
    assignment = assign_splits(pairs, RATIOS, seed=1)
    assert set(assignment) == {p for p, _ in pairs}
    for category, n in {"pluck": 12, "chord": 10, "sweep": 5, "noise": 3}.items():
        splits = [assignment[p] for p, c in pairs if c == category]
        counts = {s: splits.count(s) for s in ("train", "val", "test")}
        assert counts["val"] >= 1 and counts["test"] >= 1 and counts["train"] >= 1
        assert counts["train"] == n - counts["val"] - counts["test"]
    pluck = [assignment[p] for p, c in pairs if c == "pluck"]
    assert pluck.count("test") == 2 and pluck.count("val") == 2 and pluck.count("train") == 8


def test_seeded_and_independent_of_input_order():
    pairs = takes({"pluck": 12, "bass": 8})
    a = assign_splits(pairs, RATIOS, seed=5)
    assert assign_splits(list(reversed(pairs)), RATIOS, seed=5) == a
    assert any(assign_splits(pairs, RATIOS, seed=s) != a for s in range(6, 12))


def test_small_categories():
    assignment = assign_splits(takes({"one": 1, "two": 2}), RATIOS, seed=0)
    assert assignment["one/one_000.wav"] == "train"
    assert sorted(assignment[f"two/two_00{i}.wav"] for i in range(2)) == ["test", "train"]


@pytest.mark.parametrize(
    "cfg, match",
    [
        ({"train": 0.7, "val": 0.3}, r"data\.split: expected exactly the keys"),
        ({"train": 0.0, "val": 0.5, "test": 0.5}, r"data\.split\.train: must be > 0"),
        ({"train": 1, "val": -0.1, "test": 0.1}, r"data\.split\.val: expected a number >= 0"),
    ],
)
def test_bad_ratios(cfg, match):
    with pytest.raises(ConfigError, match=match):
        split_ratios(cfg)


def test_ratios_are_normalized():
    assert split_ratios({"train": 7, "val": 1.5, "test": 1.5}) == pytest.approx(RATIOS)


def test_loudest_and_quietest_takes_train():
    # one noise burst per level, as the measurement corpus has them: whatever the seed, the test
    # and validation bursts lie inside the trained level range
    levels = [-40.0, -30.0, -20.0, -10.0, 0.0]
    pairs = [(f"noise/noise_{i:03d}.wav", "noise", level) for i, level in enumerate(levels)]
    for seed in range(20):
        assignment = assign_splits(pairs, RATIOS, seed=seed)
        assert assignment["noise/noise_000.wav"] == "train"
        assert assignment["noise/noise_004.wav"] == "train"
        assert sorted(assignment.values()) == ["test", "train", "train", "train", "val"]


def test_extremes_within_tolerance_all_train_and_unknown_peaks_do_not_pin():
    # tones: 3 frequencies x 4 levels; every take at the top or bottom level trains
    pairs = [
        (f"tone/tone_{f}_{level}.wav", "tone", float(level) - 0.01 * f)
        for f in range(3)
        for level in (-40, -20, -10, 0)
    ]
    assignment = assign_splits(pairs, RATIOS, seed=3)
    for path, _, peak in pairs:
        if peak > -1 or peak < -39:
            assert assignment[path] == "train", path
    assert {"val", "test"} <= set(assignment.values())
    # a take without a peak (silent file): the category is split as if no peaks were known
    unknown = [(p, c, None if i == 0 else peak) for i, (p, c, peak) in enumerate(pairs)]
    assert assign_splits(unknown, RATIOS, seed=3) == assign_splits([(p, c) for p, c, _ in pairs], RATIOS, seed=3)
