"""The same 10M-row frame written by the bridge, by native Delta-Spark and by plain
``df.write.parquet`` (the floor), then one day read back from each table.

    python bench/lake_write.py [--rows 10000000] [--repeat 2]

The three writers alternate within each repeat (best of the repeats). The read is a partition
filter on event_date (one day of ten) and an aggregate over a data column, so both partition
pruning and the Parquet scan count. Targets: bridge writes within 1.1x of native, native
partition reads no slower than the bridge's; and the bridge <= 1.3x the floor.
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
    # A session with Delta's JARs (the native backend's), shared by both lakes.
    config, spark = session(extra=[f"lake.root={work / 'native'}", "lake.backend=native"])
    lakes = {"native": Lake(spark, config)}
    bridge_config = config.model_copy(deep=True)
    bridge_config.lake.backend, bridge_config.lake.root = "bridge", str(work / "bridge")
    lakes["bridge"] = Lake(spark, bridge_config)
    day = "2024-05-04"
    runs = []
    try:
        for i in range(args.repeat):
            t: dict = {}
            with timed(t, "floor_s"):
                frame(spark, args.rows).write.partitionBy("event_date").parquet(str(work / f"floor{i}"))
            for name, lake in lakes.items():
                with timed(t, f"{name}_s"):
                    result = lake.overwrite(TABLE, frame(spark, args.rows))
                assert result.rows == args.rows, (name, result)
                t[f"{name}_files"] = result.files
            for name, lake in lakes.items():
                # First read after the write (Delta-Spark replays the new log version), then
                # the same read again (its snapshot cached, as later reads of a job find it).
                for kind in ("cold", "warm"):
                    with timed(t, f"{name}_read_{kind}_s"):
                        got = lake.read(TABLE, partitions=[day]).agg(F.count("*"), F.sum("watch_ms")).first()
                t[f"{name}_read_rows"] = got[0]
            assert t["native_read_rows"] == t["bridge_read_rows"] > 0, t
            runs.append(t)
            print(f"run {i + 1}: writes: parquet floor {t['floor_s']:.2f}s, bridge {t['bridge_s']:.2f}s "
                  f"({t['bridge_files']} files), native {t['native_s']:.2f}s ({t['native_files']} files); "
                  f"reads of {day} (first / again): bridge {t['bridge_read_cold_s']:.2f}s / "
                  f"{t['bridge_read_warm_s']:.2f}s, native {t['native_read_cold_s']:.2f}s / "
                  f"{t['native_read_warm_s']:.2f}s ({t['native_read_rows']:,} rows)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {k: min(r[k] for r in runs) for k in runs[0] if k.endswith("_s")}
    vs_native = best["bridge_s"] / best["native_s"]
    vs_floor = best["bridge_s"] / best["floor_s"]
    reads = {kind: best[f"native_read_{kind}_s"] / best[f"bridge_read_{kind}_s"] for kind in ("cold", "warm")}
    print(f"\n{args.rows:,} rows on {spark.sparkContext.master}, best of {args.repeat}: "
          f"df.write.parquet {best['floor_s']:.2f}s, bridge {best['bridge_s']:.2f}s, "
          f"native {best['native_s']:.2f}s")
    print(f"bridge / native writes = {vs_native:.2f}x (target <= 1.1x): "
          f"{'MET' if vs_native <= 1.1 else 'MISSED'}")
    for kind, label in (("cold", "first read after the write"), ("warm", "read again")):
        print(f"native / bridge partition reads, {label}: {reads[kind]:.2f}x (target <= 1.0x): "
              f"{'MET' if reads[kind] <= 1.0 else 'MISSED'}")
    print(f"bridge / floor = {vs_floor:.2f}x (target <= 1.3x): {'MET' if vs_floor <= 1.3 else 'MISSED'}")
    save("lake_write", {"rows": args.rows, "runs": runs, **best,
                        "bridge_over_native": round(vs_native, 3),
                        "native_over_bridge_read": {k: round(v, 3) for k, v in reads.items()},
                        "bridge_over_floor": round(vs_floor, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
