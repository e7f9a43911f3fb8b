"""The data stages write the same bytes on every x86-64 CPU.

One machine stands in for others: the smoke data stages (``prepare_dry``, ``render_targets``,
``build_dataset``, ``build_knob_dataset``, with one 44.1 kHz stereo user file so the resampler is covered) run in
subprocesses with the CPU-specific code paths turned off:

- ``no-avx512``: NumPy's AVX-512 kernels disabled (``NPY_DISABLE_CPU_FEATURES``), Numba compiling
  for an AVX2 CPU (``NUMBA_CPU_NAME=haswell``): an AMD EPYC Zen 2/3 or a desktop CPU;
- ``baseline``: every NumPy SIMD kernel above the build's baseline disabled, Numba compiling for
  a generic x86-64, and the C library's FMA/AVX2 variants of ``exp``/``sin``/``pow``... turned off
  (``GLIBC_TUNABLES``): an old or virtualised CPU.

Each must write byte-identical files to the default run. The default run's digests are also
pinned here, so a machine or a library version that changes the stored data fails the suite
instead of silently changing the study (update ``SMOKE_DIGESTS`` only for a deliberate change
to the data stages, and re-run the pipeline: every model downstream changes with it).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, sine

STAGES = ("prepare_dry", "render_targets", "build_dataset", "build_knob_dataset")
FOLDERS = (
    "dry",
    "targets/tube",
    "targets/bitcrush",
    "targets/clipper",
    "datasets/tube",
    "datasets/bitcrush",
    "datasets/clipper",
    "knob_datasets/tube",
    "knob_datasets/bitcrush",
)

#: sha256 over (relative path, file sha256) of each output folder of the default run below.
SMOKE_DIGESTS = {
    "dry": "f82e452f838064240b58ab69921c251cd3297e025e97916e98fbb91dd3897701",
    "targets/tube": "779f931042e400704297b5ea07392a1adc82839909b1e4f2fffc78250f6eaf18",
    "targets/bitcrush": "07245611f08f17aa21c7d0b27fca2417e0ed79777f385a3e7a6cc9ee65e8489c",
    "targets/clipper": "263a5094a839d1afa80a877c7386c0fc56356edfd1b7a52c55725f9aa6f2bd44",
    "datasets/tube": "688ecf888869598af26f7dafa15db49494f83cbddef416a96eed75df1d651b78",
    "datasets/bitcrush": "64713ca9a9c2766db0d27eab16dc6c414442a9c4d406fcf64ab9ec5298ee974d",
    "datasets/clipper": "bf618f23ddf96c64130335fa1622ef9ef4c2596fe2800e6cca51d54b24c325f9",
    "knob_datasets/tube": "25415ccf1612948db33130be273059b90d3c821f62562096d1ae7ce6f70908b3",
    "knob_datasets/bitcrush": "067d9831eb9d335c3724e7d0d0ae6d373e2fd32eef6d20ae6573f59e57ddd89d",
}


def _numpy_dispatch(keep: str | None) -> str:
    """NumPy's run-time dispatched SIMD targets this machine uses, less those containing ``keep``
    ... i.e. the names to put in ``NPY_DISABLE_CPU_FEATURES`` (names differ across versions)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    names = [n for n in __cpu_dispatch__ if __cpu_features__.get(n)]
    if keep == "avx512":
        names = [n for n in names if "AVX512" in n or n == "X86_V4"]
    return " ".join(names)


#: every test here runs the data stages in subprocesses compiled for other CPUs (about a minute)
pytestmark = pytest.mark.emulated

EMULATIONS = {
    "no-avx512": {"NPY_DISABLE_CPU_FEATURES": _numpy_dispatch("avx512"), "NUMBA_CPU_NAME": "haswell"},
    "baseline": {
        "NPY_DISABLE_CPU_FEATURES": _numpy_dispatch(None),
        "NUMBA_CPU_NAME": "generic",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX2,-FMA,-FMA4,-AVX",
    },
}


#: one process per emulated CPU runs every data stage's library code (what `distortion-bench verify`
#: runs; the `pipeline.<stage>` modules only compose the config and call it): four process
#: start-ups per CPU were most of this test's time
_STAGES_IN_ONE_PROCESS = """
import sys
from pathlib import Path
from distortion_bench.config import compose_config
from distortion_bench.verify import rebuild_data
root = Path(sys.argv[1])
rebuild_data(compose_config(sys.argv[2], ["experiment=smoke", f"paths.raw={root}/raw"]), root)
"""


def _run_stages(root: Path, extra_env: dict[str, str]) -> None:
    env = {**os.environ, **extra_env, "NUMBA_CACHE_DIR": str(root / "numba-cache")}
    result = subprocess.run(
        [sys.executable, "-c", _STAGES_IN_ONE_PROCESS, str(root), str(REPO / "conf")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"{STAGES} under {extra_env} failed:\n{result.stdout}\n{result.stderr}"


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in FOLDERS
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def folder_digest(hashes: dict[str, str], folder: str) -> str:
    lines = [f"{path} {digest}" for path, digest in sorted(hashes.items()) if path.startswith(folder + "/")]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict[str, str]]:
    out = {}
    for name, env in {"default": {}, **EMULATIONS}.items():
        root = tmp_path_factory.mktemp(name)
        (root / "raw").mkdir()
        stereo = np.stack([sine(220.0, 0.5, 22050, 44100), sine(330.0, 0.3, 22050, 44100)], axis=1)
        sf.write(root / "raw" / "stereo_cd.wav", stereo, 44100, subtype="PCM_16")
        _run_stages(root, env)
        out[name] = _file_hashes(root)
    return out


@pytest.mark.parametrize("emulation", sorted(EMULATIONS))
def test_data_stages_are_byte_identical_on_an_emulated_cpu(runs, emulation):
    default, other = runs["default"], runs[emulation]
    assert sorted(other) == sorted(default)
    differ = sorted(p for p in default if other[p] != default[p])
    assert not differ, (
        f"{len(differ)} of {len(default)} files differ under {emulation} ({EMULATIONS[emulation]}), e.g. {differ[:5]}"
    )


def test_smoke_data_digests_are_the_pinned_ones(runs):
    got = {folder: folder_digest(runs["default"], folder) for folder in FOLDERS}
    assert all(len([p for p in runs["default"] if p.startswith(f + "/")]) > 2 for f in FOLDERS)
    assert got == SMOKE_DIGESTS, (
        "the smoke data stages wrote other bytes than the pinned ones: this machine or a library "
        f"version changes the stored data (and so every model). Got {got}"
    )
