"""foryou clean: dedup, counts that add up, quarantine reasons, missing values, idempotency."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from foryou.clean import stage
from foryou.clean.stage import CleanCounts, CountMismatch
from foryou.cli import main as foryou
from foryou.config.settings import CleanSettings
from foryou.lake import CommitKey, Lake, table
from foryou.privacy import pseudonymise
from foryou.privacy.pseudonyms import DEMO_KEY, KEY_ENV

D1, D2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
NO_GX = ["--set", "quality.enabled=false"]


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def event(event_id, event_type="view", user_id="u1", event_ts="2024-05-01T10:00:00",
          run_date=D1, **fields) -> dict:
    """One bronze.events row; an ingest of ``run_date`` at noon received it."""
    ingested = fields.pop("ingested_at", f"{run_date}T12:00:00")
    row = {"event_id": event_id, "event_type": event_type, "user_id": user_id,
           "event_ts": ts(event_ts) if event_ts else None, "content_id": "c1",
           "watch_ms": 1000, "ingest_id": f"ingest-{run_date}-native", "source": "native",
           "ingested_at": ts(ingested), **fields}
    row["event_date"] = (row["event_ts"] or ts(ingested)).date()
    if isinstance(row.get("received_at"), str):
        row["received_at"] = ts(row["received_at"])
    row.setdefault("payload", json.dumps({k: str(v) for k, v in row.items()}))
    return row


def write_bronze(spark, lake: Lake, rows: list[dict], name: str = "bronze.events") -> None:
    lake.append(name, spark.createDataFrame(rows, table(name).schema))


def clean(config, run_date, *extra) -> int:
    return foryou(["clean", "--run-date", str(run_date), "--set", f"lake.root={config.lake.root}",
                   *extra])


def metric_values(lake: Lake, run_date) -> dict[str, float]:
    rows = lake.read("gold.metrics", partitions=[run_date]).where(F.col("stage") == "clean")
    return {r["name"]: r["value"] for r in rows.collect()}


@pytest.fixture(autouse=True)
def demo_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_dedup_counts_and_idempotent_rerun(spark, config, capsys):
    lake = Lake(spark, config)
    write_bronze(spark, lake, [
        event("e1", received_at="2024-05-01T10:00:05", watch_ms=100),
        event("e1", received_at="2024-05-01T10:00:01", watch_ms=200),   # earliest: kept
        event("e1", received_at="2024-05-01T10:00:09", watch_ms=300),
        event("e2", "like"),
        event("e3", "view", event_ts="2024-04-20T08:00:00"),            # late: its own partition
        event("bad", "teleport"),
    ])
    assert clean(config, D1, *NO_GX) == 0
    silver = lake.read("silver.events")
    assert silver.groupBy("event_id").count().where("count > 1").count() == 0
    assert {r.event_id for r in silver.collect()} == {"e1", "e2", "e3"}
    assert silver.where("event_id = 'e1'").first().watch_ms == 200
    assert {str(r.event_date) for r in silver.select("event_date").distinct().collect()} == \
        {"2024-05-01", "2024-04-20"}
    m = metric_values(lake, D1)
    assert (m["silver.events.input"], m["silver.events.accepted"], m["silver.events.quarantined"],
            m["silver.events.duplicates"]) == (6, 3, 1, 2)

    # Re-running the same date changes nothing: every table keeps its version.
    versions = {t: lake.version(t) for t in ("silver.events", "bronze.quarantine", "gold.metrics")}
    assert clean(config, D1, *NO_GX) == 0
    assert "already committed" in capsys.readouterr().out
    assert {t: lake.version(t) for t in versions} == versions

    # The next day re-sends e1 and e2 and brings e4 (twice): duplicates across runs.
    write_bronze(spark, lake, [event("e1", run_date=D2), event("e2", "like", run_date=D2),
                               event("e4", event_ts="2024-05-02T09:00:00", run_date=D2),
                               event("e4", event_ts="2024-05-02T09:00:00", run_date=D2)])
    assert clean(config, D2, *NO_GX) == 0
    silver = lake.read("silver.events")
    assert silver.count() == silver.select("event_id").distinct().count() == 4
    m = metric_values(lake, D2)
    assert m["silver.events.input"] == 4 and m["silver.events.accepted"] == 1
    assert m["silver.events.duplicates"] == 3 and m["silver.events.quarantined"] == 0
    # --force recomputes D2 and still leaves one row per event_id.
    assert clean(config, D2, "--force", *NO_GX) == 0
    assert lake.read("silver.events").count() == 4


def test_quarantine_reasons_name_the_field_and_missing_value_policy(spark, config):
    lake = Lake(spark, config)
    write_bronze(spark, lake, [
        event("ok", " VIEW ", user_id=" u7 ", device_type=None, os=" iOS ", country="de ",
              language="pt-BR", platform=" ", app_version="", exposure=" Random "),
        event("neg", watch_ms=-5),
        event("huge", watch_ms=10 ** 9),
        event("future", event_ts="2024-05-03T00:00:00"),
        event("noitem", content_id=None),
        event("nowatch", watch_ms=None),
        event("nopos", "impression", position=-1),
        event(None, "like"),
        event("nouser", user_id="  "),
        event("twice", "teleport", watch_ms=-1),
        event("follow-ok", "follow", content_id=None, creator_id="a1", watch_ms=None),
        event("follow-bad", "unfollow", content_id=None, watch_ms=None),
        event("noexposure", exposure="sometimes"),
    ])
    assert clean(config, D1, *NO_GX) == 0
    reasons = {r.record_ref.split("=", 1)[1]: r.reason
               for r in lake.read("bronze.quarantine").collect()}
    assert reasons["neg"] == "watch_ms: -5 is negative"
    assert reasons["huge"].startswith("watch_ms: 1000000000 exceeds the maximum")
    assert reasons["future"].startswith("event_ts: 2024-05-03 00:00:00 is in the future")
    assert reasons["noitem"] == "content_id: missing (required for view)"
    assert reasons["nowatch"] == "watch_ms: missing (required for view)"
    assert reasons["nopos"] == "position: -1 is negative"
    assert reasons["<missing>"] == "event_id: missing"
    assert reasons["nouser"] == "user_id: missing"
    assert reasons["twice"] == "event_type: unknown value 'teleport'; watch_ms: -1 is negative"
    assert reasons["follow-bad"].startswith("creator_id: missing")
    assert reasons["noexposure"] == "exposure: unknown value 'sometimes' (expected policy or random)"
    quarantine = lake.read("bronze.quarantine")
    assert quarantine.where("rejected_by = 'clean' AND ingest_date = '2024-05-01'").count() == 11
    assert quarantine.where("record_ref LIKE '%=neg'").first().user_id == "u1"

    rows = {r.event_id: r for r in lake.read("silver.events").collect()}
    assert set(rows) == {"ok", "follow-ok"}
    ok = rows["ok"]
    assert (ok.event_type, ok.device_type, ok.os, ok.network_type) == ("view", "unknown", "ios", "unknown")
    assert (ok.country, ok.language, ok.platform, ok.app_version) == ("DE", "pt", None, None)
    assert ok.exposure == "random" and rows["follow-ok"].exposure is None
    # Pseudonymised (with the demo key: no key set), raw ids nowhere in silver.
    assert ok.user_id == pseudonymise("u7", DEMO_KEY)
    assert lake.read("silver.events").where(F.col("user_id").isin("u1", "u7", " u7 ")).count() == 0
    m = metric_values(lake, D1)
    assert m["silver.events.input"] == 13 and m["silver.events.quarantined"] == 11
    assert m["pseudonym_key_is_demo"] == 1


def test_content_and_users_keep_the_latest_version(spark, config, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "test-secret")
    lake = Lake(spark, config)

    def content(cid, tags, ingested, run_date=D1):
        return {"content_id": cid, "tags": tags, "duration_ms": 5000,
                "ingest_id": f"ingest-{run_date}-kuairand", "source": "kuairand",
                "ingested_at": ts(ingested)}

    def user(uid, country, ingested, run_date=D1, follow_count=3):
        return {"user_id": uid, "country": country, "follow_count": follow_count,
                "ingest_id": f"ingest-{run_date}-kuairand", "source": "kuairand",
                "ingested_at": ts(ingested)}

    write_bronze(spark, lake, [content("c1", "4, 28,,7", "2024-05-01T01:00:00"),
                               content("c1", "9", "2024-05-01T02:00:00"),
                               content("c2", None, "2024-05-01T01:00:00"),
                               content(" ", "1", "2024-05-01T01:00:00")], "bronze.content")
    write_bronze(spark, lake, [user("u1", "fr", "2024-05-01T01:00:00"),
                               user("u2", "xx1", "2024-05-01T01:00:00", follow_count=-4)],
                 "bronze.users")
    assert clean(config, D1, *NO_GX) == 0
    tags = {r.content_id: r.tags for r in lake.read("silver.content").collect()}
    assert tags == {"c1": ["9"], "c2": []}
    users = {r.user_id: r for r in lake.read("silver.users").collect()}
    assert set(users) == {pseudonymise("u1", b"test-secret"), pseudonymise("u2", b"test-secret")}
    assert users[pseudonymise("u2", b"test-secret")].country is None
    assert users[pseudonymise("u2", b"test-secret")].follow_count is None
    m = metric_values(lake, D1)
    assert (m["silver.content.input"], m["silver.content.accepted"], m["silver.content.quarantined"],
            m["silver.content.duplicates"]) == (4, 2, 1, 1)

    # The next day's ingest updates c2 and u1; c1 and u2 stay as they were.
    write_bronze(spark, lake, [content("c2", "5,6", "2024-05-02T01:00:00", D2)], "bronze.content")
    write_bronze(spark, lake, [user("u1", "be", "2024-05-02T01:00:00", D2)], "bronze.users")
    assert clean(config, D2, *NO_GX) == 0
    assert {r.content_id: r.tags for r in lake.read("silver.content").collect()} == \
        {"c1": ["9"], "c2": ["5", "6"]}
    users = {r.user_id: r.country for r in lake.read("silver.users").collect()}
    assert users == {pseudonymise("u1", b"test-secret"): "BE",
                     pseudonymise("u2", b"test-secret"): None}


def test_counts_that_do_not_add_up_raise():
    CleanCounts("silver.events", 10, 6, 2, 1, 1).check()
    with pytest.raises(CountMismatch, match="input 10 != accepted 6"):
        CleanCounts("silver.events", 10, 6, 2, 1, 0).check()


def test_a_run_interrupted_before_its_metrics_recommits_nothing(spark, config):
    """Writes carry commit keys: re-running a run whose metrics never landed (a crash after
    the silver write) adds no rows, keeps every version, and still accounts for every row."""
    config.quality.enabled = False
    lake = Lake(spark, config)
    write_bronze(spark, lake, [event("e1"), event("e1"), event("e2", "like"), event("x", "teleport")])

    def run() -> list[CleanCounts]:
        return stage.run(lake, CleanSettings.of(config), D1, CommitKey("clean", D1)).counts

    first = run()
    versions = {t: lake.version(t) for t in ("silver.events", "bronze.quarantine")}
    again = run()
    assert again == first
    assert first[0] == CleanCounts("silver.events", 4, 2, 1, 1, 0)
    assert {t: lake.version(t) for t in versions} == versions
    assert lake.read("silver.events").count() == 2
