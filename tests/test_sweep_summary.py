"""The sweep summary's pure parts (no sweep run)."""

from __future__ import annotations

from distortion_bench.sweep.summary import pareto_front


def test_pareto_front():
    pts = [(1.0, 5.0), (2.0, 2.0), (3.0, 3.0), (0.5, 9.0), (4.0, 1.0)]
    assert pareto_front(pts) == [3, 0, 1, 4]  # (3, 3) is beaten by (2, 2)


def _child(tags: dict, metrics: dict):
    from types import SimpleNamespace

    return SimpleNamespace(
        info=SimpleNamespace(run_id="r1", run_name="n", status="FINISHED"),
        data=SimpleNamespace(tags=tags, metrics=metrics),
    )


def test_a_knob_conditioned_cell_is_its_own_model_judged_on_the_grid(tmp_path):
    """``sweep.knobs`` cells: model ``<type>-knobs``, ESR = the held-out grid's median, and the
    summary's table says so; a fixed cell keeps its test ESR."""
    from distortion_bench.sweep.callbacks import summary_row
    from distortion_bench.sweep.summary import markdown

    tags = {"model": "lstm", "size": "8", "buffer_size": "64"}
    knob = summary_row(_child({**tags, "knobs": "true"}, {"grid_esr_median": 0.02, "grid_esr_worst": 0.2, "rtf": 0.01}))
    fixed = summary_row(_child({**tags, "knobs": "false"}, {"esr": 0.003, "rtf": 0.01}))
    assert knob["model"] == "lstm-knobs" and knob["esr"] == 0.02 and knob["grid_esr_worst"] == 0.2
    assert fixed["model"] == "lstm" and fixed["esr"] == 0.003 and fixed["grid_esr_median"] is None
    md = markdown([knob, fixed])
    assert "### lstm-knobs: grid ESR (median over the held-out settings) / RTF" in md
    assert "| 8 | 2 % / 0.0100 |" in md and "### lstm: test ESR / RTF" in md and "| 8 | 0.3 % / 0.0100 |" in md


def test_conditioned_and_fixed_models_of_a_sweep_never_share_a_key(tmp_path):
    from omegaconf import OmegaConf

    from distortion_bench.sweep.training import model_key

    for folder in ("datasets", "knob_datasets"):
        (tmp_path / folder / "tube").mkdir(parents=True)
        (tmp_path / folder / "tube" / "manifest.json").write_text("{}")
    cfg = OmegaConf.create(
        {
            "paths": {"datasets": str(tmp_path / "datasets"), "knob_datasets": str(tmp_path / "knob_datasets")},
            "train": {"lr": 1e-3, "seeds": 3},
            "effects": {"tube": {"gain_db": 12.0}},
            "seed": 0,
            "sweep": {"seeds": 1},
        }
    )
    model = {"type": "lstm", "size": 8}
    fixed, knobs = model_key(cfg, "tube", model), model_key(cfg, "tube", model, knobs=True)
    assert fixed.startswith("lstm-s8-") and knobs.startswith("knobs-lstm-s8-")
    (tmp_path / "knob_datasets" / "tube" / "manifest.json").write_text('{"settings": 64}')
    assert model_key(cfg, "tube", model, knobs=True) != knobs  # a new knob dataset: a new model
    assert model_key(cfg, "tube", model) == fixed


def test_the_sweep_adds_its_network_sizes_to_the_crossover_chart(tmp_path):
    """A sweep of the clipper puts every finished cell (ONNX Runtime and the Numba kernel) on
    the pipeline's crossover chart beside the DSP variants, and says the crossover again."""
    from distortion_bench.sweep.summary import sweep_cost_points, write_sweep_crossover

    report = {
        "effect": "clipper",
        "esr_targets": [0.01, 0.001],
        "buffer_sizes": {
            "64": {
                "points": [
                    {
                        "processor": "numba:clipper-os1",
                        "kind": "dsp",
                        "ns_per_sample": 150.0,
                        "p99_us": 30.0,
                        "esr": 2e-3,
                    },
                    {"processor": "numba:clipper", "kind": "dsp", "ns_per_sample": 3000.0, "p99_us": 300.0, "esr": 0.0},
                ]
            },
            "512": {"points": []},
        },
    }
    cell = {"status": "FINISHED", "model": "lstm", "size": 4, "buffer_size": 64, "esr": 1e-3, "p50_us": 12.8}
    cell |= {"p99_us": 20.0, "numba_nn_p50_us": 3.2, "numba_nn_p99_us": 5.0}
    failed = {**cell, "status": "FAILED", "size": 8}
    points = sweep_cost_points([cell, failed], "clipper", 64)
    assert [(p.processor, p.cost_ns, p.kind) for p in points] == [
        ("onnx:clipper-lstm-s4", 200.0, "network"),
        ("numba:clipper-lstm-s4", 50.0, "network"),
    ]
    files = write_sweep_crossover([cell, failed], report, tmp_path)
    assert [f.name for f in files] == ["crossover_64.png", "crossover.md"]  # 512: no cell timed there
    text = (tmp_path / "crossover.md").read_text()
    assert "`numba:clipper-lstm-s4` 50 ns per sample (ESR 0.1 %) against `numba:clipper-os1` 150 ns" in text
    assert "Pareto front: `numba:clipper-lstm-s4`, `numba:clipper`." in text
