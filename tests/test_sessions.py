"""Sessionization: gap invariants, midnight, idempotent re-runs, incremental = full, a hot user."""
from __future__ import annotations

import datetime as dt
import random
import time

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.lake import Lake
from foryou.sessions.daily import sessions_for_day
from foryou.sessions.sessionize import (
    ENGAGEMENT_TYPES,
    SESSION_SCHEMA,
    chunked_events,
    sessionize,
)

GAP = dt.timedelta(minutes=30)
DAY1 = dt.date(2024, 5, 1)
SCHEMA = "event_id string, user_id string, event_ts timestamp, event_type string, watch_ms long"
SESSION_COLS = [f.name for f in SESSION_SCHEMA.fields]


@pytest.fixture(autouse=True)
def utc_wall_clock(monkeypatch):
    """Naive datetimes here are UTC wall clock, whatever the machine's zone.

    PySpark converts naive datetimes (to Spark and back) with the Python process's local
    zone, while the session zone is UTC: pin the process zone so midnight means UTC midnight.
    """
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def silver(spark, rows):
    """A silver.events frame from (event_id, user_id, event_ts, event_type, watch_ms) tuples."""
    return (spark.createDataFrame(rows, SCHEMA)
            .withColumn("ingest_id", F.lit("test"))
            .withColumn("source", F.lit("native"))
            .withColumn("event_date", F.to_date("event_ts")))


def random_events(n_users: int, days: list[dt.date], seed: int) -> list[tuple]:
    """Events with gaps on both sides of the threshold, and sessions crossing midnight."""
    rng = random.Random(seed)
    rows = []
    for u in range(n_users):
        ts = dt.datetime.combine(days[0], dt.time()) + dt.timedelta(minutes=rng.randint(0, 600))
        end = dt.datetime.combine(days[-1], dt.time(23, 59))
        if u % 5 == 0:
            # Starts shortly before each midnight and keeps going past it.
            ts = dt.datetime.combine(days[0], dt.time(23, 40))
        while ts <= end:
            etype = rng.choice(["view", "view", "like", "impression", "skip", "share"])
            rows.append((f"e{u}-{len(rows)}", f"u{u}", ts, etype,
                         rng.randint(0, 60_000) if etype == "view" else None))
            step = rng.choice([1, 5, 29, 30, 31, 90, 400]) if u % 5 else rng.choice([5, 20, 29])
            ts += dt.timedelta(minutes=step, seconds=rng.choice([0, 0, 1]) if step >= 29 else 0)
    return rows


def reference_sessions(rows: list[tuple], gap: dt.timedelta = GAP) -> dict[tuple, tuple]:
    """The textbook definition in plain Python: (user, start) -> (end, events, views, watch, eng)."""
    out: dict[tuple, list] = {}
    by_user: dict[str, list] = {}
    for _, user, ts, etype, watch in rows:
        by_user.setdefault(user, []).append((ts, etype, watch))
    for user, evs in by_user.items():
        evs.sort(key=lambda e: e[0])
        current = None
        prev = None
        for ts, etype, watch in evs:
            if prev is None or ts - prev > gap:
                current = [ts, ts, 0, 0, 0, 0]
                out[(user, ts)] = current
            current[1] = ts
            current[2] += 1
            current[3] += etype == "view"
            current[4] += (watch or 0) if etype == "view" else 0
            current[5] += etype in ENGAGEMENT_TYPES
            prev = ts
    return {k: tuple(v[1:]) for k, v in out.items()}


def as_dict(df) -> dict[tuple, tuple]:
    return {(r.user_id, r.session_start): (r.session_end, r.events, r.views, r.watch_ms, r.engagements)
            for r in df.collect()}


def run_job(config, day: dt.date, *extra: str) -> int:
    return foryou(["sessionize", "--run-date", str(day), "--set", f"lake.root={config.lake.root}",
                   *extra])


def table_rows(lake: Lake) -> set[tuple]:
    return {tuple(r) for r in lake.read("silver.sessions").select(*SESSION_COLS).collect()}


