"""The lake on both backends: every operation checked against deltalake reading the same table.

Each test taking ``lake`` runs on the delta-rs bridge, on native Delta-Spark path tables and on
native catalog tables (the session's Hive metastore), with the same assertions; deltalake
(delta-rs) reading what either wrote is the interoperability check in passing. Backend-specific mechanics (the bridge's staging and lock) have their own tests.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import threading

import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from foryou.lake import (
    CommitKey,
    ConcurrentWriteError,
    Lake,
    LakeError,
    PartitionMismatch,
    SchemaMismatch,
)
from foryou.lake.bridge import STAGING_DIR, BridgeBackend
from foryou.lake.locks import table_lock

EVENTS = "silver.events"
DAY1, DAY2, DAY3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)


def events(spark, ids, day: dt.date, user: str = "u1"):
    """A silver.events frame: one view per id on ``day``, a minute apart."""
    rows = [(f"e{i}", "view", user, dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=i),
             f"c{i % 7}", 1000 * i, "test", "native", day) for i in ids]
    return spark.createDataFrame(
        rows, "event_id string, event_type string, user_id string, event_ts timestamp, "
              "content_id string, watch_ms long, ingest_id string, source string, event_date date")


def delta(lake: Lake, name: str, version: int | None = None) -> DeltaTable:
    return DeltaTable(lake.location(name), version=version)


def ids_in(lake: Lake, name: str, version: int | None = None) -> set[str]:
    return set(delta(lake, name, version).to_pyarrow_table(columns=["event_id"])["event_id"].to_pylist())


# Catalog mode differs from native path tables only in how a table is named, created and
# located: the tests of those run in all three modes, the others on the two backends.
BOTH_BACKENDS = pytest.mark.parametrize("lake_mode", ["bridge", "native"], indirect=True)


def data_files(location: str) -> set[str]:
    """Every Parquet data file under a table's folder (not the log's checkpoints)."""
    return {os.path.join(d, f) for d, _, fs in os.walk(location) if "_delta_log" not in d
            for f in fs if f.endswith(".parquet")}


@pytest.fixture
def lake(spark, config, lake_mode) -> Lake:
    """The lake in each mode: bridge, native path tables, native catalog tables."""
    return Lake(spark, config)


def test_auto_chooses_native_where_the_session_has_delta(spark, config):
    # Without Delta's extension `auto` is the bridge: spark-submit checks it in test_jobs.
    config.lake.backend = "auto"
    assert Lake(spark, config).backend_name == "native"


@BOTH_BACKENDS
def test_a_relative_lake_root_works(spark, config, lake_mode, tmp_path, monkeypatch):
    """``make demo``'s default root is ``./lakehouse``: Delta reads ``delta.`path``` only for
    absolute paths, so the native backend qualifies a relative root (found by the demo)."""
    monkeypatch.chdir(tmp_path)
    config.lake.root = "./relative-lake"
    lake = Lake(spark, config)
    lake.append(EVENTS, events(spark, range(3), DAY1))
    assert lake.read(EVENTS).count() == 3 and lake.history(EVENTS)[0].version == 0
    assert os.path.isdir(tmp_path / "relative-lake" / "silver" / "events" / "_delta_log")


def test_each_mode_is_the_one_asked_for(spark, lake, lake_mode):
    assert lake.backend_name == ("bridge" if lake_mode == "bridge" else "native")
    lake.create(EVENTS)
    registered = spark.catalog.tableExists("spark_catalog.silver.events")
    assert registered == (lake_mode == "catalog")
    assert lake.location(EVENTS).endswith("/silver/events")


def test_create_gives_an_empty_table_with_the_declared_schema(lake):
    assert lake.version(EVENTS) is None
    assert lake.create(EVENTS) == 0
    table = delta(lake, EVENTS)
    assert table.metadata().partition_columns == ["event_date"]
    assert [f.name for f in table.schema().fields] == lake.spec(EVENTS).schema.fieldNames()
    assert lake.read(EVENTS).count() == 0
    assert lake.create(EVENTS) == 0  # idempotent


def test_append_is_readable_by_deltalake_and_polars_with_stats(spark, lake):
    lake.append(EVENTS, events(spark, range(10), DAY1).union(events(spark, range(10, 15), DAY2)))
    table = delta(lake, EVENTS)
    protocol = table.protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
    arrow = table.to_pyarrow_table()
    assert arrow.num_rows == 15
    assert str(arrow.schema.field("event_ts").type) == "timestamp[us, tz=UTC]"
    assert pl.read_delta(lake.location(EVENTS)).height == 15
    # Spark reads back exactly what deltalake sees.
    assert sorted(r.event_id for r in lake.read(EVENTS).collect()) == sorted(arrow["event_id"].to_pylist())
    # Every add action carries stats (the bridge builds them from the footer, Delta-Spark
    # while writing) that bound the file's values.
    log = os.path.join(lake.location(EVENTS), "_delta_log", "00000000000000000000.json")
    adds = [json.loads(line)["add"] for line in open(log) if '"add"' in line]
    assert adds and {a["partitionValues"]["event_date"] for a in adds} == {"2024-05-01", "2024-05-02"}
    for add in adds:
        stats = json.loads(add["stats"])
        part = pq.read_table(os.path.join(lake.location(EVENTS), add["path"]))
        assert stats["numRecords"] == part.num_rows > 0
        assert stats["nullCount"]["event_id"] == 0
        assert stats["minValues"]["event_id"] >= min(part["event_id"].to_pylist())
        ts = [t.replace(tzinfo=None) for t in part["event_ts"].to_pylist()]
        assert stats["minValues"]["event_ts"] <= min(ts).isoformat(timespec="milliseconds") + "Z"
        assert stats["maxValues"]["event_ts"] >= max(ts).isoformat(timespec="milliseconds") + "Z"
        assert "event_date" not in stats["minValues"]  # partition columns carry no stats


@BOTH_BACKENDS
def test_overwrite_replaces_everything_and_keeps_time_travel(spark, lake):
    lake.append(EVENTS, events(spark, range(5), DAY1))
    result = lake.overwrite(EVENTS, events(spark, range(100, 103), DAY2))
    assert result.version == 1 and result.rows == 3
    assert ids_in(lake, EVENTS) == {"e100", "e101", "e102"}
    assert ids_in(lake, EVENTS, version=0) == {f"e{i}" for i in range(5)}
    assert lake.read(EVENTS, version=0).count() == 5


def test_replace_partitions_touches_only_those_partitions(spark, lake):
    lake.append(EVENTS, events(spark, range(5), DAY1).union(events(spark, range(5, 9), DAY2)))
    lake.replace_partitions(EVENTS, events(spark, range(50, 52), DAY2))
    assert ids_in(lake, EVENTS) == {f"e{i}" for i in range(5)} | {"e50", "e51"}
    # An explicit, empty replacement clears the day.
    lake.replace_partitions(EVENTS, events(spark, [], DAY2), partitions=[DAY2])
    assert ids_in(lake, EVENTS) == {f"e{i}" for i in range(5)}
    assert lake.read(EVENTS, partitions=[DAY1]).count() == 5


@BOTH_BACKENDS
def test_replace_partitions_refuses_rows_outside_the_partitions(spark, lake):
    backend = lake.backend_name
    lake.append(EVENTS, events(spark, range(3), DAY1))
    with pytest.raises(PartitionMismatch, match="2024-05-02" if backend == "native" else "2024-05-03"):
        lake.replace_partitions(EVENTS, events(spark, range(10, 12), DAY3), partitions=[DAY2])
    assert lake.version(EVENTS) == 0 and ids_in(lake, EVENTS) == {"e0", "e1", "e2"}
    assert lake.snapshot(EVENTS, partitions=[DAY3]).files == ()
    if backend == "bridge":  # Delta-Spark leaves the refused files to VACUUM
        day3 = os.path.join(lake.location(EVENTS), "event_date=2024-05-03")
        assert not os.path.exists(day3) or not os.listdir(day3)


@BOTH_BACKENDS
def test_insert_new_keeps_one_row_per_key(spark, lake):
    first = lake.insert_new(EVENTS, events(spark, range(10), DAY1))
    assert first.rows == 10
    batch = events(spark, range(5, 15), DAY1).union(events(spark, range(12, 15), DAY1))
    second = lake.insert_new(EVENTS, batch)
    assert second.rows == 5  # e10..e14: new; e5..e9 already there; repeats within the batch once
    ids = delta(lake, EVENTS).to_pyarrow_table(columns=["event_id"])["event_id"].to_pylist()
    assert len(ids) == len(set(ids)) == 15


@BOTH_BACKENDS
def test_insert_new_reads_only_the_partitions_the_batch_touches(spark, lake):
    lake.insert_new(EVENTS, events(spark, range(3), DAY1))
    # The same ids on another day are not compared against DAY1's partition.
    result = lake.insert_new(EVENTS, events(spark, range(3), DAY2))
    assert result.rows == 3


def test_history_restore_delete_and_vacuum(spark, lake):
    lake.append(EVENTS, events(spark, range(4), DAY1))
    lake.append(EVENTS, events(spark, range(4, 6), DAY1))
    history = lake.history(EVENTS)
    assert [h.version for h in history] == [1, 0]
    assert [h["version"] for h in delta(lake, EVENTS).history()] == [1, 0]
    assert history[0].timestamp.tzinfo is not None and history[0].operation == "WRITE"

    assert lake.restore(EVENTS, 0) == 2
    assert ids_in(lake, EVENTS) == {"e0", "e1", "e2", "e3"}
    assert delta(lake, EVENTS).history(1)[0]["operation"] == "RESTORE"
    assert lake.history(EVENTS, 1)[0].operation == "RESTORE"

    assert lake.delete(EVENTS, "event_id = 'e1'") == 1
    assert ids_in(lake, EVENTS) == {"e0", "e2", "e3"}

    before = set(delta(lake, EVENTS).file_uris())
    on_disk = data_files(lake.location(EVENTS))
    removed = lake.vacuum(EVENTS, retention_hours=0)
    assert removed == len(on_disk - before) > 0, "files of replaced versions are removed"
    assert all(os.path.exists(p) for p in before)  # the live snapshot is untouched
    assert ids_in(lake, EVENTS) == {"e0", "e2", "e3"}
    assert lake.vacuum(EVENTS, retention_hours=0) == 0  # nothing left to remove


@BOTH_BACKENDS
def test_restore_refuses_a_missing_or_vacuumed_version(spark, lake):
    lake.append(EVENTS, events(spark, range(2), DAY1))
    with pytest.raises(LakeError, match="version 7 does not exist"):
        lake.restore(EVENTS, 7)
    lake.overwrite(EVENTS, events(spark, range(5, 7), DAY1))
    lake.vacuum(EVENTS, retention_hours=0)
    with pytest.raises(LakeError, match="version 0 cannot be restored: VACUUM has removed"):
        lake.restore(EVENTS, 0)
    assert ids_in(lake, EVENTS) == {"e5", "e6"}


@BOTH_BACKENDS
def test_schema_refusals_name_the_column_and_leave_the_table_unchanged(spark, lake):
    lake.append(EVENTS, events(spark, range(3), DAY1))
    before = (lake.version(EVENTS), ids_in(lake, EVENTS))

    wrong_type = events(spark, range(10, 12), DAY1).withColumn("watch_ms", F.col("watch_ms").cast("string"))
    with pytest.raises(SchemaMismatch, match="'watch_ms' has type string"):
        lake.append(EVENTS, wrong_type)
    missing = events(spark, range(10, 12), DAY1).drop("user_id")
    with pytest.raises(SchemaMismatch, match="required column 'user_id'"):
        lake.append(EVENTS, missing)
    extra = events(spark, range(10, 12), DAY1).withColumn("mood", F.lit(0.5))
    with pytest.raises(SchemaMismatch, match="'mood'.*allow_new_columns"):
        lake.append(EVENTS, extra)
    assert (lake.version(EVENTS), ids_in(lake, EVENTS)) == before

    # Additive columns with the explicit opt-in.
    lake.append(EVENTS, extra, allow_new_columns=True)
    table = delta(lake, EVENTS)
    assert "mood" in [f.name for f in table.schema().fields]
    values = table.to_pyarrow_table(columns=["event_id", "mood"]).to_pylist()
    assert {r["event_id"]: r["mood"] for r in values}["e10"] == 0.5
    assert {r["event_id"]: r["mood"] for r in values}["e0"] is None
    # Optional columns may be left out; they arrive as nulls.
    lake.append(EVENTS, events(spark, [20], DAY1).drop("content_id"))
    assert lake.read(EVENTS).where("event_id = 'e20'").first()["content_id"] is None


@BOTH_BACKENDS
@pytest.mark.parametrize("write", ["append", "insert_new"])
def test_a_column_the_catalog_declares_is_added_to_a_table_an_older_release_made(spark, lake, write):
    """A release that declares a new column upgrades existing tables on their next write, by
    either kind of write (insert_new once dropped the column's values without a word)."""
    spec = lake.spec(EVENTS)
    older = dataclasses.replace(spec, columns=tuple(c for c in spec.columns if c.name != "content_id"))
    lake.backend.write(older, events(spark, range(3), DAY1).drop("content_id"), "append")
    assert "content_id" not in [f.name for f in delta(lake, EVENTS).schema().fields]
    # Read before the upgrade: the declared column is there, null.
    assert lake.read(EVENTS).where(F.col("content_id").isNull()).count() == 3

    getattr(lake, write)(EVENTS, events(spark, range(10, 12), DAY1))
    values = {r["event_id"]: r["content_id"]
              for r in delta(lake, EVENTS).to_pyarrow_table(columns=["event_id", "content_id"]).to_pylist()}
    assert values == {"e0": None, "e1": None, "e2": None, "e10": "c3", "e11": "c4"}
    assert lake.read(EVENTS).count() == 5


def test_commit_key_makes_reruns_commit_nothing_twice(spark, lake):
    key = CommitKey("clean", DAY1)
    first = lake.replace_partitions(EVENTS, events(spark, range(5), DAY1), key=key)
    again = lake.replace_partitions(EVENTS, events(spark, range(5), DAY1), key=key)
    assert again.skipped and again.version == first.version
    assert lake.is_committed(EVENTS, key) and not lake.is_committed(EVENTS, CommitKey("clean", DAY2))
    forced = lake.replace_partitions(EVENTS, events(spark, range(7), DAY1), key=key, force=True)
    assert forced.version == first.version + 1 and ids_in(lake, EVENTS) == {f"e{i}" for i in range(7)}
    assert delta(lake, EVENTS).transaction_version(key.app_id) == 1
    assert lake.history(EVENTS, 1)[0].key == key.app_id


def test_commit_key_makes_insert_new_reruns_commit_nothing_twice(spark, lake):
    lake.insert_new(EVENTS, events(spark, range(3), DAY1))
    key = CommitKey("clean", DAY2)
    first = lake.insert_new(EVENTS, events(spark, range(3, 6), DAY1), key=key)
    assert first.rows == 3 and not first.skipped
    again = lake.insert_new(EVENTS, events(spark, range(6, 9), DAY1), key=key)
    assert again.skipped and again.rows == 0 and lake.version(EVENTS) == first.version
    assert ids_in(lake, EVENTS) == {f"e{i}" for i in range(6)}
    forced = lake.insert_new(EVENTS, events(spark, range(6, 9), DAY1), key=key, force=True)
    assert forced.rows == 3 and forced.version == first.version + 1
    assert delta(lake, EVENTS).transaction_version(key.app_id) == 1


@BOTH_BACKENDS
def test_a_writer_whose_job_dies_leaves_the_last_version_and_the_rerun_is_exact(spark, lake):
    lake.append(EVENTS, events(spark, range(3), DAY1))
    key = CommitKey("clean", DAY2)

    @F.udf("long")
    def dies(value):
        raise RuntimeError("executor lost")

    with pytest.raises(Exception, match="executor lost"):
        lake.append(EVENTS, events(spark, range(10, 20), DAY2).withColumn("watch_ms", dies("watch_ms")),
                    key=key)
    assert lake.version(EVENTS) == 0 and ids_in(lake, EVENTS) == {"e0", "e1", "e2"}
    assert not lake.is_committed(EVENTS, key)
    rerun = lake.append(EVENTS, events(spark, range(10, 20), DAY2), key=key)
    assert rerun.version == 1 and rerun.rows == 10
    assert lake.read(EVENTS).count() == 13


def test_snapshot_lists_the_files_a_reader_opens(spark, lake):
    lake.append(EVENTS, events(spark, range(4), DAY1).union(events(spark, range(4, 6), DAY2)))
    lake.append(EVENTS, events(spark, range(6, 9), DAY3))
    snap = lake.snapshot(EVENTS)
    assert snap.version == 1 and snap.table == EVENTS
    assert set(snap.uris) == set(delta(lake, EVENTS).file_uris())
    assert snap.partition_values("event_date") == ["2024-05-01", "2024-05-02", "2024-05-03"]
    assert "event_id" in snap.schema.names and str(snap.schema.field("event_ts").type) == "timestamp[us, tz=UTC]"
    day2 = lake.snapshot(EVENTS, partitions=[DAY2])
    assert {f.partition_values["event_date"] for f in day2.files} == {"2024-05-02"}
    assert sum(pq.read_metadata(u).num_rows for u in day2.uris) == 2
    pinned = lake.snapshot(EVENTS, version=0)
    assert pinned.version == 0 and sum(pq.read_metadata(u).num_rows for u in pinned.uris) == 6


def test_killed_bridge_writer_leaves_the_last_version_and_the_rerun_cleans_up(spark, config, monkeypatch):
    lake = Lake(spark, config)
    lake.append(EVENTS, events(spark, range(3), DAY1))

    class Killed(BaseException):
        """Stands for SIGKILL: no `except Exception` handler runs."""

    def die(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr(BridgeBackend, "_commit", die)
    key = CommitKey("clean", DAY2)
    with pytest.raises(Killed):
        lake.append(EVENTS, events(spark, range(10, 20), DAY2), key=key)
    monkeypatch.undo()

    # Files were written and moved, but readers still see version 0.
    staging = os.path.join(lake.location(EVENTS), STAGING_DIR)
    assert os.listdir(staging)
    assert os.path.isdir(os.path.join(lake.location(EVENTS), "event_date=2024-05-02"))
    assert lake.version(EVENTS) == 0 and ids_in(lake, EVENTS) == {"e0", "e1", "e2"}
    assert lake.read(EVENTS).count() == 3
    assert not lake.is_committed(EVENTS, key)

    rerun = lake.append(EVENTS, events(spark, range(10, 20), DAY2), key=key)
    assert rerun.version == 1 and rerun.rows == 10
    assert not os.listdir(staging)
    on_disk = data_files(lake.location(EVENTS))
    assert on_disk == set(delta(lake, EVENTS).file_uris()), "the orphaned files were removed"


@BOTH_BACKENDS
def test_concurrent_writers_lose_nothing(spark, lake):
    """The bridge serialises writers with its lock; Delta-Spark commits them optimistically."""
    lake.create(EVENTS)
    errors = []

    def writer(n):
        try:
            lake.append(EVENTS, events(spark, range(n * 10, n * 10 + 10), DAY1, user=f"u{n}"))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert lake.version(EVENTS) == 3
    assert len(ids_in(lake, EVENTS)) == 30


@BOTH_BACKENDS
def test_concurrent_runs_of_one_job_commit_once(spark, lake):
    """Two runs of the same job and date at once (a retried scheduler task): one commits, the
    other finds the key committed (bridge: after the lock; native: Delta's txn check, or a
    lost conflict retried), and the rows land once."""
    lake.replace_partitions(EVENTS, events(spark, range(3), DAY2))
    key = CommitKey("clean", DAY1)
    results, errors = [], []

    def run():
        try:
            results.append(lake.replace_partitions(EVENTS, events(spark, range(10), DAY1), key=key))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.skipped for r in results) == [False, True]
    assert lake.read(EVENTS, partitions=[DAY1]).count() == 10
    assert delta(lake, EVENTS).transaction_version(key.app_id) == 0


def test_a_writer_that_cannot_get_the_lock_fails_cleanly(spark, config):
    config.lake.lock_timeout_s = 0.3
    lake = Lake(spark, config)
    lake.append(EVENTS, events(spark, range(2), DAY1))
    lock = os.path.join(config.lake.root, "_locks", f"{EVENTS}.lock")
    with table_lock(lock, EVENTS, 1):
        with pytest.raises(ConcurrentWriteError, match="another writer"):
            lake.append(EVENTS, events(spark, range(5, 7), DAY1))
    assert lake.version(EVENTS) == 0


@BOTH_BACKENDS
def test_export_tables_are_sorted_by_their_lookup_key(spark, lake):
    rows = [(f"u{i % 50:03d}", r, f"c{r}", 1.0 / r, "ann", "m1", dt.datetime(2024, 5, 1))
            for i in range(50) for r in range(1, 6)]
    df = spark.createDataFrame(rows, "user_id string, rank int, content_id string, score double, "
                                     "source string, model_version string, generated_at timestamp")
    lake.overwrite("gold.user_candidates", df.orderBy(F.rand(7)))
    table = delta(lake, "gold.user_candidates").to_pyarrow_table()
    assert table.num_rows == 250
    for path in delta(lake, "gold.user_candidates").file_uris():
        users = pq.read_table(path, columns=["user_id"])["user_id"].to_pylist()
        assert users == sorted(users), "files are sorted by user_id for point lookups"


def test_unknown_table_is_named(lake):
    with pytest.raises(KeyError, match="silver.nope"):
        lake.read("silver.nope")
