"""Evaluation: time to evaluate a world of N events, and the feed simulator's sessions/s.

    python bench/evaluate.py [--events 10000000] [--days 8] [--sim-users 2000]

Builds silver-like ``silver.events``, ``silver.impressions`` (every impression is an event;
labels drawn per row) and ``silver.sessions`` with ``spark.range`` (64-hex user ids, a user
active on a day with probability 0.6) and commits them through the lake. Then it times
``foryou.evaluation.daily.evaluate_day`` for the last day (business metrics, retention curve,
trends, ranker figures, source mix, monitoring, report; the simulator is timed apart), and,
as the peer, DuckDB (2 threads) computing DAU, D1 retention, CTR, engagement rate and time
spent per user over the same Parquet files. The ratio compares the engines on those shared
metrics; evaluate_day does more (trends, retention curve, monitoring, report), so its ratio
is an upper bound.

The simulator part loads the world model (``WorldConfig.preset("small")``, no truth folder)
for ``--sim-users`` users and simulates random and oracle feeds: sessions simulated per second.
The machine's load average is recorded: on a shared 2-CPU machine the figures are noisy.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from common import save, session, timed  # noqa: E402
from foryou.config.settings import EvaluationSettings  # noqa: E402
from foryou.evaluation.daily import evaluate_day  # noqa: E402
from foryou.lake import CommitKey, Lake  # noqa: E402
from foryou.stages import StageResult  # noqa: E402

START = dt.date(2024, 5, 1)
EVENTS_PER_USER_DAY = 40


def build(spark, lake: Lake, events: int, days: int) -> dict:
    users = max(10, events // (days * EVENTS_PER_USER_DAY))
    per_day = events // days
    base = (spark.range(events)
            .withColumn("day", (F.col("id") / per_day).cast("int"))
            .where(F.col("day") < days)
            .withColumn("u", F.pmod(F.xxhash64("id", F.lit(1)), F.lit(users)))
            .withColumn("r", F.rand(7)))
    # A user is active on a day with probability 0.6 (hash of user and day).
    base = base.where(F.pmod(F.xxhash64("u", "day"), F.lit(10)) < 6)
    base = (base.withColumn("user_id", F.sha2(F.col("u").cast("string"), 256))
            .withColumn("event_date", F.date_add(F.lit(START), F.col("day")))
            .withColumn("event_ts", (F.lit(int(dt.datetime(2024, 5, 1).timestamp()))
                                     + F.col("day") * 86400 + F.pmod("id", F.lit(86400))).cast("timestamp"))
            .withColumn("content_id", F.concat(F.lit("i"), F.pmod(F.xxhash64("id", F.lit(2)),
                                                                  F.lit(100_000)).cast("string"))))
    ev = base.select(F.col("id").cast("string").alias("event_id"), F.lit("impression").alias("event_type"),
                     "user_id", "event_ts", F.lit("bench").alias("ingest_id"),
                     F.lit("native").alias("source"), "event_date")
    imp = base.select(F.concat(F.lit("r"), F.col("id").cast("string")).alias("request_id"),
                      F.lit(0).alias("position"), "user_id", "content_id",
                      F.concat(F.lit("c"), F.substring("content_id", 2, 3)).alias("creator_id"), "event_ts",
                      (F.col("r") < 0.4).cast("int").alias("click"),
                      (F.col("r") < 0.05).cast("int").alias("like"),
                      (F.col("r") < 0.005).cast("int").alias("follow"),
                      (F.col("r") * 30000).cast("long").alias("watch_ms"),
                      F.lit(True).alias("has_impressions"), "event_date")
    ses = (base.groupBy("user_id", "event_date")
           .agg(F.min("event_ts").alias("session_start"), F.max("event_ts").alias("session_end"))
           .select(F.sha2(F.concat("user_id", F.col("event_date").cast("string")), 256).alias("session_id"),
                   "user_id", "session_start", "session_end",
                   (F.col("session_end").cast("long") - F.col("session_start").cast("long"))
                   .cast("double").alias("duration_s"),
                   F.col("event_date").alias("session_date")))
    out = {}
    for name, df in (("silver.events", ev), ("silver.impressions", imp), ("silver.sessions", ses)):
        out[name] = lake.append(name, df).rows
    return out


DUCK_SQL = """
WITH act AS (SELECT DISTINCT user_id, event_date FROM read_parquet('{ev}/**/*.parquet', hive_partitioning=1))
SELECT
  (SELECT count(*) FROM act WHERE event_date = DATE '{day}') AS dau,
  (SELECT count(*) FROM act a JOIN act b ON a.user_id = b.user_id
     AND b.event_date = DATE '{day}' WHERE a.event_date = DATE '{prev}')
   / (SELECT count(*) FROM act WHERE event_date = DATE '{prev}') AS retention_d1,
  (SELECT avg(click) FROM read_parquet('{imp}/**/*.parquet', hive_partitioning=1)
     WHERE event_date = DATE '{day}') AS ctr,
  (SELECT avg(CASE WHEN greatest("like", follow) > 0 THEN 1 ELSE 0 END)
     FROM read_parquet('{imp}/**/*.parquet', hive_partitioning=1) WHERE event_date = DATE '{day}') AS engagement_rate,
  (SELECT sum(duration_s) / count(DISTINCT user_id) FROM read_parquet('{ses}/**/*.parquet', hive_partitioning=1)
     WHERE session_date = DATE '{day}') AS time_spent
