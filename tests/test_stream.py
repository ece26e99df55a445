"""Streaming ingestion against a real Kafka broker: the producer, the short-term state, and
exactly once under SIGKILL, on both lake backends.

The broker is Apache Kafka 4.4 (KRaft) that ``make setup`` fetched, started by
:class:`foryou.stream.broker.LocalBroker` for this module. The stream runs as its own process
(``foryou stream-ingest``), killed with SIGKILL at points inside its micro-batches
(``FORYOU_STREAM_KILL``) and restarted; what it lands must equal what batch ingest + clean
land from the same raw files.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys

import pytest
from confluent_kafka import Consumer
from pyspark.sql import functions as F

from conftest import TEST_SETTINGS
from foryou.cli import main as foryou
from foryou.config import load_config
from foryou.config.settings import StreamSettings
from foryou.lake import Lake
from foryou.stream.batch import CHAOS_ENV
from foryou.stream.broker import LocalBroker, ensure_topic
from foryou.stream.produce import event_files, produce, records, user_key
from foryou.stream.short_term import TABLE as SHORT_TERM, update

# A world of the last few days: "in the future" means after the time a record arrives, for the
# stream as for batch clean (whose run date is later than now), so both reject the same records.
START = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=3)
WORLD = ["world.n_users=40", "world.days=2", "world.n_items=800", "world.partitions=2",
         "world.users_per_block=20", f"world.start_date={START}"]
# Batch ingest takes files dated up to its run date: a week on, late arrivals included.
RUN_DATE = START + dt.timedelta(days=7)


def _free_port() -> int:
    """Two consecutive free ports (the broker's and its controller's); returns the first."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        with socket.socket() as b:
            if port < 65535 and b.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    home = tmp_path_factory.mktemp("kafka")
    broker = LocalBroker(home, port=_free_port(), heap_mb=384, partitions=2)
    broker.start()
    yield broker
    assert broker.stop()
    assert broker.pid() is None


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    """A tiny world's raw files (two days, dirty records included)."""
    root = tmp_path_factory.mktemp("stream_world")
    raw = root / "raw"
    args = [a for s in WORLD + [f"ingest.path={raw}", f"lake.root={root / 'lake'}"]
            for a in ("--set", s)]
    assert foryou(["generate", "--run-date", str(START), *args]) == 0
    return raw


@pytest.fixture(scope="module")
def batch_lake(spark, world, tmp_path_factory):
    """The same raw files through batch ingest + clean: what the stream must land."""
    root = tmp_path_factory.mktemp("batch_lake")
    settings = TEST_SETTINGS + [f"lake.root={root}"]
    args = [a for s in settings for a in ("--set", s)]
    for job in (["ingest", "--path", str(world)], ["clean"]):
        assert foryou([*job, "--run-date", str(RUN_DATE), *args]) == 0
    return Lake(spark, load_config(overrides=settings))


def test_setup_fetched_the_kafka_source_and_the_broker(spark):
    from pathlib import Path

    from foryou.connectors import artifact_id, jars, submit_args
    from foryou.stream.query import _check_source

    source = {artifact_id(Path(j).name) for j in jars("kafka")}
    assert {"spark-sql-kafka-0-10_2.13", "kafka-clients"} <= source
    assert "scala-library" not in source  # Spark ships it: not loaded twice
    broker = {artifact_id(Path(j).name) for j in jars("kafka-broker")}
    assert {"kafka_2.13", "kafka-server", "kafka-raft", "scala-library"} <= broker  # its own JVM
    args = submit_args("delta", "kafka")
    assert args[0] == "--jars" and set(jars("kafka")) <= set(args[1].split(","))
    _check_source(spark)  # the session foryou started carries the Kafka source


def test_producer_sends_every_record_keyed_by_user(broker, world):
    topic = "keys"
    ensure_topic(broker.bootstrap_servers, topic, 2)
    files = event_files(str(world))
    report = produce(broker.bootstrap_servers, topic, files)
    sent = list(records(files))
    assert report.messages == len(sent) > 1000
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "t",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = []
    while len(got) < len(sent):
        batch = consumer.consume(1000, timeout=10)
        assert batch, f"only {len(got)} of {len(sent)} messages came back"
        got += [(m.key(), m.value()) for m in batch if m.error() is None]
    consumer.close()
    # Byte for byte, dirty records included; keyed by the record's user where it has one.
    assert sorted(v for _, v in got) == sorted(sent)
    assert all(k == user_key(v) for k, v in got)
    assert sum(k is None for k, _ in got) < len(got) // 10


