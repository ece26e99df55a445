"""Both backends write ordinary Delta tables: each reads, extends and maintains the other's.

The bridge commits with delta-rs and Delta-Spark commits natively; both leave reader 1 /
writer 2 tables in the same layout, so a lake can move from a laptop (bridge) to a cluster
(native) and back, and every reader without a JVM (delta-rs, polars, ``FeedReader``) reads
what Delta-Spark wrote.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
from deltalake import DeltaTable
from pyspark.sql import functions as F

from foryou.lake import CommitKey, Lake
from foryou.serving import FeedReader

from test_lake import DAY1, DAY2, DAY3, EVENTS, events

EXPORT = "gold.user_candidates"


def _lakes(spark, config) -> tuple[Lake, Lake]:
    """A bridge lake and a native lake over the same root."""
    bridge = Lake(spark, config)
    native_config = config.model_copy(deep=True)
    native_config.lake.backend = "native"
    return bridge, Lake(spark, native_config)


def _ids(location: str) -> set[str]:
    return set(DeltaTable(location).to_pyarrow_table(columns=["event_id"])["event_id"].to_pylist())


def test_delta_spark_reads_appends_restores_and_vacuums_a_bridge_table(spark, config):
    bridge, native = _lakes(spark, config)
    key = CommitKey("clean", DAY1)
    bridge.append(EVENTS, events(spark, range(5), DAY1), key=key)
    bridge.append(EVENTS, events(spark, range(5, 8), DAY2))

    # Delta-Spark sees the rows, the versions and the bridge's idempotency key.
    assert native.version(EVENTS) == 1
    assert {r.event_id for r in native.read(EVENTS).collect()} == {f"e{i}" for i in range(8)}
    assert native.read(EVENTS, version=0).count() == 5
    assert native.is_committed(EVENTS, key)
    assert native.append(EVENTS, events(spark, range(5), DAY1), key=key).skipped
    assert [c.version for c in native.history(EVENTS)] == [1, 0]

    # It extends and maintains the table; delta-rs and the bridge carry on after it.
    native.append(EVENTS, events(spark, range(8, 10), DAY3))
    assert native.restore(EVENTS, 1) == 3
    assert _ids(bridge.location(EVENTS)) == {f"e{i}" for i in range(8)}
    assert native.vacuum(EVENTS, retention_hours=0) > 0
    bridge.append(EVENTS, events(spark, range(20, 22), DAY3))
    assert bridge.version(EVENTS) == native.version(EVENTS)
    assert _ids(native.location(EVENTS)) == {f"e{i}" for i in range(8)} | {"e20", "e21"}
    protocol = DeltaTable(bridge.location(EVENTS)).protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)


def test_delta_rs_polars_and_the_bridge_read_a_native_table(spark, config):
    bridge, native = _lakes(spark, config)
    key = CommitKey("clean", DAY2)
    native.replace_partitions(EVENTS, events(spark, range(6), DAY1).union(events(spark, range(6, 9), DAY2)),
                              key=key)
    location = native.location(EVENTS)
    table = DeltaTable(location)
    protocol = table.protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
    assert table.to_pyarrow_table().num_rows == 9
    assert table.transaction_version(key.app_id) == 0
    assert pl.read_delta(location).height == 9
    # The bridge reads it, honours its key and appends to it.
    assert bridge.is_committed(EVENTS, key)
    assert bridge.read(EVENTS, partitions=[DAY2]).count() == 3
    bridge.append(EVENTS, events(spark, range(30, 32), DAY3))
    assert native.read(EVENTS).count() == 11
    assert bridge.snapshot(EVENTS).uris == native.snapshot(EVENTS).uris


def test_feed_reader_serves_a_native_export(spark, config):
    _, native = _lakes(spark, config)
    rows = [(f"u{i}", r, f"c{r}", 1.0 / r, "ann", "7", dt.datetime(2024, 5, 2), DAY2)
            for i in range(3) for r in range(1, 4)]
    df = spark.createDataFrame(rows, "user_id string, rank int, content_id string, score double, "
                                     "source string, model_version string, generated_at timestamp, "
                                     "as_of_date date")
    native.overwrite(EXPORT, df)
    reader = FeedReader.from_lake(native, refresh_interval_s=0)
    assert reader.users == 3 and [r["content_id"] for r in reader.feed("u1")] == ["c1", "c2", "c3"]
    native.overwrite(EXPORT, df.where(F.col("user_id") != "u2"))
    assert reader.feed("u2")[0]["source"] == "fallback"  # the lookup loaded the new version
    assert not reader.is_known("u2") and reader.version == 1
