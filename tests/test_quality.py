"""Great Expectations suites: outcomes stored per expectation, the threshold stops the job."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from foryou.config.settings import CleanSettings
from foryou.lake import Lake, table
from foryou.quality import expectations
from foryou.quality.expectations import (
    Check,
    QualityError,
    ValidationReport,
    check_batch,
    suite_checks,
)
from foryou.runtime import Metrics

from test_clean import D1, clean, event, write_bronze

UNIQUE = "expect_column_values_to_be_unique:event_id"
PSEUDONYM = "expect_column_values_to_match_regex:user_id"


def silver_rows(spark, rows):
    return spark.createDataFrame(rows, table("silver.events").schema)


def row(event_id, user_id="a" * 64, watch_ms=10):
    return {"event_id": event_id, "event_type": "view", "user_id": user_id,
            "event_ts": dt.datetime(2024, 5, 1, 10), "watch_ms": watch_ms, "ingest_id": "i",
            "source": "native", "event_date": dt.date(2024, 5, 1)}


def test_a_failing_batch_raises_a_report_naming_each_failing_expectation(spark, config):
    df = silver_rows(spark, [row("e1"), row("e1"), row("e2", user_id="raw-42"), row("e3")]).cache()
    metrics = Metrics("r", "clean", D1)
    with pytest.raises(QualityError) as err:
        check_batch(df, "silver.events", CleanSettings.of(config), metrics)
    report = str(err.value)
    assert f"FAILED {UNIQUE}: 2 of 4 rows unexpected (50.00%)" in report
    assert f"FAILED {PSEUDONYM}: 1 of 4 rows unexpected (25.00%)" in report
    assert "expect_column_values_to_not_be_null:event_id" not in report
    # Every expectation is recorded, passing or not.
    recorded = {r["name"]: r for r in metrics.rows if r["name"].startswith("quality.")}
    assert metrics.value("seconds.quality.silver.events") > 0
    assert len(recorded) == len(suite_checks("silver.events", CleanSettings.of(config)))
    unique = recorded[f"quality.silver.events.{UNIQUE}"]
    assert unique["value"] == 50.0
    assert json.loads(unique["detail"])["unexpected_count"] == 2
    assert json.loads(recorded["quality.silver.events.expect_column_values_to_not_be_null:event_id"]
                      ["detail"])["success"] is True

    # Under a looser threshold the same outcomes pass.
    assert not err.value.report.passed
    assert ValidationReport("silver.events", err.value.report.outcomes, 60.0).passed


def test_the_threshold_stops_clean_before_anything_is_written(spark, config, monkeypatch, capsys):
    # A stricter suite than cleaning enforces: every event names an item (a follow need not).
    strict = lambda name, cfg: suite_checks(name, cfg) + (  # noqa: E731
        Check("ExpectColumnValuesToNotBeNull", "content_id"),)
    monkeypatch.setattr(expectations, "suite_checks", strict)
    lake = Lake(spark, config)
    write_bronze(spark, lake, [event("e1"), event("e2", "like"), event("e3", "like"),
                               event("f1", "follow", content_id=None, creator_id="a1")])
    assert clean(config, D1) == 1
    err = capsys.readouterr().err
    assert "expect_column_values_to_not_be_null:content_id: 1 of 4 rows unexpected (25.00%)" in err
    assert not lake.exists("silver.events") and not lake.exists("bronze.quarantine")
    failed = lake.read("gold.metrics").where(F.col("stage") == "clean")
    names = {r.name: r for r in failed.collect()}
    assert json.loads(names["seconds"].detail)["status"] == "failed"
    assert names["quality.silver.events.expect_column_values_to_not_be_null:content_id"].value == 25.0

    # Within the configured threshold the same run goes through (the failed one never counted).
    assert clean(config, D1, "--set", "quality.max_unexpected_percent=30") == 0
    assert lake.read("silver.events").count() == 4


@pytest.mark.parametrize("name", ["silver.events", "silver.content", "silver.users"])
def test_every_suite_checks_declared_columns(config, name):
    declared = {c.name for c in table(name).columns}
    checks = suite_checks(name, CleanSettings.of(config))
    assert checks and {c.column for c in checks} <= declared
    assert len({c.name for c in checks}) == len(checks)
