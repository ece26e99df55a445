"""A user's interaction log to a feed: wall time of the documented commands, per stage.

    .venv/bin/python bench/own_log.py [--interactions 100000] [--root /tmp/own-log-bench]

Generates a latent-cluster log (``foryou.world.interaction_log``: ~25 interactions per user, a
long-tail item popularity, 90 days of activity and a few events up to three years earlier),
then runs exactly the README's "Your data" commands as subprocesses:
``foryou ingest --format interactions`` and ``foryou pipeline --run-date D --from clean``.
Prints the seconds of each command and each stage (from gold.metrics) and writes
``bench/results/own_log.json``. The issue's target: under 10 minutes for 100k interactions
on a 2-core machine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from foryou.world.interaction_log import LogShape, generate_log  # noqa: E402

BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactions", type=int, default=100_000)
    parser.add_argument("--root", default="/tmp/own-log-bench")
    args = parser.parse_args()
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    shape = LogShape.sized(args.interactions, recent_days=90, seed=1)
    users = shape.users
    log = generate_log(shape)
    path = log.write_csv(root / "ratings.csv", names=("userId", "movieId", "rating", "timestamp"))
    run_date = log.last_day() + dt.timedelta(days=1)
    sets = ["--set", f"lake.root={root / 'lake'}", "--set", "spark.log_level=ERROR"]
    commands = {
        "ingest": ["ingest", "--format", "interactions", "--path", str(path), "--columns",
                   "user=userId,item=movieId,ts=timestamp,weight=rating", "--ts-unit", "s",
                   "--run-date", str(run_date)],
        "pipeline": ["pipeline", "--run-date", str(run_date), "--from", "clean"],
    }
    seconds: dict[str, float] = {}
    for name, argv in commands.items():
        start = time.perf_counter()
        subprocess.run([str(BIN / "foryou"), *argv, *sets], check=True, stdout=subprocess.DEVNULL)
        seconds[name] = round(time.perf_counter() - start, 1)
    metrics = pl.from_arrow(DeltaTable(str(root / "lake" / "gold" / "metrics")).to_pyarrow_table())
    stages = (metrics.filter(pl.col("name").str.starts_with("stage."))
              .select(pl.col("name").str.replace("stage.", "", literal=True).alias("stage"),
                      pl.col("value").round(1).alias("seconds")))
    total = sum(seconds.values())
    print(f"log: {len(log.rows):,} interactions, {users:,} users, {len(log.item_cluster):,} items, "
          f"run date {run_date}")
    print(stages)
    print(f"ingest {seconds['ingest']} s + pipeline {seconds['pipeline']} s = {total:.1f} s "
          f"({total / 60:.1f} min; target < 10 min)")
    save("own_log", {"interactions": len(log.rows), "users": users, "commands_s": seconds,
                     "total_s": round(total, 1),
                     "stages_s": dict(zip(stages["stage"].to_list(), stages["seconds"].to_list()))})


if __name__ == "__main__":
    main()
