"""``distortion-bench verify``: does this machine reproduce the committed study?

Two checks, each printing what matches and what does not:

1. **Data.** The data stages (``prepare_dry``, ``render_targets``, ``build_dataset``,
   ``build_knob_dataset``) run again
   from ``params.yaml`` into a temporary folder, and the DVC hash of each output is compared with
   the one ``dvc.lock`` records. These stages are deterministic and CPU-independent, so every
   output must match; a mismatch means this machine (or a library version) makes other data,
   and so trains other models.
2. **Quality** (with ``--train``, or ``--fresh REPORTS`` from a run made elsewhere). Training is
   not bit-reproducible across machines (PyTorch's kernels differ), so the check is statistical:
   each pair's committed test ESR (the benchmarked model's, and the median over seeds) must lie
   inside the range (min..max over seeds) of the fresh run; ``--train`` trains every pair of
   ``train_matrix`` on the fresh data in the temporary folder (as long as the train stage takes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from distortion_bench.analysis.spread import format_spread
from distortion_bench.config import train_pairs
from distortion_bench.errors import DistortionBenchError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One line of the verdict."""

    kind: str  # "data" or "quality"
    what: str  # e.g. "render_targets@tube data/targets/tube"
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'match   ' if self.ok else 'MISMATCH'}  {self.kind:<7}  {self.what}: {self.detail}"


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_hash(path: Path) -> str:
    """The md5 DVC records for ``path`` in ``dvc.lock``: a file's md5, or for a folder the md5 of
    the JSON list of its files' ``{"md5", "relpath"}`` sorted by path, plus ``.dir``."""
    if path.is_file():
        return file_md5(path)
    entries = sorted(
        ({"md5": file_md5(p), "relpath": p.relative_to(path).as_posix()} for p in path.rglob("*") if p.is_file()),
        key=lambda e: e["relpath"],
    )
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def locked_outputs(lock_path: Path) -> dict[str, dict[str, str]]:
    """``{stage: {out path: md5}}`` from ``dvc.lock``."""
    try:
        lock = yaml.safe_load(lock_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DistortionBenchError(f"{lock_path}: cannot read ({exc}); run from the repository root") from exc
    return {
        stage: {o["path"]: o.get("md5", "") for o in body.get("outs", [])}
        for stage, body in (lock.get("stages") or {}).items()
    }


def _data_stages(cfg: DictConfig) -> Iterator[tuple[str, str, str]]:
    """``(stage, locked path, path relative to the data root)`` of every data-stage output."""
    yield "prepare_dry", str(cfg.paths.dry), "dry"
    for effect in cfg.effects:
        yield f"render_targets@{effect}", f"{cfg.paths.targets}/{effect}", f"targets/{effect}"
        yield f"build_dataset@{effect}", f"{cfg.paths.datasets}/{effect}", f"datasets/{effect}"
        yield f"build_knob_dataset@{effect}", f"{cfg.paths.knob_datasets}/{effect}", f"knob_datasets/{effect}"


def rebuild_data(cfg: DictConfig, root: Path) -> DictConfig:
    """Run the data stages of ``cfg`` into ``root``; returns the config pointing there."""
    from distortion_bench.data import dataset, dry_corpus, knob_dataset, render

    fresh = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    fresh.paths.dry = str(root / "dry")
    fresh.paths.targets = str(root / "targets")
    fresh.paths.datasets = str(root / "datasets")
    fresh.paths.knob_datasets = str(root / "knob_datasets")
    dry_corpus.run(fresh)
    render.run(fresh)
    dataset.run(fresh)
    knob_dataset.run(fresh)
    return fresh


def check_data(cfg: DictConfig, lock_path: Path, root: Path) -> list[Check]:
    """Rebuild the data into ``root`` and compare every output's hash with ``dvc.lock``."""
    locked = locked_outputs(lock_path)
    rebuild_data(cfg, root)
    checks = []
    for stage, path, rel in _data_stages(cfg):
        want = locked.get(stage, {}).get(path)
        got = dvc_hash(root / rel)
        if want is None:
            checks.append(
                Check(
                    "data",
                    f"{stage} {path}",
                    False,
                    f"not in {lock_path} (run `make repro` first); this machine: {got}",
                )
            )
        else:
            checks.append(Check("data", f"{stage} {path}", got == want, f"dvc.lock {want}, this machine {got}"))
    return checks


def _report(folder: Path, pair: str) -> dict[str, Any] | None:
    path = folder / f"{pair}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def compare_quality(committed: Path, fresh: Path, pairs: list[str]) -> list[Check]:
    """Each pair's committed test ESR (benchmarked model and median over seeds) against the fresh
    run's range over seeds (``reports/train`` folders)."""
    checks = []
    for pair in pairs:
        old, new = _report(committed, pair), _report(fresh, pair)
        if old is None or new is None:
            missing = committed if old is None else fresh
            checks.append(Check("quality", pair, False, f"no train report in {missing}"))
            continue
        rng = (new.get("spread") or {}).get("esr")
        if not rng:
            checks.append(Check("quality", pair, False, f"{fresh / (pair + '.json')} has no spread over seeds"))
            continue
        values = {
            "benchmarked model": old["test"]["esr"],
            "median over seeds": ((old.get("spread") or {}).get("esr") or {}).get("median"),
        }
        for label, value in values.items():
            if value is None:
                continue
            inside = rng["min"] <= value <= rng["max"]
            checks.append(
                Check(
                    "quality",
                    f"{pair} test ESR, {label}",
                    inside,
                    f"committed {100 * value:.3g} %, fresh run {format_spread(rng, percent=True)}: "
                    f"{'inside' if inside else 'outside'} the fresh range",
                )
            )
    return checks


def verify(
    cfg: DictConfig, repo: Path, train: bool = False, fresh_reports: Path | None = None, keep: Path | None = None
) -> list[Check]:
    """Run the checks (see the module docstring); ``keep``: a folder for the fresh data and models
    (default: a temporary one, removed afterwards)."""
    root = keep or Path(tempfile.mkdtemp(prefix="distortion-bench-verify-"))
    try:
        checks = check_data(cfg, repo / "dvc.lock", root / "data")
        pairs = [f"{e}-{m}" for e, m in train_pairs(cfg)]
        committed = Path(cfg.paths.reports) / "train"
        if train:
            from distortion_bench.nn import train as train_stage

            fresh = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
            for key, rel in (
                ("dry", "data/dry"),
                ("targets", "data/targets"),
                ("datasets", "data/datasets"),
                ("checkpoints", "checkpoints"),
                ("reports", "reports"),
            ):
                fresh.paths[key] = str(root / rel)
            fresh.tracking.uri = f"sqlite:///{root / 'mlflow.db'}"
            train_stage.run(fresh)
            fresh_reports = root / "reports" / "train"
        if fresh_reports is not None:
            checks += compare_quality(committed, Path(fresh_reports), pairs)
        return checks
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
