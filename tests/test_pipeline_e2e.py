"""End to end: `dvc repro` of the pipeline with the smoke experiment, in a copy of the repo."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import assert_png, run

# the first test builds the smoke repository (`dvc repro` of six pairs and both benches): its
# fixture counts against that test's time, so the e2e tests get more than the default 600 s
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

DATA_STAGES = [
    "prepare_dry",
    "render_targets@tube",
    "render_targets@bitcrush",
    "render_targets@clipper",
    "build_dataset@tube",
    "build_dataset@bitcrush",
    "build_dataset@clipper",
]
KNOB_DATA_STAGES = ["build_knob_dataset@tube", "build_knob_dataset@bitcrush", "build_knob_dataset@clipper"]
PAIRS = ["tube-tcn", "tube-lstm", "tube-shaper", "bitcrush-shaper", "clipper-lstm8", "clipper-tcn_short"]
TRAIN_STAGES = [f"train@{p}" for p in PAIRS]
KNOB_PAIRS = ["tube-lstm-knobs", "tube-tcn-knobs", "bitcrush-shaper-knobs"]
KNOB_STAGES = [f"{s}@{p.removesuffix('-knobs')}" for s in ("train_knobs", "export_knobs") for p in KNOB_PAIRS]
KNOB_STAGES += ["knob_bench"]


def test_repro_runs_every_stage_and_writes_outputs(smoke_repo, first_repro):
    for stage in (
        DATA_STAGES + KNOB_DATA_STAGES + TRAIN_STAGES + KNOB_STAGES + ["offline_bench", "realtime_bench", "report"]
    ):
        assert f"Running stage '{stage}'" in first_repro
    dry = json.loads((smoke_repo / "data/dry/manifest.json").read_text())
    assert len(dry["files"]) == 15 + 3 + 6 + 3  # smoke: guitar takes + sweeps + tones + noise
    for effect in ("tube", "bitcrush", "clipper"):
        targets = json.loads((smoke_repo / f"data/targets/{effect}/manifest.json").read_text())
        assert [f["path"] for f in targets["files"]] == [f["path"] for f in dry["files"]]
        ds = json.loads((smoke_repo / f"data/datasets/{effect}/manifest.json").read_text())
        for split in ("train", "val", "test"):
            x = np.load(smoke_repo / f"data/datasets/{effect}/{split}/input.npy", mmap_mode="r")
            assert x.shape == (ds["splits"][split]["segments"], 12000) and x.shape[0] > 0
    for pair in PAIRS:
        report = json.loads((smoke_repo / f"reports/train/{pair}.json").read_text())
        assert report["test"]["esr"] > 0 and report["params"] > 0 and report["epochs"] == 1
        assert report["stopped_by"] == "max_epochs" and not report["machine_dependent"]
        assert "noise" in report["test"]["by_category"]
        assert (smoke_repo / f"models/checkpoints/{pair}/best.ckpt").is_file()
        assert (smoke_repo / f"reports/train/{pair}/loss_curve.png").is_file()
    # The MLflow runs, read straight from the embedded sqlite store in the repository.
    db = sqlite3.connect(smoke_repo / "mlflow.db")
    rows = db.execute(
        "SELECT e.name, r.name, m.value FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
        "JOIN latest_metrics m ON m.run_uuid = r.run_uuid WHERE m.key = 'test/esr' AND r.name NOT LIKE '%/seed-%' "
        "ORDER BY r.name"
    ).fetchall()
    assert [(e, r) for e, r, _ in rows] == [
        ("bitcrush", "bitcrush-shaper"),
        ("clipper", "clipper-lstm8"),
        ("clipper", "clipper-tcn_short"),
        ("tube", "tube-lstm"),
        ("tube", "tube-shaper"),
        ("tube", "tube-tcn"),
    ]
    # the shaper trains with its own loss (its config's train override): residual ESR
    shaper = json.loads((smoke_repo / "reports/train/bitcrush-shaper.json").read_text())
    assert shaper["model_type"] == "shaper" and shaper["cells"] == 1024
    assert all(v > 0 for _, _, v in rows)
    # each seed (smoke: one) is a child run of its pair's run
    children = db.execute(
        "SELECT r.name FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
        "WHERE t.key = 'mlflow.parentRunId' ORDER BY r.name"
    ).fetchall()
    assert [n for (n,) in children] == sorted(f"{p}/seed-0" for p in PAIRS + KNOB_PAIRS)
    # Hydra wrote nothing into the workspace.
    assert not (smoke_repo / "outputs").exists() and not list(smoke_repo.glob("*.log"))


def test_knob_pairs_are_trained_judged_on_the_grid_exported_and_benchmarked(smoke_repo, first_repro):
    for pair in KNOB_PAIRS[:2]:
        report = json.loads((smoke_repo / f"reports/train/{pair}.json").read_text())
        assert report["knob_names"] == ["gain_db", "bias"] and report["epochs"] == 1
        # smoke: a 2 x 2 held-out grid (cell centres of gain 0-24 dB x bias 0-0.5)
        grid = sorted((c["setting"]["gain_db"], c["setting"]["bias"]) for c in report["grid"])
        assert np.allclose(grid, [(6.0, 0.125), (6.0, 0.375), (18.0, 0.125), (18.0, 0.375)])
        assert all(c["esr"] > 0 and c["rows"] == 2 for c in report["grid"])
        worst = max(report["grid"], key=lambda c: c["esr"])
        assert report["grid_summary"]["worst"] == {"setting": worst["setting"], "esr": worst["esr"]}
        # the reference: the model at the fixed setting on the fixed pairs' test takes
        assert report["reference"]["setting"] == {"gain_db": 12.0, "bias": 0.2} and report["reference"]["esr"] > 0
        assert report["spread"]["grid_esr_median"]["n"] == 1
        for name in ("grid_esr.png", "grid_residual_esr.png", "loss_curve.png"):
            assert_png(smoke_repo / f"reports/train/{pair}/{name}")
        assert len(list((smoke_repo / f"reports/train/{pair}/examples").glob("*.wav"))) == 9  # 3 settings
        export = json.loads((smoke_repo / f"reports/export/{pair}.json").read_text())
        assert export["knob_names"] == ["gain_db", "bias"] and set(export["knobs"]) == {"gain_db", "bias"}
        # knobs set to a new random setting before every buffer, at every buffer size
        assert max(export["parity_max_abs"].values()) <= 1e-4
        assert max(export["numba_parity_max_abs"].values()) <= 1e-4
    # the bitcrusher's shaper: a table per bits value 4..12, every one a grid cell
    shaper = json.loads((smoke_repo / "reports/train/bitcrush-shaper-knobs.json").read_text())
    assert shaper["model_type"] == "shaper_knobs" and shaper["tables"] == 9 and shaper["table_knob"] == "bits"
    assert sorted(c["setting"]["bits"] for c in shaper["grid"]) == list(range(4, 13))
    assert all(c["residual_esr"] > 0 for c in shaper["grid"]) and shaper["reference"]["setting"] == {"bits": 8.0}
    export = json.loads((smoke_repo / "reports/export/bitcrush-shaper-knobs.json").read_text())
    assert max(export["parity_max_abs"].values()) <= 1e-4 and max(export["numba_parity_max_abs"].values()) <= 1e-4
    bench = json.loads((smoke_repo / "reports/knobs/knob_bench.json").read_text())
    # 3 pairs x 2 backends x 1 buffer size (smoke), each timed beside its fixed twin
    assert len(bench["cost"]) == 6 and all(r["fixed_p50_us"] > 0 and r["knobs_p50_us"] > 0 for r in bench["cost"])
    assert {r["processor"] for r in bench["automation"]["bitcrush"]["rows"]} == {
        "numba:bitcrush-shaper-knobs",
        "numba:bitcrush-shaper",
    }
    assert "bitcrush" not in bench["clicks"]  # bits only step: nothing to glide, no click figure
    assert {r["processor"] for r in bench["automation"]["tube"]["rows"]} == {
        "numba:tube-lstm-knobs",
        "numba:tube-lstm",
        "numba:tube-tcn-knobs",
        "numba:tube-tcn",
    }
    clicks = bench["clicks"]["tube"]["processors"]
    # the DSP's own smoother: its click is far below the same step made at once
    assert clicks["numba:tube"]["click_db"] < clicks["numba:tube (no smoothing)"]["click_db"] - 15
    assert (smoke_repo / "reports/knobs/knobs.md").read_text().startswith("# Knob-conditioned networks")
    assert len(list((smoke_repo / "reports/knobs/audio").glob("tube_automation_*.wav"))) == 6


def test_offline_bench_writes_every_report(smoke_repo, first_repro):
    assert "Running stage 'offline_bench'" in first_repro
    with open(smoke_repo / "reports/offline_bench.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "effect",
        "processor",
        "backend",
        "buffer_size",
        "mean_us",
        "p50_us",
        "p99_us",
        "p999_us",
        "max_us",
        "jitter_us",
        "rtf",
        "rtf_worst",
        "throughput_sps",
        "deadline_misses",
        "params",
        "weight_bytes",
    ]
    # smoke, 2 buffer sizes: tube (numba, numpy, pedalboard, 3 models x (onnx, numba, torch), naive TCN),
    # bitcrush (numba, numpy, pedalboard, the shaper x (onnx, numba, torch)), clipper (numba and
    # its two smoke variants, 2 models x 3 backends, naive TCN)
    assert len(rows) == (13 + 6 + 10) * 2
    assert {r["buffer_size"] for r in rows} == {"64", "512"}
    assert any("naive" in r["processor"] for r in rows)
    for r in rows:
        assert 0 < float(r["p50_us"]) <= float(r["p99_us"]) <= float(r["max_us"])
        assert float(r["rtf"]) == pytest.approx(float(r["mean_us"]) / (1e6 * int(r["buffer_size"]) / 48000), rel=1e-4)
    quality = json.loads((smoke_repo / "reports/quality.json").read_text())
    # numba:tube streams the fast form (float32 shaper, block low-pass) against the exact targets
    assert quality["tube"]["numba:tube"]["esr"] < 1e-10
    assert quality["tube"]["numpy:tube"]["esr"] < 1e-10
    assert 0 < quality["tube"]["onnx:tube-lstm"]["esr"]
    assert abs(quality["tube"]["onnx:tube-lstm"]["esr"] - quality["tube"]["torch:tube-lstm"]["esr"]) < 1e-4
    for pair in ("tube-tcn", "tube-lstm", "bitcrush-shaper"):  # the Numba kernels compute what ONNX Runtime does
        assert quality[pair.split("-")[0]][f"numba:{pair}"]["esr"] == pytest.approx(
            quality[pair.split("-")[0]][f"onnx:{pair}"]["esr"], rel=1e-3, abs=1e-7
        )
    assert len(quality["tube"]["pedalboard:tube"]["sines"]) == 2  # smoke: 440 Hz at 2 levels
    # quality per kind of material beside the pooled figure
    lstm = quality["tube"]["onnx:tube-lstm"]
    assert set(lstm["by_group"]) == {"guitar", "measurement"}
    assert {"pluck", "chord", "bass", "sweep", "tone", "noise"} <= set(lstm["by_category"])
    assert sum(c["takes"] for c in lstm["by_category"].values()) == lstm["takes"]
    # a network's figures carry its spread over seeds (smoke: one seed), the DSP's none
    seeds = lstm["seeds"]
    assert seeds["esr"]["n"] == 1 and seeds["chosen_seed"] == seeds["seeds"][0]
    assert seeds["esr"]["median"] == pytest.approx(lstm["esr"], rel=1e-3)
    assert "seeds" not in quality["tube"]["numba:tube"]
    summary_load = json.loads((smoke_repo / "reports/offline_bench.json").read_text())["tube"]["machine_load"]
    assert summary_load["cpus"] >= 1 and isinstance(summary_load["busy"], bool)
    comparison = (smoke_repo / "reports/comparison.md").read_text()
    assert "- Machine load while measuring tube: " in comparison
    # the recurrent networks ran kernels generated for them, the TCN the generic kernel
    assert "| `numba:tube-lstm` (generated) |" in comparison and "| `numba:tube-tcn` (generic) |" in comparison
    # smoke trains one seed: the section says that no ranking is claimed
    assert "### tube: differences the seeds support" in comparison and "one seed only" in comparison
    assert sum(c["share_of_error"] for c in lstm["by_category"].values()) == pytest.approx(1.0, abs=1e-4)
    assert lstm["by_group"]["guitar"]["share_of_error"] + lstm["by_group"]["measurement"][
        "share_of_error"
    ] == pytest.approx(1.0, abs=1e-4)
    comparison = (smoke_repo / "reports/comparison.md").read_text()
    assert "### tube: quality per kind of material" in comparison
    assert "### tube: networks compiled to Numba kernels" in comparison and "`numba:tube-lstm` |" in comparison
    summary = json.loads((smoke_repo / "reports/offline_bench.json").read_text())
    assert set(summary) == {"tube", "bitcrush", "clipper"} and "targets" in summary["tube"]
    assert "| Complexity" in (smoke_repo / "reports/comparison.md").read_text()
    for effect in ("tube", "bitcrush", "clipper"):
        for plot in ("latency", "rtf", "quality_vs_speed", "waveforms", "spectrograms", "harmonics"):
            assert_png(smoke_repo / f"reports/plots/offline/{effect}_{plot}.png")
        model = "lstm8" if effect == "clipper" else "shaper"
        assert (smoke_repo / f"data/processed/{effect}/onnx_{effect}-{model}.wav").is_file()
    db = sqlite3.connect(smoke_repo / "mlflow.db")
    keys = {
        (run, key)
        for run, key in db.execute("SELECT r.name, m.key FROM runs r JOIN latest_metrics m ON m.run_uuid = r.run_uuid")
    }
    for run_name in ("tube-tcn", "bitcrush-shaper"):
        assert {
            (run_name, "p99_us/bs0064"),
            (run_name, "torch/p99_us/bs0512"),
            (run_name, "numba/p99_us/bs0064"),
            (run_name, "quality/esr"),
            (run_name, "quality/guitar/esr"),
            (run_name, "quality/noise/residual_esr"),
        } <= keys
    assert ("dsp-baseline", "p99_us/bs0064") in keys and ("dsp-baseline", "numpy/rtf/bs0512") in keys
    steps = {s for (s,) in db.execute("SELECT DISTINCT m.step FROM metrics m WHERE m.key = 'p99_us'")}
    assert steps == {64, 512}
    # the clipper's DSP variants log under their own prefix on the effect's dsp-baseline run
    assert ("dsp-baseline", "os1/p99_us/bs0064") in keys and ("dsp-baseline", "os2-tol1e-3/quality/esr") in keys


def test_offline_bench_charts_the_clipper_crossover(smoke_repo, first_repro):
    quality = json.loads((smoke_repo / "reports/quality.json").read_text())["clipper"]
    assert quality["numba:clipper"]["esr"] < 1e-9  # the target's own solver (smoke: 8x)
    # fewer high-rate samples alias more: the 1x solver is further from the 8x target than 2x
    assert quality["numba:clipper-os1"]["esr"] > quality["numba:clipper-os2-tol1e-3"]["esr"] > 0
    cross = json.loads((smoke_repo / "reports/offline/crossover.json").read_text())
    assert set(cross) == {"clipper"}  # the one effect with DSP variants
    report = cross["clipper"]
    assert set(report["buffer_sizes"]) == {"64", "512"} and report["esr_targets"] == [0.01, 0.001, 0.0001, 0.00001]
    from conftest import compose
    from distortion_bench.bench.selection import bench_entries

    names = {(e.processor, e.backend): e.name for e in bench_entries(compose("experiment=smoke"), "clipper")}
    with open(smoke_repo / "reports/offline_bench.csv") as f:
        rows = {
            (names[(r["processor"], r["backend"])], r["buffer_size"]): r
            for r in csv.DictReader(f)
            if r["effect"] == "clipper"
        }
    for bs, part in report["buffer_sizes"].items():
        points = {p["processor"]: p for p in part["points"]}
        # the Numba DSP and its variants, and every network on ONNX Runtime and as a Numba kernel
        assert set(points) == {"numba:clipper", "numba:clipper-os1", "numba:clipper-os2-tol1e-3"} | {
            f"{b}:clipper-{m}" for b in ("onnx", "numba") for m in ("lstm8", "tcn_short")
        }
        for name, p in points.items():
            assert p["kind"] == ("dsp" if name == "numba:clipper" or "-os" in name else "network")
            assert p["ns_per_sample"] == pytest.approx(1000 * float(rows[(name, bs)]["p50_us"]) / int(bs), rel=1e-4)
            assert p["esr"] == quality[name]["esr"]
        # the solver's counters over the test takes: Newton converged everywhere, in a few steps
        for name in ("numba:clipper", "numba:clipper-os1", "numba:clipper-os2-tol1e-3"):
            solver = points[name]["solver"]
            assert solver["not_converged"] == 0 and 1 <= solver["iterations_mean"] <= solver["iterations_max"] <= 50
        assert points["numba:clipper-os1"]["solver"]["samples"] * 8 == points["numba:clipper"]["solver"]["samples"]
        # the front: no point off it is both cheaper and better than one on it
        front = [p for p in part["points"] if p["pareto"]]
        assert front and all(
            not (q["ns_per_sample"] < f["ns_per_sample"] and q["esr"] < f["esr"]) for f in front for q in part["points"]
        )
        assert part["sentence"].startswith(f"At {bs} samples per buffer: At ESR <= 1 %")
        assert_png(smoke_repo / f"reports/plots/offline/clipper_crossover_{bs}.png")
    comparison = (smoke_repo / "reports/comparison.md").read_text()
    assert "### clipper: where a network overtakes the DSP" in comparison
    assert report["buffer_sizes"]["64"]["sentence"] in comparison


def test_realtime_bench_streams_every_processor_on_jack(smoke_repo, first_repro):
    assert "Running stage 'realtime_bench'" in first_repro
    with open(smoke_repo / "reports/realtime_bench.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "effect",
        "processor",
        "backend",
        "buffer_size",
        "scheduling",
        "priority",
        "seconds",
        "callbacks",
        "expected_callbacks",
        "underruns",
        "overruns",
        "xruns",
        "processor_glitches",
        "scheduler_glitches",
        "processor_xruns",
        "scheduler_xruns",
        "xruns_outside",
        "processor_misses",
        "over_budget",
        "preempted",
        "faults",
        "mean_us",
        "cpu_mean_us",
        "cpu_max_us",
        "p99_us",
        "p999_us",
        "max_us",
        "tail_stat",
        "tail_us",
        "rtf",
        "rtf_worst",
        "knob_changes",
    ]
    summary = json.loads((smoke_repo / "reports/realtime_bench.json").read_text())
    # smoke: bench.realtime.processors (five tube processors, one of the clipper's), buffer 256, 0.5 s each, under each
    # scheduling mode this machine permits (real time first), then 3 with a thread turning knobs
    # (bench.realtime.processors in smoke: five of the tube's, in the offline order, one of the clipper's)
    processors = ["numba:tube", "pedalboard:tube", "torch:tube-tcn", "onnx:tube-lstm", "numba:tube-lstm"]
    knobbed = ["numba:tube+knobs", "numba:tube-lstm-knobs+knobs", "onnx:tube-tcn-knobs+knobs"]
    processors += ["numba:clipper-lstm8"]
    processors += knobbed
    modes = [m for m in ("realtime", "normal") if m in summary["scheduling"]]  # the JSON's keys are sorted
    assert "normal" in modes and len(rows) == len(processors) * len(modes)
    assert [r["processor"] for r in rows] == processors * len(modes)
    wanted = ["fifo" if summary["scheduling"][m]["realtime"] else "other" for m in modes]
    assert [r["scheduling"] for r in rows] == [w for w in wanted for _ in processors]
    for r in rows:
        assert r["backend"] == "jack_dummy" and r["buffer_size"] == "256" and r["faults"] == "0"
        # the clock drove every stream (a busy machine may drop callbacks, but not most of them)
        assert int(r["callbacks"]) >= 0.5 * int(r["expected_callbacks"]) > 0
        # every glitch is attributed to one cause
        assert int(r["processor_glitches"]) + int(r["scheduler_glitches"]) == int(r["underruns"])
        assert int(r["processor_xruns"]) + int(r["scheduler_xruns"]) == int(r["xruns"])
        # about 95 callbacks: too few for a p99, so the tail is named for what it is
        assert r["tail_stat"] == f"max of {r['callbacks']}" and float(r["tail_us"]) == float(r["max_us"]) > 0
        assert r["p99_us"] == "nan" and r["p999_us"] == "nan"
        # CPU time is part of the wall time (never more, beyond the two clocks' resolution)
        assert 0 < float(r["cpu_mean_us"]) <= float(r["mean_us"]) * 1.05 + 5
        # a setting posted every 50 ms over a 0.5 s stream: the callback applied some of them
        assert (int(r["knob_changes"]) >= 1) if r["processor"] in knobbed else r["knob_changes"] == ""
    assert (smoke_repo / "reports/plots/realtime/glitches_rtf.png").is_file()
    with Image.open(smoke_repo / "reports/plots/realtime/spectrum_tube.gif") as gif:
        # smoke: a 1.05 s sweep (with its fade-out tail) in 2048-sample frames, minus what the
        # stream's start-up may cost
        assert gif.n_frames == summary["analyzer"]["frames"] and 20 <= gif.n_frames <= 50400 // 2048
    assert summary["backend"] == "jack_dummy" and "processors_that_glitched" in summary
    assert not subprocess.run(["pgrep", "-x", "jackd"], capture_output=True).stdout  # no server left behind


def test_report_page_in_a_real_browser(smoke_repo, first_repro, tmp_path):
    """reports/site/index.html in the system Chromium, opened from disk: every player loads its audio,
    every image decodes, the tables hold the CSV's numbers, and nothing is fetched from a network."""
    import shutil

    from playwright.sync_api import sync_playwright

    from conftest import compose
    from distortion_bench.bench.selection import bench_entries
    from distortion_bench.report.tables import fmt

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "no Chromium on PATH: `make test` installs Debian's chromium package"
    index = smoke_repo / "reports/site/index.html"
    assert index.is_file()
    with open(smoke_repo / "reports/offline_bench.csv") as f:
        offline = list(csv.DictReader(f))
    with open(smoke_repo / "reports/realtime_bench.csv") as f:
        realtime = list(csv.DictReader(f))
    cfg = compose("experiment=smoke")
    names = {
        (e.effect, e.processor, e.backend): e.name
        for eff in ("tube", "bitcrush", "clipper")
        for e in bench_entries(cfg, eff)
    }
    requests, failed, errors = [], [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(index.as_uri(), wait_until="load")
            audio = page.evaluate("""() => Promise.all([...document.querySelectorAll('audio')].map(a =>
                new Promise(done => {
                    const report = () => done({src: a.currentSrc, duration: a.duration,
                                                error: a.error ? a.error.code : null});
                    if (a.readyState >= 1 || a.error) return report();
                    a.addEventListener('loadedmetadata', report); a.addEventListener('error', report);
                    a.load();
                })))""")
            images = page.evaluate("""() => Promise.all([...document.images].map(i =>
                i.decode().then(() => ({src: i.currentSrc, width: i.naturalWidth}),
                                () => ({src: i.currentSrc, width: 0}))))""")
            cells = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('td[data-key]')].map(
                td => [td.dataset.key, [td.dataset.value, td.textContent]]))""")
            page.screenshot(path=str(tmp_path / "report.png"))
        finally:
            browser.close()
    # both effects, one excerpt each in the smoke run (1 s of processed audio): dry and the processors
    # (tube: 3 DSP, 3 models x 3 backends, the naive TCN; bitcrush: 3 DSP, the shaper x 3 backends);
    # the knobs' automation takes: dry, the DSP, the conditioned networks and their fixed twins (tube:
    # two of each, bitcrush: one; the smoke grid's examples, 0.25 s segments, are too short to listen to)
    # (clipper: the DSP and its 2 smoke variants, 2 models x 3 backends, the naive TCN)
    assert len(audio) == (1 + 13) + (1 + 6) + (1 + 10) + 6 + 4, audio
    assert all(a["error"] is None and a["duration"] > 0.4 for a in audio), audio
    assert len(images) >= 3 * 6 + 3 + 2, images  # six offline plots and a spectrogram grid per effect, ...
    assert all(i["width"] > 0 for i in images), [i for i in images if not i["width"]]
    assert not failed and not errors, (failed, errors)
    assert requests and all(u.startswith("file://") for u in requests), [
        u for u in requests if not u.startswith("file://")
    ]
    for row in (offline[0], offline[len(offline) // 2], offline[-1]):
        key = f"{row['effect']}|{names[(row['effect'], row['processor'], row['backend'])]}|{row['buffer_size']}"
        assert cells[key] == [f"{row['p50_us']}|{row['p99_us']}", f"{fmt(row['p50_us'])} / {fmt(row['p99_us'])}"], key
    for row in (realtime[0], realtime[-1]):
        key = f"{row['effect']}|{row['processor']}|{row['buffer_size']}|{row['scheduling']}|scheduler_glitches"
        assert cells[key] == [row["scheduler_glitches"], row["scheduler_glitches"]], key
    quality = json.loads((smoke_repo / "reports/quality.json").read_text())
    crossover = json.loads((smoke_repo / "reports/offline/crossover.json").read_text())["clipper"]
    point = crossover["buffer_sizes"]["64"]["points"][0]
    value, text = cells[f"crossover/64/{point['processor']}/esr"]
    assert float(value) == point["esr"] and text == fmt(100 * point["esr"]) + " %"
    value, text = cells["tube|onnx:tube-lstm|residual_esr"]
    assert float(value) == quality["tube"]["onnx:tube-lstm"]["residual_esr"] and text == fmt(float(value))
    lstm_knobs = json.loads((smoke_repo / "reports/train/tube-lstm-knobs.json").read_text())
    value, _ = cells["grid_esr_median/tube-lstm-knobs"]
    assert float(value) == lstm_knobs["spread"]["grid_esr_median"]["median"]
    bench = json.loads((smoke_repo / "reports/knobs/knob_bench.json").read_text())
    row = bench["cost"][-1]
    value, text = cells[f"cost/{row['pair']}/{row['backend']}/{row['buffer_size']}"]
    assert float(value) == row["knobs_over_fixed"] and text == fmt(row["knobs_over_fixed"])


def test_second_repro_has_nothing_to_do(smoke_repo, first_repro):
    out = run([sys.executable, "-m", "dvc", "repro"], smoke_repo)
    assert "Running stage" not in out
    assert "Data and pipelines are up to date." in out


def test_forced_rerun_gives_byte_identical_outputs(smoke_repo, first_repro):
    """The data stages are deterministic: forced again, they reproduce every byte (one effect's
    chain, the dry corpus, its render and its dataset, through DVC; every effect's data stages are
    also rebuilt and compared byte for byte, under emulated CPUs, by tests/test_portable_data.py)."""

    def data_locks() -> dict:
        stages = yaml.safe_load((smoke_repo / "dvc.lock").read_text())["stages"]
        return {name: stages[name] for name in DATA_STAGES}

    before = data_locks()
    out = run([sys.executable, "-m", "dvc", "repro", "--force", "build_dataset@bitcrush"], smoke_repo)
    assert out.count("Running stage") == 3  # prepare_dry, render_targets@bitcrush, build_dataset@bitcrush
    # dvc.lock holds the md5 of every output file: equal entries mean byte-identical outputs.
    assert data_locks() == before
    # ... so training, downstream, has nothing to do.
    out = run([sys.executable, "-m", "dvc", "repro"], smoke_repo)
    assert "Running stage" not in out


def test_changing_one_effect_reruns_only_its_stages(smoke_repo, first_repro):
    """A bitcrusher parameter invalidates the bitcrusher's stages and what reads them, nothing of the
    tube's (`dvc status`: what `dvc repro` would re-run; the first repro showed that running works)."""
    run([sys.executable, "-m", "pipeline.compose_params", "experiment=smoke", "effects.bitcrush.bits=6"], smoke_repo)
    try:
        status = json.loads(run([sys.executable, "-m", "dvc", "status", "--json"], smoke_repo).strip().splitlines()[-1])
    finally:
        run([sys.executable, "-m", "pipeline.compose_params", "experiment=smoke"], smoke_repo)
    for stage in ("render_targets@bitcrush", "build_knob_dataset@bitcrush", "offline_bench", "realtime_bench"):
        assert stage in status, status
    # downstream of a changed stage: DVC lists a stage when its own deps or params changed
    for stage in (
        "prepare_dry",
        "render_targets@tube",
        "build_dataset@tube",
        "build_knob_dataset@tube",
        "train@tube-tcn",
        "train@tube-lstm",
        "train@tube-shaper",
        "export_onnx@tube-lstm",
        "train_knobs@tube-lstm",
        "export_knobs@tube-tcn",
    ):
        assert stage not in status, status
    assert "Data and pipelines are up to date." in run([sys.executable, "-m", "dvc", "status"], smoke_repo)


