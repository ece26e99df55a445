"""One micro-batch of ``foryou stream-ingest``: Kafka messages to bronze, silver and
``gold.user_short_term``, exactly once.

The steps mirror the batch path, with the same code wherever the batch path has it:

1. **bronze**: each message's value is parsed as a JSON line (:func:`~foryou.ingest.records.
   parse_json_lines`) and checked and emitted by the native adapter's declarations
   (:mod:`foryou.ingest.native`), so a record gets the same bronze row, or the same
   quarantine reason naming the field, as in a file. ``record_ref`` names the message
   (``kafka <topic> partition P offset O``); an empty message is quarantined too.
2. **silver**: the accepted rows are cleaned as ``foryou clean`` cleans them
   (:func:`~foryou.clean.fields.classify_events`: normalisation, the same rejections, one row
   per ``event_id`` within the batch), pseudonymised, and inserted with
   :meth:`Lake.insert_new`, which drops ``event_id``s already in silver (re-sent or replayed
   events, across batches). Events more than ``stream.watermark_s`` behind the newest event
   time seen before the batch are **late**: kept all the same, and counted. "Newest" is each
   batch's 99th percentile of event time (:data:`NEWEST_QUANTILE`), so the few devices whose
   clocks run ahead (but not far enough to be rejected) do not make every later event late.
3. **short-term state**: the silver rows the batch inserted update their users' rows of
   ``gold.user_short_term`` (:mod:`foryou.stream.short_term`).
4. **metrics**: the batch's counts and latencies in ``gold.metrics``.

**Exactly once.** Every write carries a commit key made of the query's id (kept in its
checkpoint) and the batch id, which Spark reuses when it re-runs a batch after a failure. A
batch killed after some of its commits re-runs from the same offsets: committed parts are
skipped (Delta's ``txn``), the rest commit once. ``ingested_at`` is the newest Kafka timestamp
in the batch (the broker's clock on topics ``foryou broker`` creates), the same on every
attempt, so re-computed rows equal the committed ones.

**Counts add up**, per batch: messages = bronze accepted + quarantined by ingest; bronze
accepted = silver inserted + quarantined by clean + duplicates (in the batch, or in silver
already). A mismatch stops the query before Spark records the batch as done.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import time
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foryou.clean.fields import RANK, RAW_USER_ID, REJECT, classify_events
from foryou.clean.stage import (BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS, CleanCounts,
                                quarantine_frame)
from foryou.config.settings import StreamSettings
from foryou.ingest.batch import REASON, quarantine_extras, safe_payload
from foryou.ingest.native import EVENT_FIELDS, EVENTS, SOURCE_NAME, check_fields, emit_fields
from foryou.ingest.records import BLANK, BLOCK, FILE, MALFORMED, PAYLOAD, ROWID, parse_json_lines
from foryou.lake import CommitKey, Lake, table
from foryou.lake.vocabulary import (
    USER_ID,EVENT_DATE, EVENT_ID, EVENT_TS, INGEST_DATE, INGEST_ID,
                                    INGESTED_AT, RECORD_REF, SOURCE)
from foryou.privacy.pseudonyms import with_pseudonyms
from foryou.runtime.metrics import METRICS_TABLE, Metrics
from foryou.stream import short_term

JOB = "stream-ingest"
KAFKA_TS = "_kafka_ts"
EMPTY_MESSAGE = "empty message: no record"
# Quantiles of each batch's produce-to-silver latency recorded in gold.metrics.
LATENCY_QUANTILES = tuple(round(q / 20, 2) for q in range(1, 20)) + (0.99,)
# Fault injection for the exactly-once tests: "<point>:<batch id>" kills the process with
# SIGKILL at that point of that batch (points: see CHAOS_POINTS).
CHAOS_ENV = "FORYOU_STREAM_KILL"
# The quantile of a batch's event times taken as its newest event (the watermark's base).
NEWEST_QUANTILE = 0.99
CHAOS_POINTS = ("before-bronze", "after-bronze", "after-silver", "after-metrics")


class StreamCountMismatch(AssertionError):
    """A micro-batch's counts do not add up: rows were lost or invented."""


