"""Peak resident memory of a process that runs one processor (peak RSS of the process
running it, as ``getrusage`` reports it): each probe is a fresh Python process, so what one backend's
libraries and buffers cost is not mixed with another's.

``python -m distortion_bench.bench.memory_probe`` reads a JSON request on stdin
(``{"config": {...}, "processor": "onnx:tube-lstm", "buffer_size": 512, "seconds": 2.0}``),
builds the processor from the config, streams ``seconds`` of seeded noise through it and prints
``{"baseline_rss_bytes", "peak_rss_bytes"}``: RSS after Python and the registry were imported,
and the process's peak (``VmHWM``) after processing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from distortion_bench.errors import DistortionBenchError


def _status_bytes(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` in bytes (``VmRSS`` now, ``VmHWM`` peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def probe(
    config: dict[str, Any], processor: str, buffer_size: int, seconds: float, timeout_s: float = 300.0
) -> dict[str, int]:
    """Run the probe for ``processor`` in a fresh interpreter; return its RSS figures (bytes)."""
    request = json.dumps({"config": config, "processor": processor, "buffer_size": buffer_size, "seconds": seconds})
    done = subprocess.run(
        [sys.executable, "-m", __name__], input=request, capture_output=True, text=True, timeout=timeout_s
    )
    if done.returncode != 0:
        raise DistortionBenchError(f"memory probe of {processor!r} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _main() -> None:
    import numpy as np
    from omegaconf import OmegaConf

    from distortion_bench.engine.registry import build_processor

    request = json.loads(sys.stdin.read())
    baseline = _status_bytes("VmRSS")
    cfg = OmegaConf.create(request["config"])
    proc = build_processor(request["processor"], cfg, int(cfg.bench.threads))
    bs = int(request["buffer_size"])
    n = int(request["seconds"] * int(cfg.audio.sample_rate))
    x = (0.3 * np.random.default_rng(0).standard_normal(max(n, bs))).astype(np.float32)
    proc.process_signal(x, bs)
    # VmHWM, not getrusage's ru_maxrss: the latter survives exec, so every probe would report
    # the (much larger) benchmark process that spawned it
    print(json.dumps({"baseline_rss_bytes": baseline, "peak_rss_bytes": _status_bytes("VmHWM")}))


if __name__ == "__main__":
    _main()
