"""Composing the Hydra config and writing its snapshot, ``params.yaml``.

``conf/`` is edited by hand; ``params.yaml`` is the composed, resolved snapshot that DVC tracks
and that the DVC stages run on (``--config-dir . --config-name params`` plus Hydra's runtime
settings on the command line, see ``dvc.yaml``). Two things write it, byte for byte alike:

- ``make params [ARGS="overrides"]`` (:func:`write_snapshot`): the overrides, if any, are
  recorded under ``compose_overrides`` at the end, so a check can recompose it;
- ``dvc exp run -S <hydra override>``: DVC's own Hydra composition (``hydra.enabled`` in
  ``.dvc/config``) composes ``conf/`` with the ``-S`` overrides into ``params.yaml`` before the
  experiment runs (``OmegaConf.to_yaml`` of the resolved config: the format used here too).

:func:`snapshot_status` is the drift check: ``params.yaml`` must be the composition of
``conf/`` with its recorded overrides, or, in a DVC experiment's workspace, differ from the
committed ``params.yaml`` only by the experiment's overrides while the committed one is still
the composition of ``conf/`` (so ``conf/`` was not edited without ``make params``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from distortion_bench.atomic import write_text
from distortion_bench.errors import ConfigError, DistortionBenchError

#: Hydra's runtime settings the DVC stages pass on the command line (``dvc.yaml``'s
#: ``hydra_runtime``): run in the repository root, write nothing of Hydra's into the workspace.
HYDRA_RUNTIME_OVERRIDES = (
    "hydra.run.dir=.",
    "hydra.output_subdir=null",
    "hydra.job.chdir=false",
    "hydra/job_logging=stdout",
)
#: The key under which ``make params`` records the overrides it composed with.
OVERRIDES_KEY = "compose_overrides"


def compose_config(conf_dir: str | os.PathLike[str], overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf_dir/config.yaml`` with Hydra overrides (e.g. ``["experiment=smoke"]``)."""
    with initialize_config_dir(config_dir=str(Path(conf_dir).resolve()), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def snapshot_text(cfg: DictConfig, overrides: Sequence[str] = ()) -> str:
    """The text of ``params.yaml`` for a composed config: the resolved values as DVC's Hydra
    composition writes them, then the recorded overrides (only when there are any)."""
    cfg = cfg.copy()
    OmegaConf.resolve(cfg)
    with contextlib.suppress(Exception):
        cfg.pop("hydra", None)
    text = OmegaConf.to_yaml(cfg)
    if overrides:
        text += yaml.safe_dump({OVERRIDES_KEY: list(overrides)}, sort_keys=False, default_flow_style=False)
    return text


def write_snapshot(
    conf_dir: str | os.PathLike[str], path: str | os.PathLike[str], overrides: Sequence[str] = ()
) -> str:
    """Compose the config and write its snapshot to ``path`` atomically; return the text."""
    text = snapshot_text(compose_config(conf_dir, overrides), overrides)
    write_text(path, text)
    return text


def recorded_overrides(snapshot: str | os.PathLike[str] | Mapping[str, Any]) -> list[str]:
    """The overrides a snapshot (a path, or its parsed content) was composed with."""
    data = (
        snapshot if isinstance(snapshot, Mapping) else yaml.safe_load(Path(snapshot).read_text(encoding="utf-8")) or {}
    )
    return [str(o) for o in data.get(OVERRIDES_KEY, [])]


def leaf_differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """``key=value`` (value from ``b``) for every leaf where the nested mappings differ."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for key in list(a) + [k for k in b if k not in a]:
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in b:
                out.append(f"~{name}")
            elif key not in a:
                out.append(f"+{name}={b[key]!r}")
            else:
                out += leaf_differences(a[key], b[key], name)
        return out
    return [] if a == b else [f"{prefix}={b!r}"]


@dataclass(frozen=True)
class SnapshotStatus:
    """The drift check's verdict: ``fresh`` (params.yaml is conf/ composed with its recorded
    overrides), ``experiment`` (a DVC experiment's workspace: the committed params.yaml is
    fresh and the workspace differs from it by ``experiment_overrides``) or ``stale``."""

    state: str
    message: str
    experiment_overrides: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state != "stale"


def _committed(repo: Path, name: str) -> str | None:
    try:
        out = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=repo, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def snapshot_status(repo: str | os.PathLike[str], params_name: str = "params.yaml") -> SnapshotStatus:
    """Is ``repo/params.yaml`` the composition of ``repo/conf`` (see the module docstring)?"""
    root = Path(repo)
    path = root / params_name
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    overrides = recorded_overrides(data)
    if text == snapshot_text(compose_config(root / "conf", overrides), overrides):
        return SnapshotStatus("fresh", f"{path} is up to date (overrides: {overrides})")
    stale = SnapshotStatus(
        "stale",
        f"{path} is stale: conf/ changed without `make params` (or params.yaml was "
        f"edited by hand); run `make params` (overrides: {overrides})",
    )
    committed = _committed(root, params_name)
    if committed is None or committed == text:
        return stale
    head = yaml.safe_load(committed) or {}
    head_overrides = recorded_overrides(head)
    if committed != snapshot_text(compose_config(root / "conf", head_overrides), head_overrides):
        return stale
    changes = tuple(
        leaf_differences(
            {k: v for k, v in head.items() if k != OVERRIDES_KEY}, {k: v for k, v in data.items() if k != OVERRIDES_KEY}
        )
    )
    return SnapshotStatus(
        "experiment",
        f"{path} holds a DVC experiment's parameters (dvc exp run -S, or a hand edit) on top of "
        f"the committed composition of conf/: {', '.join(changes) or 'no value changed'}. To keep them, put them "
        "in conf/ and run `make params` (or `dvc exp apply`/`dvc exp branch`); to drop them, "
        f"`git checkout {params_name}`",
        changes,
    )


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


def train_pairs(cfg: DictConfig | Mapping[str, Any], key: str = "train_matrix") -> list[tuple[str, str]]:
    """``train_matrix`` (or ``key``: ``knob_matrix``): the ``(effect, model)`` pairs `dvc repro`
    trains, in config order.

    Each entry is ``<effect>-<model>: {effect: <key of effects>, model: <key of models>}`` (the key
    is the DVC stage's name, ``train@<effect>-<model>``); a wrong key or name is refused.
    """
    matrix = cfg.get(key)
    if not isinstance(matrix, Mapping) and not OmegaConf.is_dict(matrix):
        raise ConfigError(f"{key}: expected a mapping '<effect>-<model>: {{effect, model}}', got {plain(matrix)!r}")
    effects, models = cfg.get("effects") or {}, cfg.get("models") or {}
    pairs = []
    for name, entry in plain(matrix).items():
        if not isinstance(entry, Mapping) or set(entry) != {"effect", "model"}:
            raise ConfigError(f"{key}.{name}: expected {{effect, model}}, got {entry!r}")
        effect, model = str(entry["effect"]), str(entry["model"])
        if effect not in effects:
            raise ConfigError(
                f"{key}.{name}.effect: {effect!r} is not a key of effects; expected one of {sorted(effects)}"
            )
        if model not in models:
            raise ConfigError(f"{key}.{name}.model: {model!r} is not a key of models; expected one of {sorted(models)}")
        if name != f"{effect}-{model}":
            raise ConfigError(f"{key}.{name}: the key must be '{effect}-{model}' (the pair's name)")
        pairs.append((effect, model))
    return pairs


def matrix_effects(cfg: DictConfig | Mapping[str, Any]) -> list[str]:
    """The effects of ``train_matrix``, in config order."""
    return list(dict.fromkeys(e for e, _ in train_pairs(cfg)))


def matrix_models(cfg: DictConfig | Mapping[str, Any], effect: str) -> list[str]:
    """The models ``train_matrix`` trains on ``effect``, in config order."""
    return [m for e, m in train_pairs(cfg) if e == effect]


def selected_models(cfg: DictConfig | Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The models a stage works on: ``select.model`` if set, else every model of ``train_matrix``."""
    models = plain(cfg.get("models")) or {}
    chosen = (cfg.get("select") or {}).get("model")
    names = [chosen] if chosen is not None else list(dict.fromkeys(m for _, m in train_pairs(cfg)))
    for name in names:
        if name not in models:
            raise ConfigError(
                f"select.model / train_matrix: {name!r} is not a key of models; expected one of {sorted(models)}"
            )
    return {name: models[name] for name in names}


def selected_pairs(cfg: DictConfig | Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The ``(effect, model name, model config)`` pairs the train and export stages work on:
    the pairs of ``train_matrix``, narrowed by ``select.effect`` / ``select.model``; with both
    set, that one pair (trained ad hoc even when ``train_matrix`` does not list it)."""
    select = cfg.get("select") or {}
    models = selected_models(cfg)
    if select.get("effect") is not None and select.get("model") is not None:
        (effect,) = selected_effects(cfg)
        return [(effect, str(select["model"]), models[str(select["model"])])]
    pairs = train_pairs(cfg)
    if select.get("effect") is not None:
        (effect,) = selected_effects(cfg)
        pairs = [(e, m) for e, m in pairs if e == effect]
    return [(e, m, models[m]) for e, m in pairs if m in models]


def selected_knob_pairs(cfg: DictConfig | Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The ``(effect, model name, model config)`` pairs the knob-conditioned stages work on:
    ``knob_matrix``'s pairs (each model trained as its conditioned family), narrowed by
    ``select.effect`` / ``select.model``; with both set, that one pair."""
    select = cfg.get("select") or {}
    models = plain(cfg.get("models")) or {}
    if select.get("effect") is not None and select["effect"] not in (cfg.get("effects") or {}):
        raise ConfigError(f"knob_matrix / select.effect: {select['effect']!r} is not a key of effects")
    if select.get("effect") is not None and select.get("model") is not None:
        pairs = [(str(select["effect"]), str(select["model"]))]
    else:
        pairs = [
            (e, m)
            for e, m in train_pairs(cfg, "knob_matrix")
            if select.get("effect") in (None, e) and select.get("model") in (None, m)
        ]
    for effect, name in pairs:
        if effect not in (cfg.get("effects") or {}):
            raise ConfigError(f"knob_matrix / select.effect: {effect!r} is not a key of effects")
        if name not in models:
            raise ConfigError(
                f"knob_matrix / select.model: {name!r} is not a key of models; expected one of {sorted(models)}"
            )
    return [(effect, name, models[name]) for effect, name in pairs]


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