def _stream(root, backend: str, topic: str, bootstrap: str, max_offsets: int,
            kill: str | None) -> subprocess.CompletedProcess:
    settings = TEST_SETTINGS + [f"lake.root={root}", f"lake.backend={backend}",
                                f"stream.bootstrap_servers={bootstrap}", f"stream.topic={topic}",
                                f"stream.max_offsets_per_trigger={max_offsets}"]
    env = {**os.environ}
    env.pop(CHAOS_ENV, None)
    if kill:
        env[CHAOS_ENV] = kill
    return subprocess.run([sys.executable, "-m", "foryou.cli", "stream-ingest", "--available-now",
                           *[a for s in settings for a in ("--set", s)]],
                          env=env, capture_output=True, text=True, timeout=600)


# Kill points per backend, in order; each run re-runs the killed batch and goes on: before a
# batch writes anything, between its bronze and silver commits, between silver and the state,
# and after its last commit but before Spark records the batch as done.
KILLS = {
    "bridge": ["before-bronze:0", "after-bronze:1", "after-silver:2"],
    "native": ["after-bronze:0", "after-metrics:1"],
}
# Micro-batches per run: enough for the kill points' batch ids (0-2), the last one finished by
# the clean run. A batch of this world costs 12-19 s, mostly its Delta commits, so
# more batches mostly lengthen the suite (five took 38 s more for the two backends).
BATCHES = 3


def _same(a, b, columns) -> None:
    """``a`` and ``b`` hold the same rows of ``columns`` (as multisets). A reason's reference
    time (the moment a record arrived, "... in the future (after T, ...") differs run to run."""
    def rows(df):
        if "reason" in columns:
            df = df.withColumn("reason", F.regexp_replace("reason", r"\(after [^,]*,", "(after T,"))
        return df.select(*columns)

    a, b = rows(a), rows(b)
    assert a.exceptAll(b).count() == 0 and b.exceptAll(a).count() == 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["bridge", "native"])
def test_stream_killed_and_restarted_lands_exactly_what_batch_lands(
        spark, broker, world, batch_lake, tmp_path, backend):
    topic = f"events-{backend}"
    ensure_topic(broker.bootstrap_servers, topic, 2)
    produced = produce(broker.bootstrap_servers, topic, event_files(str(world))).messages
    root = tmp_path / "lake"
    per_batch = produced // BATCHES + 1
    for kill in KILLS[backend]:
        run = _stream(root, backend, topic, broker.bootstrap_servers, per_batch, kill)
        assert run.returncode == -signal.SIGKILL, f"{kill}: {run.returncode}\n{run.stderr[-3000:]}"
    run = _stream(root, backend, topic, broker.bootstrap_servers, per_batch, None)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "micro-batch" in run.stdout

    lake = Lake(spark, load_config(overrides=TEST_SETTINGS + [f"lake.root={root}"]))
    # bronze: the same events, each once; quarantine: the same records for the same reasons.
    _same(lake.read("bronze.events"), batch_lake.read("bronze.events"), ["event_id", "payload"])
    for by in ("ingest", "clean"):
        _same(lake.read("bronze.quarantine").where(F.col("rejected_by") == by),
              batch_lake.read("bronze.quarantine").where(F.col("rejected_by") == by),
              ["payload", "reason"])
    silver = lake.read("silver.events")
    assert silver.count() == silver.select("event_id").distinct().count()
    _same(silver, batch_lake.read("silver.events"), ["event_id", "user_id", "event_ts"])

    # Counts add up over the committed batches, each recorded once.
    metrics = lake.read("gold.metrics").where(F.col("stage") == "stream-ingest")
    assert metrics.groupBy("run_id", "name").count().where(F.col("count") > 1).count() == 0
    total = {r["name"]: r["value"] for r in metrics.groupBy("name").agg(F.sum("value").alias("value")).collect()}
    quarantined = lake.read("bronze.quarantine").count()
    assert total["messages"] == produced
    assert total["records_accepted"] + total["records_quarantined"] == produced
    assert total["records_accepted"] == total["silver.events.input"]
    assert total["silver.events.accepted"] == silver.count()
    assert total["records_quarantined"] + total["silver.events.quarantined"] == quarantined

    # The short-term state: one row per user, as of the user's latest event.
    state = lake.read(SHORT_TERM)
    latest = silver.groupBy("user_id").agg(F.max("event_ts").alias("newest"))
    assert state.count() == state.select("user_id").distinct().count() == latest.count()
    assert state.join(latest, "user_id").where(F.col("last_active") != F.col("newest")).count() == 0


