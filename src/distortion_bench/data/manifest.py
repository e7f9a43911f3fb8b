"""Reading the JSON manifests the data stages write, with errors that say which stage to run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from distortion_bench.errors import DistortionBenchError

MANIFEST_NAME = "manifest.json"


def read_manifest(folder: str | os.PathLike[str], produced_by: str, required: str = "files") -> dict[str, Any]:
    """Load ``folder/manifest.json``; ``produced_by`` names the stage that writes it, ``required``
    the key every manifest of that stage has (the file lists; a knob dataset's ``splits``)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise DistortionBenchError(
            f"{path}: missing; run the `{produced_by}` stage first (dvc repro {produced_by})"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DistortionBenchError(f"{path}: not valid JSON ({exc}); re-run `{produced_by}`") from exc
    if not isinstance(data, dict) or required not in data:
        raise DistortionBenchError(f"{path}: has no {required!r}; re-run `{produced_by}`")
    return data
