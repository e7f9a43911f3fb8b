"""distortion-bench verify: DVC's hashes recomputed, quality compared against a fresh run's spread."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from distortion_bench.verify import compare_quality, dvc_hash, locked_outputs


def test_folder_hash_is_the_one_dvc_records(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.wav").write_bytes(b"\x00\x01" * 100)
    (data / "sub" / "manifest.json").write_text('{"x": 1}\n')
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(
        [sys.executable, "-m", "dvc", "add", "-q", "data"],
        cwd=tmp_path,
        check=True,
        env={"DVC_NO_ANALYTICS": "1", "PATH": "/usr/bin:/bin"},
    )
    recorded = yaml.safe_load((tmp_path / "data.dvc").read_text())["outs"][0]["md5"]
    assert dvc_hash(data) == recorded and recorded.endswith(".dir")
    assert dvc_hash(data / "a.wav") == "{}".format(__import__("hashlib").md5(b"\x00\x01" * 100).hexdigest())


def test_locked_outputs_reads_each_stage(tmp_path):
    lock = tmp_path / "dvc.lock"
    lock.write_text(
        yaml.safe_dump(
            {
                "schema": "2.0",
                "stages": {
                    "prepare_dry": {"cmd": "x", "outs": [{"path": "data/dry", "md5": "abc.dir"}]},
                    "build_dataset@tube": {"cmd": "y", "outs": [{"path": "data/datasets/tube", "md5": "def.dir"}]},
                },
            }
        )
    )
    assert locked_outputs(lock) == {
        "prepare_dry": {"data/dry": "abc.dir"},
        "build_dataset@tube": {"data/datasets/tube": "def.dir"},
    }


def _report(folder: Path, pair: str, esr: float, values: list[float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    spread = {"median": sorted(values)[len(values) // 2], "min": min(values), "max": max(values), "n": len(values)}
    (folder / f"{pair}.json").write_text(json.dumps({"test": {"esr": esr}, "spread": {"esr": spread}}))


def test_committed_figures_inside_or_outside_the_fresh_range(tmp_path):
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    _report(committed, "tube-lstm", 0.0023, [0.0022, 0.0023, 0.0029])
    _report(fresh, "tube-lstm", 0.0024, [0.0021, 0.0024, 0.0026])
    _report(committed, "tube-tcn", 0.0022, [0.0021, 0.0022, 0.0025])
    _report(fresh, "tube-tcn", 0.0060, [0.0052, 0.0060, 0.0063])
    checks = compare_quality(committed, fresh, ["tube-lstm", "tube-tcn", "tube-shaper"])
    verdict = {(c.what, c.ok) for c in checks}
    assert verdict == {
        ("tube-lstm test ESR, benchmarked model", True),
        ("tube-lstm test ESR, median over seeds", True),
        ("tube-tcn test ESR, benchmarked model", False),
        ("tube-tcn test ESR, median over seeds", False),
        ("tube-shaper", False),
    }
    line = next(c.line() for c in checks if c.what == "tube-tcn test ESR, benchmarked model")
    assert line.startswith("MISMATCH") and "committed 0.22 %, fresh run 0.6 % (0.52-0.63, 3 seeds): outside" in line
