"""``gold.user_short_term``: each user's last minutes, kept fresh by every micro-batch.

One row per user (pseudonymised id): the last N events about an item, the current session's
start, length and tag and creator interest, the latest activity and the events of the last
hour. A micro-batch updates only the users it saw: their rows are merged with the batch's
events and the table's buckets holding them (``user_bucket``) are replaced in one commit,
keyed by the micro-batch, so a re-run commits nothing twice and a reader always sees a
whole version.

Sessions follow ``sessions.gap_minutes``: a batch whose first event of a user comes more than
the gap after the user's ``last_active`` (or a gap inside the batch) starts a new session and
drops the old session's interest. Interest is a sum of :data:`INTEREST_WEIGHTS` per event.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.lake import CommitKey, Lake, WriteResult
from foryou.lake.vocabulary import (
    CONTENT_ID, CREATOR_ID, EVENT_TS, GOLD_USER_SHORT_TERM as TABLE, INTEREST_WEIGHTS, SILVER_CONTENT,
    USER_ID,
)

BUCKET = "user_bucket"


def bucket_of(user: Column, buckets: int) -> Column:
    """The ``user_bucket`` of a user id."""
    return F.pmod(F.xxhash64(user), F.lit(buckets)).cast("int")


def _weight() -> Column:
    weight = F.lit(0.0)
    for event_type, w in INTEREST_WEIGHTS.items():
        weight = F.when(F.col("event_type") == event_type, F.lit(w)).otherwise(weight)
    return weight


def _interest(events: DataFrame, key: str) -> DataFrame:
    """Per user, a map ``key`` value -> summed weight over the session's events."""
    return (events.where(F.col(key).isNotNull()).groupBy(USER_ID, key)
            .agg(F.sum("_w").alias("_sum"))
            .groupBy(USER_ID).agg(F.map_from_entries(F.collect_list(F.struct(key, "_sum"))).alias(key)))


def _add(old: Column | None, new: Column) -> Column:
    """Two interest maps summed key by key (a missing map counts as empty)."""
    empty = F.create_map().cast("map<string,double>")
    return F.map_zip_with(empty if old is None else F.coalesce(old, empty),
                          F.coalesce(new, F.create_map().cast("map<string,double>")),
                          lambda _k, a, b: F.coalesce(a, F.lit(0.0)) + F.coalesce(b, F.lit(0.0)))


def batch_state(events: DataFrame, content: DataFrame | None, gap_s: int) -> DataFrame:
    """Per user of ``events`` (silver rows of one micro-batch): the batch's own summary.

    Columns: ``b_first``, ``b_last`` (event times), ``b_split`` (start of the last session
    that began inside the batch, else null), ``b_items`` (item events, time-ordered),
    ``b_ts``, and the session's ``b_events``, ``b_tags``, ``b_creators``."""
    w = Window.partitionBy(USER_ID).orderBy(EVENT_TS)
    gap = F.col(EVENT_TS).cast("long") - F.lag(EVENT_TS).over(w).cast("long") > gap_s
    events = (events.select(USER_ID, EVENT_TS, "event_type", CONTENT_ID, CREATOR_ID)
              .withColumn("_w", _weight())
              .withColumn("_starts", F.when(gap, F.col(EVENT_TS))))
    per_user = events.groupBy(USER_ID).agg(
        F.min(EVENT_TS).alias("b_first"), F.max(EVENT_TS).alias("b_last"),
        F.max("_starts").alias("b_split"),
        F.sort_array(F.collect_list(F.when(F.col(CONTENT_ID).isNotNull(), F.struct(
            F.col(EVENT_TS).alias(EVENT_TS), F.col(CONTENT_ID).alias(CONTENT_ID),
            F.col(CREATOR_ID), F.col("event_type"))))).alias("b_items"),
        F.collect_list(EVENT_TS).alias("b_ts"))
    # The session's part of the batch: events from the last in-batch session start on.
    session = (events.join(per_user.select(USER_ID, "b_split"), USER_ID)
               .where(F.col("b_split").isNull() | (F.col(EVENT_TS) >= F.col("b_split"))))
    counted = session.groupBy(USER_ID).agg(F.count(F.lit(1)).alias("b_events"))
    creators = _interest(session.withColumnRenamed(CREATOR_ID, "b_creators"), "b_creators")
    if content is not None:
        tagged = (session.join(content.select(CONTENT_ID, "tags"), CONTENT_ID, "left")
                  .select(USER_ID, "_w", F.explode_outer("tags").alias("b_tags")))
    else:
        tagged = session.select(USER_ID, "_w", F.lit(None).cast("string").alias("b_tags"))
    tags = _interest(tagged, "b_tags")
    return (per_user.join(counted, USER_ID, "left").join(creators, USER_ID, "left")
            .join(tags, USER_ID, "left"))


