"""``foryou stream-ingest``'s streaming query: Kafka in, one micro-batch at a time through
:func:`foryou.stream.batch.process`.

Spark's own Kafka source (``spark-sql-kafka-0-10``) reads ``stream.topic``; ``foreachBatch``
hands each micro-batch to foryou's lake layer, so both lake backends (Delta-Spark and the
delta-rs bridge) take streamed rows. The checkpoint (offsets and commits) lives under the lake
root unless ``stream.checkpoint`` says otherwise; a restarted query goes on from it.

Triggers: ``available_now`` processes what the topic holds and stops (a scheduled job, as
Databricks runs ``Trigger.AvailableNow``); otherwise a micro-batch every ``stream.trigger_s``
seconds until stopped.
"""
from __future__ import annotations

import logging
import os
import threading

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from foryou.config.settings import StreamSettings
from foryou.connectors import ConnectorError, jars
from foryou.lake import Lake
from foryou.privacy.pseudonyms import load_key
from foryou.stream.batch import StreamState, process, restore_watermark

log = logging.getLogger("foryou.stream")
KAFKA_SOURCE = "org.apache.spark.sql.kafka010.KafkaSourceProvider"


def checkpoint_of(config: StreamSettings) -> str:
    """The query's checkpoint location (``stream.checkpoint``, else under the lake root)."""
    if config.stream.checkpoint:
        return config.stream.checkpoint
    return os.path.join(config.lake.root, "_checkpoints", "stream-ingest")


def kafka_source(spark: SparkSession, config: StreamSettings) -> DataFrame:
    """The topic as a streaming frame (key, value, topic, partition, offset, timestamp)."""
    _check_source(spark)
    settings = config.stream
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", settings.bootstrap_servers)
              .option("subscribe", settings.topic)
              .option("startingOffsets", settings.starting_offsets)
              # A topic whose old messages were deleted by retention is a gap to report, not
              # a reason to stop the feed; the lost range is logged by Spark.
              .option("failOnDataLoss", "false"))
    if settings.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
    for name, value in settings.kafka_options.items():
        reader = reader.option(f"kafka.{name}", value)
    return reader.load()


def _check_source(spark: SparkSession) -> None:
    """Fail in one line when the session lacks Spark's Kafka source."""
    try:
        # Spark's class loader sees spark.jars; the system one does not.
        spark.sparkContext._jvm.org.apache.spark.util.Utils.classForName(KAFKA_SOURCE, True, False)
    except Exception:  # noqa: BLE001 - py4j wraps ClassNotFoundException
        hint = ("run `make setup`" if not jars("kafka") else
                "under spark-submit pass $(python -m foryou.connectors submit-args kafka)")
        raise ConnectorError(f"this Spark session has no Kafka source ({KAFKA_SOURCE}): {hint}, "
                             f"or --packages org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0") from None


def start(spark: SparkSession, lake: Lake, config: StreamSettings, available_now: bool = False,
          trigger_s: int | None = None) -> tuple[StreamingQuery, StreamState]:
    """Start the query; returns it and the state its micro-batches share."""
    source = kafka_source(spark, config)
    key = load_key(config.privacy, spark).value
    holder: dict[str, StreamState] = {}
    ready = threading.Event()

    def each(batch: DataFrame, batch_id: int) -> None:
        ready.wait()
        counts = process(holder["state"], batch, batch_id)
        if counts.messages:
            s = counts.silver
            log.info("batch %d: %d messages = %d bronze + %d quarantined; silver %d inserted, "
                     "%d duplicates, %d late, %.1fs", batch_id, counts.messages, counts.bronze,
                     counts.quarantined_ingest, s.accepted if s else 0, s.duplicates if s else 0,
                     counts.late, counts.seconds)

    writer = (source.writeStream.foreachBatch(each)
              .option("checkpointLocation", checkpoint_of(config))
              .queryName("foryou-stream-ingest"))
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{trigger_s or config.stream.trigger_s} seconds")
    query = writer.start()
    # The query's id is kept in its checkpoint: the same across restarts, so are the keys.
    state = StreamState(spark, lake, config, str(query.id), key)
    try:
        restore_watermark(state)
    finally:
        holder["state"] = state
        ready.set()
    return query, state
