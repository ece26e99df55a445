"""silver.impressions: one row per served item, KuaiRand labels, attribution, interactions."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.lake import Lake

DAY = dt.date(2024, 5, 1)
T = dt.datetime(2024, 5, 1, 10, 0)
EVENTS = ("event_id string, event_type string, user_id string, event_ts timestamp, "
          "content_id string, creator_id string, request_id string, position int, "
          "watch_ms long, source string")
CONTENT = "content_id string, creator_id string, duration_ms long"


@pytest.fixture(autouse=True)
def utc_wall_clock(monkeypatch):
    """Naive datetimes here are UTC wall clock, whatever the machine's zone.

    PySpark converts a naive datetime with the Python process's local zone, while the session
    zone is UTC: pin the process zone so ``event_date`` and the round trip mean UTC.
    """
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def at(minutes: float) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def ev(eid, etype, user, ts, content=None, creator=None, request=None, position=None,
       watch=None, source="native"):
    return (eid, etype, user, ts, content, creator, request, position, watch, source)


def write_events(spark, lake, rows) -> None:
    df = (spark.createDataFrame(rows, EVENTS)
          .withColumn("ingest_id", F.lit("test"))
          .withColumn("device_type", F.lit("phone"))
          .withColumn("event_date", F.to_date("event_ts")))
    lake.append("silver.events", df)


def run_job(config, *extra: str) -> int:
    return foryou(["impressions", "--run-date", str(DAY), "--set", f"lake.root={config.lake.root}",
                   *extra])


HAND_BUILT = [
    # Request r1 shows c1 (20 s long) at position 0 and c2 (duration unknown) at position 1.
    ev("i1", "impression", "u1", at(0), "c1", "cr1", "r1", 0),
    ev("i1-dup", "impression", "u1", at(0.5), "c1", "cr1", "r1", 0),      # same key: dropped
    ev("i2", "impression", "u1", at(0), "c2", None, "r1", 1),
    ev("v1", "view", "u1", at(0.1), "c1", watch=12_000),
    ev("v2", "view", "u1", at(1), "c1", request="r1", watch=10_000),
    ev("l1", "like", "u1", at(2), "c1"),
    ev("f1", "follow", "u1", at(3), creator="cr1"),                     # on the creator's profile
    ev("cv", "complete_view", "u1", at(3.5), "c1"),
    ev("s1", "skip", "u1", at(0.05), "c2"),
    ev("v3", "view", "u1", at(0.06), "c2", watch=0),                    # not a valid play
    ev("late", "like", "u1", at(45), "c2"),                             # outside the 30 min window
    ev("other", "share", "u2", at(1), "c1"),                            # another user
    ev("wrongreq", "hide", "u1", at(4), "c1", request="r9"),            # another request
    # Request r2 shows c1 again later: outcomes after it are r2's, not r1's.
    ev("i3", "impression", "u1", at(10), "c1", "cr1", "r2", 3),
    ev("sh", "share", "u1", at(12), "c1"),
    ev("v4", "view", "u1", at(12.5), "c1", watch=5_000),
    # Shown at 23:50, watched after midnight (the next day's partition).
    ev("i4", "impression", "u3", dt.datetime(2024, 5, 1, 23, 50), "c2", None, "r3", 0),
    ev("v5", "view", "u3", dt.datetime(2024, 5, 2, 0, 5), "c2", watch=19_000),
    # Broken impression: no request_id.
    ev("bad", "impression", "u1", at(20), "c1", None, None, 2),
    # A log without impressions (generic interactions adapter).
    ev("x1", "view", "u9", at(0), "c1", watch=30_000, source="interactions"),
    ev("x2", "like", "u9", at(0.5), "c1", source="interactions"),
    ev("x3", "view", "u9", at(5), "c2", watch=1_000, source="interactions"),
]


def test_labels_on_a_hand_built_case(spark, config, capsys):
    lake = Lake(spark, config)
    write_events(spark, lake, HAND_BUILT)
    lake.overwrite("silver.content", spark.createDataFrame(
        [("c1", "cr1", 20_000)], CONTENT).withColumn("updated_at", F.current_timestamp()))
    assert run_job(config) == 0
    out = capsys.readouterr().out
    assert "6 impression events = 4 rows + 1 duplicates + 1 quarantined; 2 interaction rows" in out

    table = lake.read("silver.impressions")
    keys = table.groupBy("request_id", "position").count()
    assert keys.where("count > 1").count() == 0
    rows = {(r.request_id, r.position): r for r in table.collect()}
    assert len(rows) == 6

    r1c1 = rows[("r1", 0)]
    assert (r1c1.click, r1c1.watch_ms, r1c1.long_view, r1c1.complete) == (1, 22_000, 1, 1)
    assert r1c1.watch_ratio == 22_000 / 20_000 and r1c1.duration_ms == 20_000
    assert (r1c1.like, r1c1.follow, r1c1.share, r1c1.hide, r1c1.skip) == (1, 1, 0, 0, 0)
    assert r1c1.event_ts == at(0) and r1c1.has_impressions and r1c1.device_type == "phone"

    r1c2 = rows[("r1", 1)]
    assert (r1c2.click, r1c2.watch_ms, r1c2.skip, r1c2.like, r1c2.long_view) == (0, 0, 1, 0, 0)
    assert r1c2.watch_ratio is None and r1c2.duration_ms is None

    r2 = rows[("r2", 3)]
    # 5 s of a 20 s video is a play, but not a valid one (KuaiRand: more than 7 s).
    assert (r2.share, r2.click, r2.watch_ms, r2.like, r2.long_view, r2.complete) == (1, 0, 5_000, 0, 0, 0)

    night = rows[("r3", 0)]
    assert (night.click, night.watch_ms, night.long_view) == (1, 19_000, 1)
    assert night.event_date == DAY

    inter = rows[("interaction:x1", 0)]
    assert not inter.has_impressions and inter.source == "interactions"
    assert (inter.click, inter.watch_ms, inter.like, inter.long_view) == (1, 30_000, 1, 1)
    # An interaction log's view is a positive, however short.
    assert (rows[("interaction:x3", 0)].like, rows[("interaction:x3", 0)].click) == (0, 1)

    bad = lake.read("bronze.quarantine").collect()
    assert [(b.reason, b.rejected_by, b.user_id) for b in bad] == [
        ("impression event without request_id", "impressions", "u1")]
    metrics = {r.name: r.value for r in lake.read("gold.metrics").where("stage = 'impressions'").collect()}
    assert metrics["impressions.impression_events"] == (metrics["impressions.served_rows"]
                                                        + metrics["impressions.duplicates"]
                                                        + metrics["impressions.quarantined"])


def test_rerun_is_idempotent_and_fixed_threshold_without_content(spark, config, capsys):
    lake = Lake(spark, config)
    write_events(spark, lake, HAND_BUILT)
    assert run_job(config) == 0
    version = lake.version("silver.impressions")
    before = sorted(tuple(r) for r in lake.read("silver.impressions").collect())
    # Without silver.content, long_view is watch_ms >= 18 s and complete needs the event;
    # the follow still matches through the creator the impression event names.
    r1c1 = lake.read("silver.impressions").where("request_id = 'r1' AND position = 0").first()
    assert (r1c1.long_view, r1c1.complete, r1c1.watch_ratio, r1c1.follow) == (1, 1, None, 1)

    assert run_job(config) == 0
    assert "already committed" in capsys.readouterr().out
    assert lake.version("silver.impressions") == version
    assert run_job(config, "--force") == 0
    assert lake.version("silver.impressions") == version + 1
    assert sorted(tuple(r) for r in lake.read("silver.impressions").collect()) == before
    assert lake.read("bronze.quarantine").count() == 1


def test_valid_play_follows_kuairand_rule(spark):
    from foryou.impressions.labels import VIEW_IS_CLICK_SOURCES, valid_play
    from foryou.ingest import interactions, kuairand

    # The KuaiRand adapter emits a view exactly for is_click = 1: its views are the label (1:1).
    assert kuairand.SOURCE in VIEW_IS_CLICK_SOURCES and "native" not in VIEW_IS_CLICK_SOURCES
    assert interactions.SOURCE in VIEW_IS_CLICK_SOURCES

    rows = [  # watch, duration, viewed, view_is_click, expected
        (7_000, 7_000, True, False, 1), (6_999, 7_000, True, False, 0),
        (5_000, 5_000, True, False, 1), (4_999, 5_000, True, False, 0),
        (7_000, 30_000, True, False, 0), (7_001, 30_000, True, False, 1),
        (7_001, None, True, False, 1), (7_000, None, True, False, 0),
        (0, 30_000, True, True, 1),          # KuaiRand is_click / interaction log: the view is it
        (9_000, 30_000, False, False, 0),    # no view, no play
    ]
    df = spark.createDataFrame(rows, "w long, d long, v boolean, k boolean, want int")
    got = df.select(valid_play(F.col("w"), F.col("d"), F.col("v"), F.col("k")).cast("int").alias("c"),
                    "want").collect()
    assert [r.c for r in got] == [r.want for r in got]


LABELS = ("click", "long_view", "complete", "skip", "like", "follow", "share", "comment", "hide",
          "report", "replay")


def test_silver_labels_agree_with_the_world_truth(spark, gold_world, tmp_path):
    """Every label of every served row equals the world's realised label, bar dirty records.

    Residuals, each explained here: impressions the pipeline never saw (their own record is
    dirty: cut off, missing a field, late...; or they happened after the last run date, as
    the world's last local day runs past UTC midnight), and rows whose outcome event is dirty:
    a view whose watch_ms was made negative or absurd (quarantined, so the play is lost), an
    outcome record that is cut off, missing a field, of the wrong type or unknown type, dated
    years ahead or arriving after the last run date (late, or just after its midnight), or written "yyyy/MM/dd HH:mm:ss" (second
    precision, so it may read as before its impression). Harmless kinds (exact and re-sent
    duplicates) explain nothing.
    """
    config, lake = gold_world.copy(tmp_path)
    silver = lake.read("silver.impressions").where("has_impressions")
    truth = spark.read.parquet(str(gold_world.truth / "impressions"))
    dirty = spark.read.parquet(str(gold_world.truth / "dirty"))
    t = truth.select("request_id", "position", "user_id", "event_id", "event_ts",
                     *[F.col(c).alias(f"t_{c}") for c in LABELS], F.col("watch_ms").alias("t_watch_ms"))
    s = silver.select("request_id", "position", *LABELS, "watch_ms")
    both = s.join(t, ["request_id", "position"], "full_outer").cache()
    try:
        n_truth = truth.count()
        assert n_truth > 1_000
        # Every silver row is a served item of the world.
        assert both.where(F.col("t_click").isNull()).count() == 0
        # Served items missing from silver: their impression is dirty, or after the last day.
        last = max(gold_world.dates)
        missing = both.where(F.col("click").isNull())
        lost = missing.join(dirty.select("event_id"), "event_id", "left_anti").where(
            F.to_date("event_ts") <= F.lit(last))
        assert lost.count() == 0, lost.limit(5).collect()
        assert missing.count() <= 0.05 * n_truth

        differs = F.lit(False)
        for c in (*LABELS, "watch_ms"):
            differs = differs | (F.col(c) != F.col(f"t_{c}"))
        matched = both.where(F.col("click").isNotNull())
        bad = matched.where(differs)
        n_bad, n_matched = bad.count(), matched.count()
        # Rates are the world's: click ~44%, not the ~98% of "any play is a click".
        rates = matched.agg(F.avg("click").alias("s"), F.avg("t_click").alias("t")).first()
        assert abs(rates.s - rates.t) < 0.01 and 0.2 < rates.t < 0.7, rates
        # At most about one row per dirty outcome record (2% of events are dirty).
        assert n_bad <= 0.05 * n_matched, (n_bad, n_matched)
        harmful = dirty.where(~F.col("kind").isin("exact_duplicate", "resent_duplicate")
                              & (F.col("event_type") != "impression")).select(
            F.col("user_id").alias("d_user"), F.col("event_ts").alias("d_ts"))
        window = F.expr("INTERVAL 31 MINUTES")
        explained = bad.join(harmful, (F.col("d_user") == F.col("user_id"))
                             & (F.col("d_ts") >= F.col("event_ts"))
                             & (F.col("d_ts") <= F.col("event_ts") + window), "left_semi")
        unexplained = bad.join(explained.select("request_id", "position"),
                               ["request_id", "position"], "left_anti")
        # Outcomes after the last run date's midnight arrive after it, so never: its last
        # half hour's rows may miss them.
        cutoff = (dt.datetime.combine(last + dt.timedelta(days=1), dt.time(),
                                      tzinfo=dt.timezone.utc) - dt.timedelta(minutes=31))
        unexplained = unexplained.where(
            F.col("event_ts") < F.timestamp_seconds(F.lit(int(cutoff.timestamp()))))
        assert unexplained.count() == 0, unexplained.limit(5).collect()
    finally:
        both.unpersist()
