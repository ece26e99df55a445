"""Bridge write vs plain Parquet write of the same 10M-row frame (the floor).

    python bench/lake_write.py [--rows 10000000] [--repeat 2]

Prints both times and the ratio; target: bridge <= 1.3x the floor.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyspark.sql import functions as F  # noqa: E402

from common import save, session, timed  # noqa: E402
from foryou.lake import Lake, table  # noqa: E402
from foryou.lake.schema import conform  # noqa: E402

TABLE = "silver.events"


def frame(spark, rows: int):
    """A silver.events-shaped frame over 10 days, generated (not cached) the same way each time."""
    ids = spark.range(rows)
    df = ids.select(
        F.concat(F.lit("e"), F.col("id").cast("string")).alias("event_id"),
        F.element_at(F.array(*map(F.lit, ["view", "like", "skip", "impression"])),
                     (F.col("id") % 4 + 1).cast("int")).alias("event_type"),
        F.concat(F.lit("u"), (F.col("id") % 100_000).cast("string")).alias("user_id"),
        F.timestamp_seconds(F.lit(1714521600) + F.col("id") % 864_000).alias("event_ts"),
        F.concat(F.lit("c"), (F.col("id") % 20_000).cast("string")).alias("content_id"),
        (F.col("id") * 7919 % 60_000).alias("watch_ms"),
        F.lit("bench").alias("ingest_id"), F.lit("native").alias("source"),
    ).withColumn("event_date", F.to_date("event_ts"))
    return conform(df, table(TABLE), table(TABLE).schema)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="foryou-bench-"))
    config, spark = session(extra=[f"lake.root={work / 'lake'}"])
    lake = Lake(spark, config)
    runs = []
    try:
        for i in range(args.repeat):
            t: dict = {}
            with timed(t, "floor_s"):
                frame(spark, args.rows).write.partitionBy("event_date").parquet(str(work / f"floor{i}"))
            with timed(t, "bridge_s"):
                result = lake.overwrite(TABLE, frame(spark, args.rows))
            assert result.rows == args.rows, result
            runs.append(t)
            print(f"run {i + 1}: parquet floor {t['floor_s']:.2f}s, bridge {t['bridge_s']:.2f}s "
                  f"({result.files} files committed)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = min(r["floor_s"] for r in runs)
    bridge = min(r["bridge_s"] for r in runs)
    ratio = bridge / floor
    print(f"\n{args.rows:,} rows on {spark.sparkContext.master}: df.write.parquet {floor:.2f}s "
          f"({args.rows / floor:,.0f} rows/s), bridge {bridge:.2f}s ({args.rows / bridge:,.0f} rows/s)")
    print(f"bridge / floor = {ratio:.2f}x (target <= 1.3x): {'MET' if ratio <= 1.3 else 'MISSED'}")
    save("lake_write", {"rows": args.rows, "runs": runs, "floor_s": floor, "bridge_s": bridge,
                        "ratio": round(ratio, 3), "target": 1.3})
    return 0


if __name__ == "__main__":
    sys.exit(main())
