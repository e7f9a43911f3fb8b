"""Composing the Hydra config and writing its snapshot, ``params.yaml``.

``conf/`` is edited by hand; ``params.yaml`` is the composed, resolved snapshot that DVC tracks
and that the DVC stages run on (``--config-dir . --config-name params``). The snapshot records
the overrides it was composed with, so a test can recompose it and fail on any drift.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from distortion_bench.atomic import write_text
from distortion_bench.errors import ConfigError, DistortionBenchError

SNAPSHOT_HEADER = """\
# GENERATED from conf/ by `make params` (python -m pipeline.compose_params [overrides]).
# Do not edit: change conf/ and regenerate. DVC tracks these values and its stages run on
# this file; `compose_overrides` records the overrides it was composed with.
"""

# When params.yaml is Hydra's primary config these settings keep Hydra from writing anything
# into the workspace (no outputs/<date>/ folder, no .hydra/, no log file).
HYDRA_RUNTIME: dict[str, Any] = {
    "defaults": [{"override hydra/job_logging": "stdout"}, "_self_"],
    "hydra": {"run": {"dir": "."}, "output_subdir": None, "job": {"chdir": False}},
}


def compose_config(conf_dir: str | os.PathLike[str], overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf_dir/config.yaml`` with Hydra overrides (e.g. ``["experiment=smoke"]``)."""
    with initialize_config_dir(config_dir=str(Path(conf_dir).resolve()), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def snapshot_text(cfg: DictConfig, overrides: Sequence[str] = ()) -> str:
    """The text of ``params.yaml`` for a composed config: header, Hydra runtime, resolved values."""
    values = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(values, dict)
    values.pop("hydra", None)
    body = {**HYDRA_RUNTIME, "compose_overrides": list(overrides), **values}
    return SNAPSHOT_HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


def write_snapshot(conf_dir: str | os.PathLike[str], path: str | os.PathLike[str],
                   overrides: Sequence[str] = ()) -> str:
    """Compose the config and write its snapshot to ``path`` atomically; return the text."""
    text = snapshot_text(compose_config(conf_dir, overrides), overrides)
    write_text(path, text)
    return text


def recorded_overrides(snapshot_path: str | os.PathLike[str]) -> list[str]:
    """The overrides a snapshot was composed with (its ``compose_overrides`` key)."""
    data = yaml.safe_load(Path(snapshot_path).read_text(encoding="utf-8")) or {}
    return [str(o) for o in data.get("compose_overrides", [])]


def selected_effects(cfg: DictConfig | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The effects a stage works on: all of ``effects``, or only ``select.effect`` when set."""
    effects = cfg.get("effects")
    if not effects:
        raise ConfigError("effects: expected at least one effect (e.g. effect@effects.tube: tube)")
    by_name = {str(k): dict(plain(v)) for k, v in effects.items()}
    chosen = (cfg.get("select") or {}).get("effect")
    if chosen is None:
        return by_name
    if chosen not in by_name:
        raise ConfigError(f"select.effect: {chosen!r} is not a key of effects; expected one of {sorted(by_name)}")
    return {chosen: by_name[chosen]}


def plain(value: Any) -> Any:
    """A config node as plain Python containers (resolved); other values unchanged."""
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


@contextlib.contextmanager
def user_errors(stage: str) -> Iterator[None]:
    """Turn the project's own errors into one clear line on stderr and exit status 2."""
    try:
        yield
    except DistortionBenchError as exc:
        print(f"{stage}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