@dataclass
class BatchCounts:
    """Where one micro-batch's messages went."""

    batch_id: int
    messages: int = 0
    bronze: int = 0
    quarantined_ingest: int = 0
    silver: CleanCounts | None = None
    late: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.messages != self.bronze + self.quarantined_ingest:
            raise StreamCountMismatch(f"batch {self.batch_id}: {self.messages:,} messages != "
                                      f"{self.bronze:,} bronze + {self.quarantined_ingest:,} quarantined")
        if self.silver is not None:
            self.silver.check()
            if self.silver.input != self.bronze:
                raise StreamCountMismatch(f"batch {self.batch_id}: {self.bronze:,} bronze rows but "
                                          f"{self.silver.input:,} cleaned")


@dataclass
class StreamState:
    """What every micro-batch of one query shares."""

    spark: SparkSession
    lake: Lake
    config: StreamSettings
    query_id: str
    pseudonym_key: bytes
    # The newest event time of the batches before (the late-event watermark's base).
    max_event_ts: dt.datetime | None = None
    history: list[BatchCounts] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return self.query_id.replace("-", "")[:12]

    def ingest_id(self, batch_id: int) -> str:
        return f"stream-{self.tag}-{batch_id:08d}"

    def key(self, batch_id: int, part: str) -> CommitKey:
        return CommitKey(JOB, self.query_id, f"{part}/{batch_id}")


def chaos(point: str, batch_id: int) -> None:
    """Kill this process (SIGKILL: no clean-up runs) if ``FORYOU_STREAM_KILL`` asks for it here."""
    if os.environ.get(CHAOS_ENV) == f"{point}:{batch_id}":
        os.kill(os.getpid(), signal.SIGKILL)


def restore_watermark(state: StreamState) -> None:
    """The newest event time this query recorded before a restart (from gold.metrics)."""
    if not state.lake.exists(METRICS_TABLE):
        return
    row = (state.lake.read(METRICS_TABLE)
           .where((F.col("stage") == JOB) & (F.col("name") == "max_event_ts")
                  & F.col("run_id").startswith(f"stream-{state.tag}-"))
           .agg(F.max("value")).first())
    if row and row[0] is not None:
        state.max_event_ts = dt.datetime.fromtimestamp(row[0], dt.timezone.utc).replace(tzinfo=None)


def _records(batch: DataFrame) -> DataFrame:
    """The messages as raw records, located by topic, partition and offset."""
    located = batch.select(F.col("value").cast("string").alias(PAYLOAD),
                           F.col("topic").alias(FILE), F.col("partition").cast("long").alias(BLOCK),
                           F.col("offset").alias(ROWID), F.col("timestamp").alias(KAFKA_TS))
    parsed = parse_json_lines(located.fillna({PAYLOAD: ""}), list(EVENT_FIELDS), keep=(KAFKA_TS,))
    required = [c for c in table(EVENTS).required if c in EVENT_FIELDS]
    checked = check_fields(parsed, EVENT_FIELDS, required)
    return checked.withColumn(REASON, F.when(F.col(BLANK), F.lit(EMPTY_MESSAGE))
                              .otherwise(F.coalesce(F.col(MALFORMED), F.col(REASON))))