"""


def simulator_speed(users: int) -> dict:
    from foryou.simulator import load_world, oracle_policy, random_policy, simulate_policies
    from foryou.world import preset

    cfg = preset("small")
    t0 = time.perf_counter()
    world = load_world(cfg, None, n_users=users)
    loaded = time.perf_counter() - t0
    table = simulate_policies(cfg, None, {"random": random_policy(world), "oracle": oracle_policy(world)},
                              world=world)
    return {"users": int(world.n), "load_world_s": round(loaded, 3),
            "sessions_per_s": {r.policy: round(r.sessions_per_s, 1) for r in table.itertuples()},
            "time_spent_s": {r.policy: round(r.time_spent_s, 1) for r in table.itertuples()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--sim-users", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_eval_"))
    config, spark = session(extra=[f"lake.root={root / 'lake'}"])
    lake = Lake(spark, config)
    result = {"events": args.events, "days": args.days, "load_before": os.getloadavg()}
    with timed(result, "build_s"):
        result["rows"] = build(spark, lake, args.events, args.days)
    day = START + dt.timedelta(days=args.days - 1)
    metrics = StageResult()
    with timed(result, "evaluate_s"):
        ev = evaluate_day(lake, EvaluationSettings.of(config), day, metrics,
                          CommitKey("bench-evaluate", day), simulate=False)
    result["evaluate_parts_s"] = {r["name"]: round(r["value"], 2) for r in metrics.figures
                                  if r["name"].startswith("seconds.")}
    result["business"] = ev.business
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    sql = DUCK_SQL.format(ev=lake.location("silver.events"), imp=lake.location("silver.impressions"),
                          ses=lake.location("silver.sessions"), day=day, prev=day - dt.timedelta(days=1))
    with timed(result, "duckdb_s"):
        duck = con.execute(sql).fetchone()
    result["duckdb"] = dict(zip(["dau", "retention_d1", "ctr", "engagement_rate", "time_spent"], duck))
    result["ratio_evaluate_vs_duckdb"] = round(result["evaluate_s"] / max(result["duckdb_s"], 1e-9), 1)
    with timed(result, "simulator_s"):
        result["simulator"] = simulator_speed(args.sim_users)
    result["load_after"] = os.getloadavg()
    print(f"events {args.events:,}: build {result['build_s']}s, evaluate {result['evaluate_s']}s "
          f"({result['evaluate_parts_s']}), DuckDB shared metrics {result['duckdb_s']}s, "
          f"ratio {result['ratio_evaluate_vs_duckdb']}x")
    print(f"  foryou: dau {ev.business.get('dau')}, d1 {ev.business.get('retention_d1')}, "
          f"ctr {ev.business.get('ctr')}; duckdb: {result['duckdb']}")
    print(f"  simulator: {result['simulator']}")
    print(f"  load average before {result['load_before']}, after {result['load_after']}")
    save("evaluate", result)


if __name__ == "__main__":
    main()
