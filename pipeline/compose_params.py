"""Write params.yaml, the composed snapshot of conf/ that DVC tracks.

    python -m pipeline.compose_params                     # default composition
    python -m pipeline.compose_params experiment=smoke    # with Hydra overrides (recorded)
    python -m pipeline.compose_params --check             # exit 1 if params.yaml is stale

`dvc exp run -S <override>` writes the same file through DVC's Hydra composition; `--check`
accepts such an experiment's workspace while the committed params.yaml matches conf/.
"""

import argparse
import sys
from pathlib import Path

from distortion_bench.config import snapshot_status, write_snapshot

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=smoke")
    parser.add_argument(
        "--check", action="store_true", help="compare params.yaml with a fresh composition (its recorded overrides)"
    )
    parser.add_argument("--repo", type=Path, default=REPO, help="repository root (conf/ and params.yaml)")
    args = parser.parse_args(argv)
    if args.check:
        status = snapshot_status(args.repo)
        print(status.message, file=sys.stdout if status.ok else sys.stderr)
        return 0 if status.ok else 1
    out = args.repo / "params.yaml"
    write_snapshot(args.repo / "conf", out, args.overrides)
    print(f"wrote {out} (overrides: {args.overrides})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