def process(state: StreamState, batch: DataFrame, batch_id: int) -> BatchCounts:
    """Land one micro-batch (see the module doc); returns its counts, which add up."""
    started = time.perf_counter()
    lake, config = state.lake, state.config
    counts = BatchCounts(batch_id)
    chaos("before-bronze", batch_id)
    checked = _records(batch).persist()
    new_silver: DataFrame | None = None
    try:
        # The q-quantile of latency is the (1 - q)-quantile of the messages' timestamps.
        quantiles = F.percentile_approx(KAFKA_TS, [round(1 - q, 2) for q in LATENCY_QUANTILES], 1000)
        # bounded: one row
        summary = checked.agg(F.count(F.lit(1)).alias("n"), F.count(F.col(REASON)).alias("bad"),
                              F.max(KAFKA_TS).alias("received"), quantiles.alias("q")).first()
        counts.messages, counts.quarantined_ingest = int(summary["n"]), int(summary["bad"])
        if not counts.messages:
            return counts
        ingested_at: dt.datetime = summary["received"]
        ingest_id = state.ingest_id(batch_id)
        lineage = (checked.withColumn(INGEST_ID, F.lit(ingest_id))
                   .withColumn(SOURCE, F.lit(SOURCE_NAME))
                   .withColumn(INGESTED_AT, F.lit(ingested_at)))

        emitted = emit_fields(lineage.where(F.col(REASON).isNull()), EVENT_FIELDS, EVENTS)
        # bronze.events' row as a reader of the table sees it (declared columns, in order).
        accepted = emitted.select(*[F.col(f.name) if f.name in emitted.columns
                                    else F.lit(None).cast(f.dataType).alias(f.name)
                                    for f in table(EVENTS).schema.fields])
        written = lake.append(EVENTS, accepted, key=state.key(batch_id, "bronze"))
        if written.skipped:
            counts.skipped.append(EVENTS)
        counts.bronze = counts.messages - counts.quarantined_ingest
        if counts.quarantined_ingest:
            bad = lineage.where(F.col(REASON).isNotNull()).select(
                *safe_payload(F.col(PAYLOAD)), F.col(REASON).alias("reason"),
                F.concat_ws(" ", F.lit("kafka"), F.col(FILE), F.lit("partition"),
                            F.col(BLOCK).cast("string"), F.lit("offset"),
                            F.col(ROWID).cast("string")).alias(RECORD_REF),
                INGEST_ID, SOURCE, INGESTED_AT, F.to_date(F.col(INGESTED_AT)).alias(INGEST_DATE),
                *quarantine_extras(lineage))
            lake.append(QUARANTINE, bad, key=state.key(batch_id, "quarantine/ingest"))
        chaos("after-bronze", batch_id)

        counts.silver, new_silver = _silver(state, accepted, batch_id, ingest_id, ingested_at)
        chaos("after-silver", batch_id)
        late = _late(state, new_silver)
        counts.late = late["late"]

        if lake.exists(SILVER_EVENTS):
            short_term.update(
                lake, new_silver, items=config.stream.short_term_items,
                gap_s=config.sessions.gap_minutes * 60, window_s=config.stream.recent_window_s,
                buckets=config.stream.short_term_buckets, updated_at=ingested_at,
                ingest_id=ingest_id, key=state.key(batch_id, "short-term"))
        counts.check()
        counts.seconds = time.perf_counter() - started
        committed = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        _metrics(state, counts, ingested_at, committed, summary["q"], late).flush(
            lake.spark, lake, state.key(batch_id, "metrics"), False)
        if late["max_event_ts"] is not None:
            state.max_event_ts = max(filter(None, (state.max_event_ts, late["max_event_ts"])))
        chaos("after-metrics", batch_id)
    finally:
        checked.unpersist()
        if new_silver is not None:
            new_silver.unpersist()
    state.history.append(counts)
    return counts


