"""``make demo``: run every pipeline stage that exists, end to end, and say where the results are.

Stages that are not built yet are listed as such; the demo never pretends to run them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from foryou.cli import main as foryou
from foryou.config import load_config
from foryou.lake import Lake
from foryou.lake.report import tables_text
from foryou.spark import get_spark

REPO = Path(__file__).resolve().parents[2]
DEMO_RUN_DATE = "2022-05-08"  # the last day of the KuaiRand-Pure log window

# Stages of the data flow (DESIGN.md) that do not exist yet.
PLANNED = ["generate", "clean", "sessionize", "features", "train-embeddings", "train-ranker",
           "build-candidates", "export", "evaluate"]


def kuairand_dir() -> Path:
    """Where the real KuaiRand side tables are: FORYOU_KUAIRAND_DIR or shared/ beside the repo."""
    return Path(os.environ.get("FORYOU_KUAIRAND_DIR", REPO.parent / "shared" / "data" / "kuairand_pure"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small", choices=["small", "large"])
    parser.add_argument("--conf", action="append", default=[])
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    common = [a for c in args.conf for a in ("--conf", c)] + \
             [a for s in args.overrides for a in ("--set", s)]

    started = time.perf_counter()
    print("foryou demo: running the stages that exist today\n")
    print(f"[1/1] ingest: KuaiRand user and video side tables -> bronze.users, bronze.content")
    code = foryou(["ingest", "--format", "kuairand", "--path", str(kuairand_dir()),
                   "--run-date", DEMO_RUN_DATE, *common])
    if code:
        return code

    config = load_config(args.conf, args.overrides)
    lake = Lake(get_spark(config), config)
    print("\n" + tables_text(lake))
    print(f"\nNot built yet, so not run: {', '.join(PLANNED)} (see the open issues).")
    print(f"\nDemo finished in {time.perf_counter() - started:.0f}s.")
    print(f"Delta tables: {os.path.abspath(config.lake.root)}")
    print("Inspect them: .venv/bin/foryou tables | .venv/bin/foryou history bronze.users")
    return 0


if __name__ == "__main__":
    sys.exit(main())
