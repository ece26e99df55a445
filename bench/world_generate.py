"""Synthetic world generation vs writing the same number of plain rows as JSON (the floor).

    python bench/world_generate.py [--events 10000000] [--days 7] [--partitions 4] [--repeat 2]

The generator simulates users (Python workers), renders raw records in Spark and writes the
events as JSON lines; the same tasks write the ground truth as Parquet. The floor writes as
many rows from ``spark.range`` with the raw record's 19 fields (cheap expressions) as JSON.
Prints the times, events/s and the ratios (target: generator <= 3x the floor), for the whole
world and for the world without ground truth (what a real app delivers); each the best of
``--repeat`` runs, after a warm-up of both sides (a tiny world and a small floor).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from common import save, session, timed  # noqa: E402
from foryou.world import WorldConfig  # noqa: E402
from foryou.world.generate import generate_world  # noqa: E402
from foryou.world.records import ISO_PATTERN, RAW_EVENT_FIELDS  # noqa: E402

EVENTS_PER_USER_DAY = 65  # measured on 7-day worlds; the run reports the actual count


def floor_frame(spark: SparkSession, rows: int) -> DataFrame:
    """``rows`` rows with the raw record's fields, from spark.range and cheap expressions."""
    id_ = F.col("id")
    values = {
        "event_id": F.lpad(F.lower(F.hex(id_ * 2654435761)), 16, "0"),
        "event_type": F.element_at(F.array(*map(F.lit, ["impression", "view", "skip", "like"])),
                                   (id_ % 4 + 1).cast("int")),
        "user_id": F.concat(F.lit("u"), F.lpad((id_ % 100_000).cast("string"), 6, "0")),
        "event_ts": F.date_format(F.timestamp_millis(F.lit(1714521600000) + id_ * 997), ISO_PATTERN),
        "content_id": F.concat(F.lit("v"), F.lpad((id_ % 20_000).cast("string"), 7, "0")),
        "creator_id": F.concat(F.lit("c"), F.lpad((id_ % 9_000).cast("string"), 6, "0")),
        "request_id": F.lpad(F.lower(F.hex(F.floor(id_ / 6) * 40503)), 16, "0"),
        "position": (id_ % 6).cast("int"),
        "watch_ms": id_ * 7919 % 60_000,
        "platform": F.when(id_ % 97 == 0, F.lit("whatsapp")),
        "reason": F.when(id_ % 991 == 0, F.lit("spam")),
        "comment_text": F.when(id_ % 331 == 0, F.lit("love this!!")),
        "device_type": F.lit("phone"),
        "os": F.when(id_ % 3 == 0, F.lit("ios")).otherwise(F.lit("android")),
        "network_type": F.lit("wifi"),
        "app_version": F.lit("34.2.1"),
        "country": F.lit("US"),
        "language": F.lit("en"),
        "received_at": F.date_format(F.timestamp_millis(F.lit(1714521600800) + id_ * 997), ISO_PATTERN),
    }
    return spark.range(rows).select(*[values[name].alias(name) for name in RAW_EVENT_FIELDS])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--users-per-block", type=int, default=0,
                        help="0: two blocks per core of the session")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    n_users = max(1, round(args.events / (EVENTS_PER_USER_DAY * args.days)))
    _, spark = session()
    per_block = args.users_per_block or -(-n_users // (2 * spark.sparkContext.defaultParallelism))
    cfg = WorldConfig(seed=args.seed, n_users=n_users, days=args.days,
                      n_items=max(2_000, min(200_000, args.events // 10)),
                      partitions=args.partitions, users_per_block=per_block)
    work = Path(tempfile.mkdtemp(prefix="foryou-bench-world-"))
    runs = []
    try:
        # Warm the JVM, the Python workers and the code caches the same way for both sides.
        generate_world(spark, WorldConfig.preset("tiny"), str(work / "warm-world"))
        floor_frame(spark, 10_000).write.mode("overwrite").json(str(work / "warm-floor"))
        for i in range(args.repeat):
            t: dict = {}
            with timed(t, "generate_s"):
                counts = generate_world(spark, cfg, str(work / "world"))
            with timed(t, "generate_no_truth_s"):
                generate_world(spark, cfg, str(work / "world"), truth=False)
            rows = counts["events"]
            with timed(t, "floor_s"):
                floor_frame(spark, rows).write.mode("overwrite").json(str(work / "floor"))
            runs.append(t)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in t.items()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    ratio = best["generate_s"] / best["floor_s"]
    ratio_raw = best["generate_no_truth_s"] / best["floor_s"]
    print(f"\nworld: {n_users:,} users x {args.days} days, {cfg.n_items:,} items, "
          f"{cfg.partitions} tasks, on {spark.sparkContext.master}")
    print(f"generate_world: {rows:,} events + ground truth in {best['generate_s']:.2f}s "
          f"({rows / best['generate_s']:,.0f} events/s)")
    print(f"generate_world(truth=False): events, content, users in {best['generate_no_truth_s']:.2f}s "
          f"({rows / best['generate_no_truth_s']:,.0f} events/s)")
    print(f"floor (spark.range -> JSON, same rows): {best['floor_s']:.2f}s "
          f"({rows / best['floor_s']:,.0f} rows/s)")
    print(f"generate / floor = {ratio:.2f}x with truth, {ratio_raw:.2f}x without "
          f"(target <= 3x): {'MET' if ratio <= 3 else 'MISSED'}")
    save("world_generate", {
        "events": rows, "impressions": counts["impressions"], "users": n_users, "days": args.days,
        "items": cfg.n_items, "partitions": cfg.partitions, "users_per_block": cfg.users_per_block,
        "runs": runs, **best,
        "events_per_s": round(rows / best["generate_s"]),
        "events_per_s_no_truth": round(rows / best["generate_no_truth_s"]),
        "floor_rows_per_s": round(rows / best["floor_s"]),
        "ratio": round(ratio, 3), "ratio_no_truth": round(ratio_raw, 3), "target": 3.0,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