def _silver(state: StreamState, bronze: DataFrame, batch_id: int, ingest_id: str,
            ingested_at: dt.datetime) -> tuple[CleanCounts, DataFrame]:
    """Clean the batch's bronze rows into silver.events (and their rejects into quarantine);
    returns the counts and the silver rows this batch inserted."""
    lake = state.lake
    classified = classify_events(bronze, state.config.clean).persist()
    try:
        # bounded: one row
        row = classified.agg(
            F.count(F.lit(1)).alias("input"), F.count(F.col(REJECT)).alias("rejected"),
            F.count(F.when(F.col(REJECT).isNull() & (F.col(RANK) > 1), 1)).alias("dups")).first()
        total, rejected, dups = int(row["input"]), int(row["rejected"]), int(row["dups"])
        if rejected:
            lake.append(QUARANTINE, quarantine_frame(classified.where(F.col(REJECT).isNotNull()),
                                                     BRONZE_EVENTS, EVENT_ID, F.col(RAW_USER_ID)),
                        key=state.key(batch_id, "quarantine/clean"))
        valid = classified.where(F.col(REJECT).isNull() & (F.col(RANK) == 1))
        rows = with_pseudonyms(valid, [USER_ID], state.pseudonym_key).select(
            *[c.name for c in table(SILVER_EVENTS).columns])
        unique = total - rejected - dups
        # bounded: the event dates of one micro-batch
        dates = [r[0] for r in rows.select(EVENT_DATE).distinct().collect()]
        inserted_rows = None
        if unique:
            lake.insert_new(SILVER_EVENTS, rows, key=state.key(batch_id, "silver"))
            # What this batch inserted, read back (also right after a re-run skipped the write).
            # Persisted: counted here, then read by the late count and the short-term state.
            inserted_rows = (lake.read(SILVER_EVENTS, partitions=dates)
                             .where(F.col(INGEST_ID) == ingest_id).persist())
        inserted = inserted_rows.count() if inserted_rows is not None else 0
        counts = CleanCounts(SILVER_EVENTS, total, inserted, rejected, dups, unique - inserted)
    finally:
        classified.unpersist()
    if inserted_rows is None:
        inserted_rows = state.spark.createDataFrame([], table(SILVER_EVENTS).schema)
    return counts, inserted_rows


def _late(state: StreamState, silver: DataFrame) -> dict:
    """How many inserted events are behind the watermark, and the batch's newest event
    time (its :data:`NEWEST_QUANTILE` quantile)."""
    watermark = (state.max_event_ts - dt.timedelta(seconds=state.config.stream.watermark_s)
                 if state.max_event_ts is not None else None)
    late = (F.count(F.when(F.col(EVENT_TS) < F.lit(watermark), 1)) if watermark is not None
            else F.lit(0))
    # bounded: one row
    row = silver.agg(late.alias("late"),
                     F.percentile_approx(EVENT_TS, NEWEST_QUANTILE).alias("newest")).first()
    return {"late": int(row["late"] or 0), "max_event_ts": row["newest"], "watermark": watermark}


def _metrics(state: StreamState, counts: BatchCounts, ingested_at: dt.datetime,
             committed: dt.datetime, kafka_quantiles, late: dict) -> Metrics:
    metrics = Metrics(state.ingest_id(counts.batch_id), JOB, ingested_at.date())
    metrics.record("messages", counts.messages, "rows", batch_id=counts.batch_id,
                   query_id=state.query_id)
    metrics.record("records_accepted", counts.bronze, "rows")
    metrics.record("records_quarantined", counts.quarantined_ingest, "rows")
    if counts.silver is not None:
        counts.silver.record(metrics)
    metrics.record("late_events", counts.late, "rows", watermark=late["watermark"],
                   watermark_s=state.config.stream.watermark_s)
    newest = max(filter(None, (state.max_event_ts, late["max_event_ts"])), default=None)
    if newest is not None:
        metrics.record("max_event_ts", newest.replace(tzinfo=dt.timezone.utc).timestamp(), "epoch_s")
    if kafka_quantiles:
        # Produce-to-silver latency per quantile: commit time minus the messages' timestamps.
        latency = {str(q): round((committed - ts).total_seconds() * 1000)
                   for q, ts in zip(LATENCY_QUANTILES, kafka_quantiles)}
        metrics.record("latency_ms.p50", latency["0.5"], "ms", quantiles=latency)
        metrics.record("latency_ms.p99", latency["0.99"], "ms")
    metrics.record("seconds", counts.seconds, "s", skipped=counts.skipped)
    return metrics
