"""Peak resident memory of a process that runs one processor (DESIGN section 5: "peak RSS of
the process running it"): each probe is a fresh Python process, so what one backend's
libraries and buffers cost is not mixed with another's.

``python -m distortion_bench.analysis.memory_probe`` reads a JSON request on stdin
(``{"config": {...}, "processor": "onnx:tube-lstm", "buffer_size": 512, "seconds": 2.0}``),
builds the processor from the config, streams ``seconds`` of seeded noise through it and prints
``{"baseline_rss_bytes", "peak_rss_bytes"}``: RSS after Python and the registry were imported,
and the process's peak (``ru_maxrss``) after processing.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from typing import Any

from distortion_bench.errors import DistortionBenchError


def _current_rss_bytes() -> int:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def probe(config: dict[str, Any], processor: str, buffer_size: int, seconds: float,
          timeout_s: float = 300.0) -> dict[str, int]:
    """Run the probe for ``processor`` in a fresh interpreter; return its RSS figures (bytes)."""
    request = json.dumps({"config": config, "processor": processor, "buffer_size": buffer_size,
                          "seconds": seconds})
    done = subprocess.run([sys.executable, "-m", __name__], input=request, capture_output=True,
                          text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise DistortionBenchError(f"memory probe of {processor!r} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _main() -> None:
    import numpy as np
    from omegaconf import OmegaConf

    from distortion_bench.engine.registry import build_processor

    request = json.loads(sys.stdin.read())
    baseline = _current_rss_bytes()
    cfg = OmegaConf.create(request["config"])
    proc = build_processor(request["processor"], cfg, int(cfg.bench.threads))
    bs = int(request["buffer_size"])
    n = int(request["seconds"] * int(cfg.audio.sample_rate))
    x = (0.3 * np.random.default_rng(0).standard_normal(max(n, bs))).astype(np.float32)
    proc.process_signal(x, bs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    print(json.dumps({"baseline_rss_bytes": baseline, "peak_rss_bytes": int(peak)}))


if __name__ == "__main__":
    _main()
