"""The synthetic world end to end: generate, ingest, clean, impressions, sessionize.

One run of the pipeline runner over a tiny world, with a failure injected half-way (another
writer holds silver.impressions), then the resumed run, then a re-run that commits nothing.
"""
from __future__ import annotations

import datetime as dt
import os

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.config import load_config
from foryou.lake import Lake
from foryou.lake.locks import table_lock
from foryou.world import preset

RUN_DATE = "2024-05-01"
STAGES = ["generate", "ingest", "clean", "impressions", "sessionize"]


@pytest.fixture(scope="module")
def world_args(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("e2e")
    world = preset("tiny", days=1).model_dump(mode="json")
    world.pop("kuairand_dir")
    args = ["--set", f"lake.root={root / 'lake'}", "--set", f"ingest.path={root / 'raw'}",
            "--set", "lake.lock_timeout_s=2"]
    for key, value in world.items():
        args += ["--set", f"world.{key}={value}"]
    return args


@pytest.mark.slow
def test_pipeline_runs_resumes_after_a_failure_and_reruns_idempotently(spark, world_args, capsys):
    config = load_config(overrides=[a for a in world_args if a != "--set"])
    lake = Lake(spark, config)
    pipeline = ["pipeline", "--synthetic", "--run-date", RUN_DATE, "--until", "sessionize", *world_args]

    # Another writer holds silver.impressions: that stage fails, the earlier ones commit.
    lock = os.path.join(config.lake.root, "_locks", "silver.impressions.lock")
    with table_lock(lock, "silver.impressions", 5):
        assert foryou(pipeline) != 0
    out = capsys.readouterr().out
    assert "impressions       FAILED" in out and "resumes at this stage" in out
    assert lake.version("silver.events") is not None and lake.version("silver.sessions") is None

    # The next run resumes at the failed stage.
    assert foryou(pipeline) == 0
    out = capsys.readouterr().out
    for stage in ("generate", "ingest", "clean"):
        assert f"{stage:<18}committed" in out
    for stage in ("impressions", "sessionize"):
        assert f"{stage:<18}done" in out

    # A re-run commits nothing anywhere.
    versions = {t: lake.version(t) for t in lake.tables() if lake.exists(t)}
    assert foryou(pipeline) == 0
    assert {t: lake.version(t) for t in versions} == versions

    _check_invariants(spark, lake)


def _check_invariants(spark, lake: Lake) -> None:
    events = lake.read("silver.events")
    # Exactly one row per event_id; user ids are pseudonyms, never raw.
    assert events.count() == events.select("event_id").distinct().count() > 1000
    assert events.where(~F.col("user_id").rlike("^[0-9a-f]{64}$")).count() == 0

    # Counts add up: input = accepted + quarantined + duplicates.
    metrics = {r["name"]: r["value"] for r in lake.read("gold.metrics")
               .where(F.col("stage") == "clean").collect()}
    assert metrics["silver.events.input"] == (metrics["silver.events.accepted"]
                                              + metrics["silver.events.quarantined"]
                                              + metrics["silver.events.duplicates"])
    assert metrics["silver.events.duplicates"] > 0  # the world sends duplicates

    # The world's dirty records were quarantined with reasons naming the field.
    quarantine = lake.read("bronze.quarantine")
    assert quarantine.count() > 0
    reasons = [r["reason"] for r in quarantine.select("reason").distinct().collect()]
    fields = lake.spec("bronze.events").schema.fieldNames()
    assert all(any(f in reason for f in fields) or "JSON" in reason for reason in reasons), reasons

    # Impressions: one row per served item.
    impressions = lake.read("silver.impressions")
    assert impressions.count() == impressions.select("request_id", "position").distinct().count() > 0

    # Sessions: no gap over 30 minutes inside one; consecutive sessions are further apart.
    sessions = lake.read("silver.sessions")
    assert sessions.count() > 0
    ordered = Window.partitionBy("user_id").orderBy("session_start")
    gaps = (sessions.withColumn("prev_end", F.lag("session_end").over(ordered))
            .where(F.col("prev_end").isNotNull())
            .select((F.col("session_start").cast("long") - F.col("prev_end").cast("long")).alias("gap")))
    assert gaps.where(F.col("gap") <= 30 * 60).count() == 0
    in_session = (events.alias("e").join(sessions.alias("s"), "user_id")
                  .where(F.col("e.event_ts").between(F.col("s.session_start"), F.col("s.session_end")))
                  .withColumn("prev", F.lag("e.event_ts").over(
                      Window.partitionBy("s.session_id").orderBy("e.event_ts")))
                  .where(F.col("prev").isNotNull())
                  .select((F.col("e.event_ts").cast("long") - F.col("prev").cast("long")).alias("gap")))
    assert in_session.where(F.col("gap") > 30 * 60).count() == 0
    assert sessions.where(F.col("session_date") != F.to_date("session_start")).count() == 0
    assert dt.date.fromisoformat(RUN_DATE) in {r[0] for r in sessions.select("session_date").distinct().collect()}