def merge(old: DataFrame, batch: DataFrame, *, items: int, gap_s: int, window_s: int,
          buckets: int, updated_at, ingest_id: str) -> DataFrame:
    """New rows for the batch's users: ``old`` (their current rows, if any) and ``batch``
    (:func:`batch_state`) combined."""
    joined = batch.join(old, USER_ID, "left")
    # The old session goes on when no gap separates it from the batch.
    goes_on = (F.col("b_split").isNull() & F.col("last_active").isNotNull()
               & (F.col("b_first").cast("long") - F.col("last_active").cast("long") <= gap_s))
    last_active = F.greatest(F.col("b_last"), F.coalesce(F.col("last_active"), F.col("b_last")))
    recent = F.filter(F.concat(F.coalesce(F.col("recent_event_ts"), F.array().cast("array<timestamp>")),
                               F.col("b_ts")),
                      lambda t: t.cast("long") > last_active.cast("long") - window_s)
    every = F.sort_array(F.concat(F.coalesce(F.col("last_items"), F.array().cast(
        "array<struct<event_ts:timestamp,content_id:string,creator_id:string,event_type:string>>")),
        F.col("b_items")))
    kept = F.slice(every, F.greatest(F.size(every) - items + 1, F.lit(1)), items)
    return joined.select(
        F.col(USER_ID),
        bucket_of(F.col(USER_ID), buckets).alias(BUCKET),
        kept.alias("last_items"),
        F.when(goes_on, F.col("session_start"))
         .otherwise(F.coalesce(F.col("b_split"), F.col("b_first"))).alias("session_start"),
        (F.when(goes_on, F.col("session_events")).otherwise(0)
         + F.coalesce(F.col("b_events"), F.lit(0))).alias("session_events"),
        F.when(goes_on, _add(F.col("session_tag_interest"), F.col("b_tags")))
         .otherwise(_add(None, F.col("b_tags"))).alias("session_tag_interest"),
        F.when(goes_on, _add(F.col("session_creator_interest"), F.col("b_creators")))
         .otherwise(_add(None, F.col("b_creators"))).alias("session_creator_interest"),
        last_active.alias("last_active"),
        recent.alias("recent_event_ts"),
        F.size(recent).alias("events_last_hour"),
        F.lit(updated_at).cast("timestamp").alias("updated_at"),
        F.lit(ingest_id).alias("ingest_id"),
    )


def update(lake: Lake, events: DataFrame, *, items: int, gap_s: int, window_s: int,
           buckets: int, updated_at, ingest_id: str, key: CommitKey) -> WriteResult | None:
    """Fold one micro-batch's silver events into ``gold.user_short_term``: the buckets of the
    users it saw are rewritten (other users' rows kept as they were) in one commit keyed by
    ``key``. Returns None when the batch has no events."""
    content = lake.read(SILVER_CONTENT) if lake.exists(SILVER_CONTENT) else None
    batch = batch_state(events, content, gap_s).withColumn(BUCKET, bucket_of(F.col(USER_ID), buckets))
    batch = batch.persist()
    try:
        # bounded: at most stream.short_term_buckets values
        touched = sorted(r[0] for r in batch.select(BUCKET).distinct().collect())
        if not touched:
            return None
        old = (lake.read(TABLE, partitions=touched) if lake.exists(TABLE)
               else lake.spark.createDataFrame([], lake.spec(TABLE).schema))
        fresh = merge(old.drop(BUCKET), batch.drop(BUCKET), items=items, gap_s=gap_s,
                      window_s=window_s, buckets=buckets, updated_at=updated_at, ingest_id=ingest_id)
        kept = old.join(batch.select(USER_ID), USER_ID, "left_anti")
        rows = kept.unionByName(fresh.select(*old.columns))
        # One file per bucket: a micro-batch rewrites a few small files, not one per task.
        return lake.replace_partitions(TABLE, rows.repartition(BUCKET), partitions=touched, key=key)
    finally:
        batch.unpersist()