def test_short_term_state_follows_sessions_and_keeps_the_last_items(spark, config):
    lake = Lake(spark, config)
    t0 = dt.datetime(2024, 5, 1, 12, 0)
    schema = "user_id string, event_ts timestamp, event_type string, content_id string, creator_id string"

    def events(rows):
        return spark.createDataFrame(rows, schema)

    def fold(rows, batch):
        return update(lake, events(rows), items=3, gap_s=1800, window_s=3600, buckets=4,
                      updated_at=t0, ingest_id=f"b{batch}", key=None)

    m = dt.timedelta(minutes=1)
    fold([("u1", t0, "like", "i1", "c1"), ("u1", t0 + m, "view", "i2", "c1"),
          ("u2", t0, "skip", "i3", "c2")], 0)
    fold([("u1", t0 + 5 * m, "share", "i4", "c2"), ("u1", t0 + 6 * m, "hide", "i5", "c3")], 1)
    rows = {r["user_id"]: r for r in lake.read(SHORT_TERM).collect()}
    u1 = rows["u1"]
    # The session goes on (5 minutes < the 30-minute gap): interest adds up across batches.
    assert u1["session_start"] == t0 and u1["session_events"] == 4
    assert u1["session_creator_interest"] == {"c1": 1.2, "c2": 2.0, "c3": -2.0}
    assert [i["content_id"] for i in u1["last_items"]] == ["i2", "i4", "i5"]
    assert u1["last_active"] == t0 + 6 * m and u1["events_last_hour"] == 4
    assert rows["u2"]["session_creator_interest"] == {"c2": -0.5}

    # Two hours later: a new session, the old one's interest dropped, the hour window moved on.
    later = t0 + 120 * m
    fold([("u1", later, "like", "i6", "c4")], 2)
    u1 = {r["user_id"]: r for r in lake.read(SHORT_TERM).collect()}["u1"]
    assert u1["session_start"] == later and u1["session_events"] == 1
    assert u1["session_creator_interest"] == {"c4": 1.0}
    assert u1["events_last_hour"] == 1
    assert [i["content_id"] for i in u1["last_items"]] == ["i4", "i5", "i6"]
    assert lake.read(SHORT_TERM).count() == 2  # u2's row untouched


def test_late_events_are_counted_against_a_watermark_robust_to_clocks_ahead(spark, config):
    from foryou.stream.batch import StreamState, _late

    t0 = dt.datetime(2024, 5, 1, 12, 0)
    state = StreamState(spark, Lake(spark, config), StreamSettings.of(config), "q", b"k",
                        max_event_ts=t0)
    hour = dt.timedelta(hours=1)
    # 200 events around t0, two hours back (late: the watermark is t0 - 1 h), and one clock a
    # year ahead that must not become the newest event time.
    times = ([t0 - 2 * hour] * 3 + [t0 + dt.timedelta(seconds=i) for i in range(200)]
             + [t0 + 365 * 24 * hour])
    frame = spark.createDataFrame([(t,) for t in times], "event_ts timestamp")
    late = _late(state, frame)
    assert late["late"] == 3 and late["watermark"] == t0 - hour
    assert t0 < late["max_event_ts"] < t0 + hour


def test_cluster_ids_never_read_as_a_flag():
    from foryou.stream.broker import _cluster_id

    ids = {_cluster_id() for _ in range(2000)}  # a leading "-" came up 1 time in 64
    assert len(ids) == 2000 and not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)