def test_sessions_match_the_definition_and_respect_the_gap(spark):
    rows = random_events(40, [DAY1, DAY1 + dt.timedelta(days=1)], seed=1)
    got = sessionize(silver(spark, rows), gap_minutes=30, chunk_minutes=60, partitions=4).collect()
    assert {(r.user_id, r.session_start): (r.session_end, r.events, r.views, r.watch_ms, r.engagements)
            for r in got} == reference_sessions(rows)

    # Invariants, checked against the events themselves.
    sessions = sorted((r.user_id, r.session_start, r.session_end) for r in got)
    events_by_user: dict[str, list] = {}
    for _, user, ts, _, _ in rows:
        events_by_user.setdefault(user, []).append(ts)
    for user, start, end in sessions:
        inside = sorted(t for t in events_by_user[user] if start <= t <= end)
        assert inside[0] == start and inside[-1] == end
        assert all(b - a <= GAP for a, b in zip(inside, inside[1:])), (user, start)
    for (u1, _, end1), (u2, start2, _) in zip(sessions, sessions[1:]):
        if u1 == u2:
            assert start2 - end1 > GAP, (u1, end1, start2)
    ids = [r.session_id for r in got]
    assert len(ids) == len(set(ids))
    assert sum(r.events for r in got) == len(rows)
    assert all(r.session_date == r.session_start.date() for r in got)
    assert all(r.duration_s == (r.session_end - r.session_start).total_seconds() for r in got)


def test_session_crossing_midnight_is_one_session(spark, config):
    day2 = DAY1 + dt.timedelta(days=1)
    late = dt.datetime.combine(DAY1, dt.time(23, 50))
    rows = [("a1", "u1", late, "view", 1000),
            ("a2", "u1", late + dt.timedelta(minutes=20), "like", None),      # 00:10 on day 2
            ("a3", "u1", late + dt.timedelta(minutes=45), "view", 2000),      # 00:35
            ("a4", "u1", late + dt.timedelta(minutes=120), "view", 500),      # 01:50: new session
            ("b1", "u2", late - dt.timedelta(hours=3), "view", 10)]
    lake = Lake(spark, config)
    lake.append("silver.events", silver(spark, rows))
    assert run_job(config, DAY1) == 0
    assert run_job(config, day2) == 0
    sessions = lake.read("silver.sessions").where("user_id = 'u1'").orderBy("session_start").collect()
    assert [(s.session_date, s.events, s.watch_ms, s.engagements) for s in sessions] == [
        (DAY1, 3, 3000, 1), (day2, 1, 500, 0)]
    assert sessions[0].session_end == late + dt.timedelta(minutes=45)
    assert sessions[0].duration_s == 45 * 60
    assert lake.read("silver.sessions").count() == 3
    metrics = {r.name: r.value for r in lake.read("gold.metrics").where("stage = 'sessionize'")
               .where(F.col("run_date") == day2).collect()}
    assert metrics["open_sessions_restitched"] == 1


def test_rerunning_a_day_changes_nothing(spark, config, capsys):
    rows = random_events(10, [DAY1], seed=2)
    lake = Lake(spark, config)
    lake.append("silver.events", silver(spark, rows))
    assert run_job(config, DAY1) == 0
    version, before = lake.version("silver.sessions"), table_rows(lake)
    assert run_job(config, DAY1) == 0
    assert "already committed" in capsys.readouterr().out
    assert lake.version("silver.sessions") == version
    assert run_job(config, DAY1, "--force") == 0
    assert lake.version("silver.sessions") == version + 1
    assert table_rows(lake) == before


def test_incremental_runs_equal_one_full_run(spark, config):
    days = [DAY1 + dt.timedelta(days=k) for k in range(3)]
    rows = random_events(25, days, seed=3)
    # A user active around the clock: one session spanning all three days.
    start = dt.datetime.combine(days[0], dt.time(22))
    rows += [(f"bot{k}", "bot", start + dt.timedelta(minutes=20 * k), "view", 100) for k in range(150)]
    lake = Lake(spark, config)
    lake.append("silver.events", silver(spark, rows))
    for day in days:
        assert run_job(config, day) == 0
    full = sessionize(silver(spark, rows), gap_minutes=30)
    assert table_rows(lake) == {tuple(r) for r in full.select(*SESSION_COLS).collect()}
    assert as_dict(lake.read("silver.sessions")) == reference_sessions(rows)
    bot = lake.read("silver.sessions").where("user_id = 'bot'").collect()
    assert len(bot) == 1 and bot[0].events == 150 and bot[0].session_date == days[0]

    # An out-of-order re-run of the first day never shortens what later days extended.
    everything = table_rows(lake)
    assert run_job(config, days[0], "--force") == 0
    assert table_rows(lake) == everything

    # Late events reopening the first day: one pass from it gives the same table.
    frame, plan = sessions_for_day(lake, days[-1], config.sessions, first=days[0])
    assert plan.days == days
    assert {tuple(r) for r in frame.select(*SESSION_COLS).collect()} == everything