def test_dvc_experiment_with_hydra_overrides(smoke_repo, first_repro, tmp_path):
    """`dvc exp run -S <hydra override>` composes conf/ into params.yaml, re-runs what changed,
    `dvc exp show` lists its metrics, and the drift check accepts the experiment's workspace."""
    import os
    import shutil

    repo = tmp_path / "exp"
    shutil.copytree(smoke_repo, repo, symlinks=True)
    env_git = {
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    os.environ.update(env_git)  # dvc exp commits the experiment
    try:
        run(["git", "add", "-A"], repo)
        run(["git", "commit", "-q", "-m", "smoke baseline"], repo)
        # DVC composes conf/ with the -S overrides only: the smoke snapshot's own override is repeated.
        # A report-only parameter, so the experiment re-runs the last stage alone (what it shows is
        # the composition and DVC's choice of stages; re-measuring or retraining adds nothing).
        out = run(
            [
                sys.executable,
                "-m",
                "dvc",
                "exp",
                "run",
                "-n",
                "excerpt1",
                "-S",
                "experiment=smoke",
                "-S",
                "report.excerpt_seconds=1.0",
            ],
            repo,
        )
        assert "Running stage 'report'" in out
        for stage in ("prepare_dry", "train@tube-lstm", "export_onnx@tube-lstm", "offline_bench", "realtime_bench"):
            assert f"Running stage '{stage}'" not in out
        params = yaml.safe_load((repo / "params.yaml").read_text())
        assert params["report"]["excerpt_seconds"] == 1.0 and params["data"]["segment_seconds"] == 0.25
        listed = subprocess.run(
            [sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=repo, capture_output=True, text=True
        )
        assert listed.returncode == 0, listed.stderr
        shown = json.loads(listed.stdout)
        exps = [e for base in shown for e in (base.get("experiments") or [])]
        named = [e for e in exps if any(r.get("name") == "excerpt1" for r in e.get("revs", []))]
        assert named, shown
        rev = named[0]["revs"][0]["data"]
        metrics = rev["metrics"]
        train_report = metrics["reports/train/tube-lstm.json"]["data"]
        assert train_report["size"] == 8 and train_report["test"]["esr"] > 0  # the smoke model, kept
        bench = metrics["reports/offline_bench.json"]["data"]
        assert "p99_us_bs0064" in bench["tube"]["processors"]["onnx:tube-lstm"]
        assert rev["params"]["params.yaml"]["data"]["report"]["excerpt_seconds"] == 1.0
        # the page was rebuilt with the shorter excerpts: every listening clip is at most 1 s
        import soundfile

        clips = sorted((repo / "reports/site/audio").rglob("*-dry.mp3"))
        assert clips
        for clip in clips:  # MP3 frames pad a little at both ends
            assert soundfile.info(str(clip)).duration <= 1.1, clip
        check = subprocess.run(
            [sys.executable, "-m", "pipeline.compose_params", "--check", "--repo", str(repo)],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        assert "report.excerpt_seconds=1.0" in check.stdout
    finally:
        for key in env_git:
            os.environ.pop(key, None)
