"""Write params.yaml, the composed snapshot of conf/ that DVC tracks.

    python -m pipeline.compose_params                     # default composition
    python -m pipeline.compose_params experiment=smoke    # with Hydra overrides (recorded)
    python -m pipeline.compose_params --check             # exit 1 if params.yaml is stale
"""

import argparse
import sys
from pathlib import Path

from distortion_bench.config import compose_config, recorded_overrides, snapshot_text, write_snapshot

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=smoke")
    parser.add_argument("--check", action="store_true",
                        help="compare params.yaml with a fresh composition (its recorded overrides)")
    parser.add_argument("--output", type=Path, default=REPO / "params.yaml")
    args = parser.parse_args(argv)
    if args.check:
        overrides = recorded_overrides(args.output)
        expected = snapshot_text(compose_config(REPO / "conf", overrides), overrides)
        if args.output.read_text(encoding="utf-8") != expected:
            print(f"{args.output} is stale: run `make params` (overrides: {overrides})", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    write_snapshot(REPO / "conf", args.output, args.overrides)
    print(f"wrote {args.output} (overrides: {args.overrides})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
