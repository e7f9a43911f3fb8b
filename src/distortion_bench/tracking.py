"""MLflow tracking: where runs go, and config flattened into run parameters.

Default store: the embedded ``sqlite:///<repo>/mlflow.db`` (absolute, so Hydra's or a job's
working folder never changes it). ``MLFLOW_TRACKING_URI`` overrides it (e.g. a team's
``mlflow server`` with a SQL database), then ``tracking.uri`` in the config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_DB = "mlflow.db"


def tracking_uri(configured: str | None = None, root: str | os.PathLike[str] | None = None) -> str:
    """The tracking URI: ``$MLFLOW_TRACKING_URI``, else ``configured``, else sqlite in ``root``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if configured:
        return str(configured)
    base = Path(root) if root is not None else Path.cwd()
    return f"sqlite:///{(base / DEFAULT_DB).resolve()}"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}`` (lists kept as their string form)."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat
