"""Logical time, late data and where the log ends (``foryou.runtime.arrivals``), on a replay of
two dated folders.

A 2024 landing zone replayed in 2026, day by day as the live deployment saw it: the run for
day 1 takes only ``date=`` folders up to day 1 (the later one waits, and is not reported as
left out); an event dated 2026 in a 2024 file is "in the future" of its run date, although
in the past of the wall clock. The view just after midnight that completes an impression of
23:50, and an event of day 1 that only arrives with day 2's files, land in day 1's
partitions when day 2 runs.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.lake import Lake
from foryou.runtime.arrivals import window_end

from test_clean import NO_GX
from test_hostile import jsonl
from test_ingest import event, lake_args

DAY1, DAY2 = "2024-05-01", "2024-05-02"
STAGES = ("ingest", "clean", "impressions", "sessionize")


def test_dated_folders_logical_time_and_late_data_rebuilding_their_day(spark, config, tmp_path, capsys):
    raw = tmp_path / "raw"
    jsonl(raw / f"date={DAY1}" / "a.jsonl", [
        event(1, event_type="impression", user_id="u1", content_id="c1", request_id="r1",
              position=0, event_ts="2024-05-01T23:50:00Z", received_at="2024-05-01T23:50:01Z"),
        event(5, event_ts="2026-01-01T00:00:00Z"),           # a broken clock, years ahead
        event(6, event_ts="2024-05-02T00:30:00Z")])          # within the hour's tolerance
    jsonl(raw / f"date={DAY2}" / "b.jsonl", [
        event(2, event_type="view", user_id="u1", content_id="c1", request_id="r1",
              watch_ms=20_000, event_ts="2024-05-02T00:05:00Z", received_at="2024-05-02T00:05:01Z"),
        event(3, event_type="view", user_id="u2", content_id="c2", watch_ms=5_000,
              event_ts="2024-05-01T10:00:00Z", received_at="2024-05-02T08:00:00Z"),  # a day late
        event(4, event_type="impression", user_id="u1", content_id="c3", request_id="r2",
              position=0, event_ts="2024-05-02T09:00:00Z", received_at="2024-05-02T09:00:01Z")])
    lake = Lake(spark, config)

    def run(day: str) -> None:
        for stage in STAGES:
            extra = ["--path", str(raw)] if stage == "ingest" else []
            assert foryou([stage, "--run-date", day, *extra, *lake_args(config), *NO_GX]) == 0, stage

    def impression(request: str):
        [row] = lake.read("silver.impressions").where(F.col("request_id") == request).collect()
        return row

    def sessions_of_day1() -> dict:
        rows = lake.read("silver.sessions", partitions=[DAY1]).collect()
        return {r.user_id: r for r in rows}

    capsys.readouterr()
    run(DAY1)
    assert f"1 file(s) dated after {DAY1} wait for their run date" in capsys.readouterr().out
    assert foryou(["ingest", "--path", str(raw), "--run-date", DAY1, *lake_args(config)]) == 0
    assert "NOT ingested" not in capsys.readouterr().err     # the later file is not left out
    assert {r.event_id for r in lake.read("bronze.events").collect()} == {"e1", "e5", "e6"}
    [future] = lake.read("bronze.quarantine").where(F.col("rejected_by") == "clean").collect()
    assert future.reason == ("event_ts: 2026-01-01 00:00:00 is in the future (after "
                             "2024-05-02 00:00:00, tolerance 3600s)")
    assert {r.event_id for r in lake.read("silver.events").collect()} == {"e1", "e6"}
    metrics = {r["name"]: r["value"] for r in lake.read("gold.metrics", partitions=[DAY1]).collect()}
    assert metrics["files_later"] == 1
    assert impression("r1").click == 0                       # its view has not arrived yet
    assert len(sessions_of_day1()) == 1

    run(DAY2)
    first = impression("r1")
    assert (first.click, first.watch_ms, str(first.event_date)) == (1, 20_000, DAY1)
    assert impression("r2").event_date.isoformat() == DAY2
    day1 = sessions_of_day1()
    assert len(day1) == 2                                    # the late event's user has its session
    u1 = next(r for r in day1.values() if r.session_end.isoformat().startswith(DAY2))
    assert u1.session_start.isoformat().startswith(DAY1)     # 23:50 -> 00:05: one session
    metrics = {r["name"]: r["value"] for r in lake.read("gold.metrics", partitions=[DAY2]).collect()}
    assert metrics["impressions.reopened_dates"] == 1 and metrics["sessions.reopened_dates"] == 1

    # A re-run of day 2 changes nothing (each reopened day has its own commit key).
    before = lake.read("silver.impressions").count(), lake.read("silver.sessions").count()
    run(DAY2)
    assert (lake.read("silver.impressions").count(), lake.read("silver.sessions").count()) == before

    # Windows before a later run date count back from the day after the log's last event.
    day1, day2 = dt.date.fromisoformat(DAY1), dt.date.fromisoformat(DAY2)
    assert window_end(lake, day1) == day1                    # no events before it
    assert window_end(lake, day2) == day2                    # events the day before: live
    assert window_end(lake, day2 + dt.timedelta(days=30)) == day2 + dt.timedelta(days=1)
