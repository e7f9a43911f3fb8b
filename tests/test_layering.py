"""Imports run one way: a package may import from its own layer and the layers below, never above.

The order, bottom to top (docs/layout.md says the same in prose):

1. foundations: errors, files, config, tracking, the ONNX contract, portable math;
2. signal code: the DSP effects, the synthesizer, the Numba network kernels;
3. data: the corpus, targets and datasets the DSP renders;
4. analysis: numbers and plots from arrays (metrics, harmonics, glitch attribution, spreads);
5. nn: the PyTorch models, their training and export;
6. engine: processors (DSP, ONNX Runtime, Numba, PyTorch) and the real-time audio engine;
7. bench, sweep, verify: the stages and studies that drive processors and measure them;
8. report: the page built from what the stages wrote;
9. cli: the command line over all of it.

Lazy imports inside functions count too: they run up the layers just the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "distortion_bench"
LAYERS: list[set[str]] = [
    {"__init__", "errors", "atomic", "audio_io", "config", "tracking", "onnx_contract", "portable_math"},
    {"dsp", "synth", "kernels"},
    {"data"},
    {"analysis"},
    {"nn"},
    {"engine"},
    {"bench", "sweep", "verify"},
    {"report"},
    {"cli"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _part(module: str) -> str | None:
    """The top-level part of ``distortion_bench.<part>...``, or None for another package."""
    bits = module.split(".")
    return bits[1] if bits[0] == "distortion_bench" and len(bits) > 1 else None


def upward_imports(package: Path) -> list[str]:
    """``"file:line: <part> imports <module> (layer i -> j)"`` for every import of a higher layer,
    and for every part the layer table does not know (a new package must be placed in it)."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        mine = rel.parts[0].removesuffix(".py")
        if mine not in RANK:
            problems.append(f"{rel}: {mine!r} is in no layer of tests/test_layering.py")
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = (
                    [f"{node.module}.{a.name}" for a in node.names]
                    if node.module == "distortion_bench"
                    else [node.module]
                )
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                part = _part(name)
                if part is None or part == mine:
                    continue
                if part not in RANK:
                    problems.append(f"{rel}:{node.lineno}: imports {name}, which is in no layer")
                elif RANK[part] > RANK[mine]:
                    problems.append(
                        f"{rel}:{node.lineno}: {mine} (layer {RANK[mine] + 1}) imports {name} (layer {RANK[part] + 1})"
                    )
    return problems


def test_every_import_runs_down_the_layers():
    assert upward_imports(PACKAGE) == []


@pytest.mark.parametrize(
    "source, found",
    [
        ("from distortion_bench.engine.processor import Processor\n", "analysis (layer 4) imports"),
        ("def f():\n    from distortion_bench.bench import offline\n", "analysis (layer 4) imports"),
        ("from distortion_bench import cli\n", "analysis (layer 4) imports distortion_bench.cli"),
    ],
)
def test_a_planted_upward_import_is_found(tmp_path, source, found):
    package = tmp_path / "distortion_bench"
    (package / "analysis").mkdir(parents=True)
    (package / "analysis" / "planted.py").write_text(source)
    (package / "analysis" / "fine.py").write_text("from distortion_bench.errors import ConfigError\n")
    problems = upward_imports(package)
    assert len(problems) == 1 and found in problems[0] and problems[0].startswith("analysis/planted.py:")


def test_a_package_outside_the_table_is_found(tmp_path):
    package = tmp_path / "distortion_bench"
    (package / "plugins").mkdir(parents=True)
    (package / "plugins" / "x.py").write_text("")
    assert upward_imports(package) == ["plugins/x.py: 'plugins' is in no layer of tests/test_layering.py"]