def naive_sessions(events, gap_minutes: int):
    """The unskewed textbook computation: LAG over each user's events (one task per user)."""
    w = Window.partitionBy("user_id").orderBy("event_ts")
    prev = F.lag(F.unix_micros("event_ts")).over(w)
    flagged = events.withColumn(
        "new", F.when(prev.isNull() | (F.unix_micros("event_ts") - prev > gap_minutes * 60_000_000), 1)
        .otherwise(0))
    seq = flagged.withColumn("seq", F.sum("new").over(w.rowsBetween(Window.unboundedPreceding, 0)))
    return seq.groupBy("user_id", "seq").agg(
        F.min("event_ts").alias("session_start"), F.max("event_ts").alias("session_end"),
        F.count(F.lit(1)).alias("events"),
        F.sum(F.when(F.col("event_type") == "view", F.coalesce("watch_ms", F.lit(0))).otherwise(0))
        .alias("watch_ms"))


def test_hot_user_is_spread_over_tasks_and_gives_the_same_sessions(spark):
    base = int(dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc).timestamp())
    # 200k events of one bot over a day (every 0.43 s, with a 45-minute pause every 5 hours),
    # plus 2,000 normal users with 20 events each.
    bot = spark.range(200_000).select(
        F.lit("bot").alias("user_id"),
        F.timestamp_seconds(F.lit(base) + F.col("id") * 0.43
                            + F.floor(F.col("id") / 41_860) * 2700).alias("event_ts"),
        F.lit("view").alias("event_type"), F.lit(7).cast("long").alias("watch_ms"))
    users = spark.range(40_000).select(
        F.concat(F.lit("u"), (F.col("id") % 2000).cast("string")).alias("user_id"),
        F.timestamp_seconds(F.lit(base) + F.floor(F.col("id") / 2000) * 1500
                            + (F.col("id") % 2000) * 7).alias("event_ts"),
        F.when(F.col("id") % 3 == 0, "like").otherwise("view").alias("event_type"),
        (F.col("id") % 1000).alias("watch_ms"))
    events = bot.unionByName(users)

    sizes = [r["count"] for r in chunked_events(events, chunk_minutes=60, partitions=8)
             .groupBy(F.spark_partition_id()).count().collect()]
    assert sum(sizes) == 240_000
    assert max(sizes) < 0.25 * sum(sizes), sizes
    # The unskewed computation puts the whole bot in one task.
    naive_sizes = [r["count"] for r in events.repartition(8, "user_id")
                   .groupBy(F.spark_partition_id()).count().collect()]
    assert max(naive_sizes) > 0.8 * sum(naive_sizes)

    got = sessionize(events, gap_minutes=30, chunk_minutes=60, partitions=8)
    cols = ["user_id", "session_start", "session_end", "events", "watch_ms"]
    want = naive_sessions(events, 30).select(*cols)
    # One job: each session counted +1 from ours, -1 from the naive one; all must cancel.
    both = got.select(*cols, F.lit(1).alias("side")).unionByName(
        want.select(*cols, F.lit(-1).alias("side")))
    diff = both.groupBy(*cols).agg(F.sum("side").alias("n")).where("n != 0")
    assert diff.count() == 0
    bot_sessions = got.where("user_id = 'bot'").orderBy("session_start").collect()
    assert [s.events for s in bot_sessions] == [41_860] * 4 + [200_000 - 4 * 41_860]


def test_bad_settings_are_refused(spark):
    with pytest.raises(ValueError, match="gap_minutes=0"):
        sessionize(silver(spark, []), gap_minutes=0)
