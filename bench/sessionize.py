"""Sessionization: foryou's distributed Spark cut vs DuckDB on the same Parquet events.

    python bench/sessionize.py [--events 10000000] [--scaling 1000000,5000000,20000000] [--repeat 2]

Generates silver-like events with ``spark.range`` (64-hex pseudonymised user ids, sessions of
5-40 events 10-100 s apart, sessions 1-6 h apart, a mix of event types, watch time on
views) as Parquet partitioned by event_date. Then, from that same input and with the same
semantics (a gap of more than 30 minutes starts a session), it times

* Spark ``local[2]``: ``foryou.sessions.sessionize`` (shuffle by user and hour chunk, one
  vectorised numpy pass per task, stitch), output written as Parquet;
* DuckDB (2 threads): LAG window + gap flag + cumulative sum + GROUP BY, ``COPY`` to Parquet;

checks both find the same number of sessions, events and total watch time, prints events/s
and the ratio (target: Spark <= 3x DuckDB), and a scaling table (time per event, peak
RSS of the driver's Python process and of the driver JVM; DuckDB runs in a child process
so it does not count). The machine's load average is recorded: on a shared 2-CPU machine
both engines slow down under other work, so compare the ratio, not absolute times. The result goes to bench/results/sessionize.json.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from common import save, session, timed  # noqa: E402
from foryou.sessions.sessionize import sessionize  # noqa: E402

GAP_MINUTES = 30
BASE_TS = 1714521600  # 2024-05-01 00:00 UTC
EVENTS_PER_USER = 100
TARGET = 3.0

DUCKDB_SQL = f"""
WITH flagged AS (
  SELECT user_id, event_ts,
         CASE WHEN event_type = 'view' THEN coalesce(watch_ms, 0) ELSE 0 END AS w,
         CASE WHEN event_type = 'view' THEN 1 ELSE 0 END AS v,
         CASE WHEN event_type IN ('like', 'comment', 'share', 'follow', 'save') THEN 1 ELSE 0 END AS e,
         CASE WHEN lag(event_ts) OVER (PARTITION BY user_id ORDER BY event_ts) IS NULL
                OR event_ts - lag(event_ts) OVER (PARTITION BY user_id ORDER BY event_ts)
                   > INTERVAL {GAP_MINUTES} MINUTE
              THEN 1 ELSE 0 END AS new_session
  FROM read_parquet('{{path}}/**/*.parquet', hive_partitioning = true)
), numbered AS (
  SELECT *, sum(new_session) OVER (PARTITION BY user_id ORDER BY event_ts
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seq
  FROM flagged
)
SELECT user_id, min(event_ts) AS session_start, max(event_ts) AS session_end,
       count(*) AS events, sum(v) AS views, sum(w) AS watch_ms, sum(e) AS engagements
FROM numbered GROUP BY user_id, seq
"""


def generate(spark, events: int, path: str) -> None:
    """``events`` silver-like events over ``events / 100`` users, as Parquet by event_date."""
    users = max(1, events // EVENTS_PER_USER)
    uid = F.col("id") % users
    k = (F.col("id") / users).cast("long")                      # the user's k-th event
    per_session = F.abs(F.xxhash64(uid)) % 36 + 5                 # 5..40 events a session
    step_s = F.abs(F.xxhash64(uid, F.lit(1))) % 91 + 10          # 10..100 s between events
    period_s = (F.abs(F.xxhash64(uid, F.lit(2))) % 6 + 1) * 3600  # a session every 1..6 h
    offset_s = F.abs(F.xxhash64(uid, F.lit(3))) % 86_400
    jitter_s = F.abs(F.xxhash64(F.col("id"))) % 10
    ts = (F.lit(BASE_TS) + offset_s + (k / per_session).cast("long") * period_s
          + (k % per_session) * step_s + jitter_s)
    kind = F.abs(F.xxhash64(F.col("id"), F.lit(4))) % 20
    event_type = (F.when(kind < 8, "view").when(kind < 14, "impression").when(kind < 16, "like")
                  .when(kind < 17, "share").when(kind < 18, "comment").when(kind < 19, "skip")
                  .otherwise("save"))
    df = spark.range(events).select(
        F.concat(F.lit("e"), F.col("id").cast("string")).alias("event_id"),
        event_type.alias("event_type"),
        # 64 lowercase hex digits like the HMAC-SHA256 pseudonyms of silver (cheaper than sha2).
        F.lower(F.concat(*[F.lpad(F.hex(F.xxhash64(uid, F.lit(10 + i))), 16, "0")
                           for i in range(4)])).alias("user_id"),
        F.timestamp_seconds(ts).alias("event_ts"),
        F.concat(F.lit("c"), (F.abs(F.xxhash64(F.col("id"), F.lit(5))) % 50_000).cast("string"))
        .alias("content_id"),
        F.when(kind < 8, F.abs(F.xxhash64(F.col("id"), F.lit(6))) % 60_000).alias("watch_ms"),
        F.lit("bench").alias("ingest_id"), F.lit("native").alias("source"),
    ).withColumn("event_date", F.to_date("event_ts"))
    df.write.mode("overwrite").partitionBy("event_date").parquet(path)


def jvm_rss_mb(spark) -> float:
    """Peak resident memory of the driver JVM (VmHWM), in MiB."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def python_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_spark(spark, src: str, out: str) -> None:
    sessionize(spark.read.parquet(src), GAP_MINUTES).write.mode("overwrite").parquet(out)


def run_duckdb(src: str, out: str) -> float:
    """DuckDB's run in a child process (so the driver's RSS is Spark's alone); its seconds."""
    code = (
        "import duckdb, sys, time\n"
        "t = time.perf_counter()\n"
        "con = duckdb.connect()\n"
        "con.execute('SET threads = 2')\n"
        "con.execute(\"SET TimeZone = 'UTC'\")\n"
        "con.execute(sys.argv[1])\n"
        "con.close()\n"
        "print(time.perf_counter() - t)\n"
    )
    sql = f"COPY ({DUCKDB_SQL.format(path=src)}) TO '{out}' (FORMAT parquet)"
    done = subprocess.run([sys.executable, "-c", code, sql], check=True, capture_output=True,
                          text=True)
    return float(done.stdout.strip().splitlines()[-1])


def totals_spark(spark, out: str) -> tuple[int, int, int]:
    r = spark.read.parquet(out).agg(F.count(F.lit(1)), F.sum("events"), F.sum("watch_ms")).first()
    return int(r[0]), int(r[1]), int(r[2])


def totals_duckdb(out: str) -> tuple[int, int, int]:
    con = duckdb.connect()
    r = con.execute(f"SELECT count(*), sum(events), sum(watch_ms) FROM '{out}'").fetchone()
    con.close()
    return int(r[0]), int(r[1]), int(r[2])


def measure(spark, work: Path, events: int, repeat: int, with_duckdb: bool) -> dict:
    src = str(work / f"events_{events}")
    t0 = time.perf_counter()
    generate(spark, events, src)
    gen_s = time.perf_counter() - t0
    spark_runs, duck_runs = [], []
    for i in range(repeat):
        t: dict = {}
        with timed(t, "s"):
            run_spark(spark, src, str(work / "spark_out"))
        spark_runs.append(t["s"])
        if with_duckdb:
            t["d"] = round(run_duckdb(src, str(work / "duck_out.parquet")), 3)
            duck_runs.append(t["d"])
        print(f"  {events:,} events, run {i + 1}: spark {t['s']:.2f}s"
              + (f", duckdb {t['d']:.2f}s" if with_duckdb else ""), flush=True)
    row = {"events": events, "generate_s": round(gen_s, 2), "spark_runs_s": spark_runs,
           "spark_s": min(spark_runs), "spark_events_per_s": round(events / min(spark_runs)),
           "spark_us_per_event": round(min(spark_runs) / events * 1e6, 3),
           "python_rss_mb": round(python_rss_mb(), 1), "jvm_rss_mb": round(jvm_rss_mb(spark), 1)}
    s_tot = totals_spark(spark, str(work / "spark_out"))
    row.update(sessions=s_tot[0], total_events=s_tot[1], total_watch_ms=s_tot[2])
    if with_duckdb:
        d_tot = totals_duckdb(str(work / "duck_out.parquet"))
        if d_tot != s_tot:
            raise SystemExit(f"MISMATCH at {events:,} events: spark (sessions, events, watch_ms)"
                             f"={s_tot}, duckdb={d_tot}")
        row.update(duckdb_runs_s=duck_runs, duckdb_s=min(duck_runs),
                   duckdb_events_per_s=round(events / min(duck_runs)),
                   ratio=round(min(spark_runs) / min(duck_runs), 2))
    shutil.rmtree(src, ignore_errors=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--scaling", default="1000000,5000000,20000000",
                        help="comma-separated event counts for the scaling table ('' for none)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="foryou-bench-sessions-"))
    config, spark = session(extra=[f"lake.root={work / 'lake'}"])
    try:
        # The Spark-only scaling rows first: driver RSS is a high-water mark.
        scaling = [measure(spark, work, n, 1, with_duckdb=False)
                   for n in sorted(int(x) for x in args.scaling.split(",") if x.strip())]
        main_row = measure(spark, work, args.events, args.repeat, with_duckdb=True)
        print(f"\n{args.events:,} events, {main_row['sessions']:,} sessions, "
              f"{main_row['total_watch_ms']:,} ms watched (Spark and DuckDB agree)")
        print(f"Spark {spark.sparkContext.master}: {main_row['spark_s']:.2f}s "
              f"({main_row['spark_events_per_s']:,} events/s)")
        print(f"DuckDB 2 threads: {main_row['duckdb_s']:.2f}s "
              f"({main_row['duckdb_events_per_s']:,} events/s)")
        print(f"Spark / DuckDB = {main_row['ratio']:.2f}x (target <= {TARGET}x): "
              f"{'MET' if main_row['ratio'] <= TARGET else 'MISSED'}")
        scaling.append(main_row)
        print("\nscaling (Spark):  events   s   us/event   python RSS MiB   JVM RSS MiB")
        for r in sorted(scaling, key=lambda r: r["events"]):
            print(f"  {r['events']:>12,} {r['spark_s']:7.2f} {r['spark_us_per_event']:8.3f} "
                  f"{r['python_rss_mb']:12.0f} {r['jvm_rss_mb']:12.0f}")
        print(f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save("sessionize", {"gap_minutes": GAP_MINUTES, "master": spark.sparkContext.master,
                        "events": args.events, "target": TARGET,
                        "load_average_1m": round(os.getloadavg()[0], 2), **{k: v for k, v in main_row.items()
                                                                     if k != "events"},
                        "scaling": sorted(scaling, key=lambda r: r["events"])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
