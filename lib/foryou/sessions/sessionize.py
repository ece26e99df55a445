"""Cut each user's events into sessions at inactivity gaps, distributed and skew-safe.

A session is a maximal run of one user's events in which consecutive events are at most
``gap`` apart; an event more than ``gap`` after the previous one starts a new session. The
cut runs in two passes so that no task ever holds all events of one user:

1. **Segments.** Events are shuffled by ``(user_id, chunk)``, where ``chunk`` is the
   ``chunk_minutes``-long time bucket of ``event_ts``, and sorted within each task by
   ``(user_id, event_ts)``. A single vectorised numpy pass per Arrow batch
   (:func:`segment_batches`, run with ``mapInArrow``) cuts a *segment* wherever the user or
   the chunk changes or the gap exceeds the threshold, and aggregates it (start, end,
   counts, watch time). A hot user (a bot with millions of events) is spread over as many
   tasks as it has active chunks instead of stalling one.
2. **Stitch.** Segments are far fewer than events (one per session, plus one per chunk edge
   a session crosses, so at most ``24 * 60 / chunk_minutes + 24 * 60 / gap`` per user and
   day). Two adjacent segments of a user belong to one session when the second starts at
   most ``gap`` after the first ends; a window over the segments (``lag`` + running sum of
   the "new session" flags) numbers the sessions and a group-by sums them up.

Only the four columns the sessions need are projected before the shuffle. The result is the
same as the textbook single-pass definition (LAG over the user's events, gap flag,
cumulative sum, group by), which ``bench/sessionize.py`` checks against DuckDB.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from foryou.lake.vocabulary import EVENT_TS, EVENT_TYPE, USER_ID, WATCH_MS  # silver.events

# Output columns (silver.sessions contracts).
SESSION_ID = "session_id"
SESSION_START = "session_start"
SESSION_END = "session_end"
DURATION_S = "duration_s"
EVENTS = "events"
VIEWS = "views"
ENGAGEMENTS = "engagements"
SESSION_DATE = "session_date"

VIEW = "view"
# Engagement event types counted in ``engagements`` (DESIGN.md).
ENGAGEMENT_TYPES = ("like", "comment", "share", "follow", "save")

# Internal columns of the segment pass.
_IS_VIEW = "_is_view"
_IS_ENGAGEMENT = "_is_engagement"
_SEG_START = "_seg_start"
_SEG_END = "_seg_end"
_NEW = "_new_session"
_SEQ = "_session_seq"

SEGMENT_SCHEMA = StructType([
    StructField(USER_ID, StringType()),
    StructField(_SEG_START, TimestampType()),
    StructField(_SEG_END, TimestampType()),
    StructField(EVENTS, LongType()),
    StructField(VIEWS, LongType()),
    StructField(WATCH_MS, LongType()),
    StructField(ENGAGEMENTS, LongType()),
])

SESSION_SCHEMA = StructType([
    StructField(SESSION_ID, StringType()),
    StructField(USER_ID, StringType()),
    StructField(SESSION_START, TimestampType()),
    StructField(SESSION_END, TimestampType()),
    StructField(DURATION_S, DoubleType()),
    StructField(EVENTS, LongType()),
    StructField(VIEWS, LongType()),
    StructField(WATCH_MS, LongType()),
    StructField(ENGAGEMENTS, LongType()),
    StructField(SESSION_DATE, DateType()),
])

_MICROS_PER_MINUTE = 60_000_000
_ARROW_SEGMENTS = pa.schema([
    pa.field(USER_ID, pa.string()),
    pa.field(_SEG_START, pa.timestamp("us", tz="UTC")),
    pa.field(_SEG_END, pa.timestamp("us", tz="UTC")),
    pa.field(EVENTS, pa.int64()),
    pa.field(VIEWS, pa.int64()),
    pa.field(WATCH_MS, pa.int64()),
    pa.field(ENGAGEMENTS, pa.int64()),
])


def session_id(user_id, session_start) -> F.Column:
    """Deterministic session id: the first 32 hex digits of SHA-256(user_id | start in µs).

    A session keeps its id when a later run extends it (its start never moves), so
    replacing partitions by ``session_id`` stays consistent across runs.
    """
    key = F.concat_ws("|", F.col(user_id) if isinstance(user_id, str) else user_id,
                      F.unix_micros(F.col(session_start) if isinstance(session_start, str)
                                    else session_start).cast("string"))
    return F.substring(F.sha2(key, 256), 1, 32)


def chunked_events(events: DataFrame, chunk_minutes: int, partitions: int | None = None) -> DataFrame:
    """The projected events, shuffled by (user, time chunk) and sorted by (user, time).

    This is the frame the segment pass runs over; its partition sizes show how evenly a hot
    user is spread (``spark_partition_id`` counts).
    """
    chunk_us = chunk_minutes * _MICROS_PER_MINUTE
    projected = events.select(
        F.col(USER_ID),
        F.col(EVENT_TS),
        (F.col(EVENT_TYPE) == VIEW).cast("tinyint").alias(_IS_VIEW),
        F.when(F.col(EVENT_TYPE) == VIEW, F.coalesce(F.col(WATCH_MS), F.lit(0)))
        .otherwise(F.lit(0)).cast("long").alias(WATCH_MS),
        F.col(EVENT_TYPE).isin(*ENGAGEMENT_TYPES).cast("tinyint").alias(_IS_ENGAGEMENT),
    ).where(F.col(USER_ID).isNotNull() & F.col(EVENT_TS).isNotNull())
    chunk = F.floor(F.unix_micros(F.col(EVENT_TS)) / F.lit(chunk_us))
    n = partitions or int(events.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    return (projected.repartition(n, F.col(USER_ID), chunk)
            .sortWithinPartitions(USER_ID, EVENT_TS))


class _Carry:
    """The last segment of a batch, which the next batch may continue."""

    __slots__ = ("user", "chunk", "start", "end", "events", "views", "watch", "engagements")

    def __init__(self, user, chunk, start, end, events, views, watch, engagements):
        self.user, self.chunk, self.start, self.end = user, chunk, start, end
        self.events, self.views, self.watch, self.engagements = events, views, watch, engagements

    def table(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([
            pa.array([self.user], pa.string()),
            pa.array([self.start], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array([self.end], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            pa.array([self.events], pa.int64()),
            pa.array([self.views], pa.int64()),
            pa.array([self.watch], pa.int64()),
            pa.array([self.engagements], pa.int64()),
        ], schema=_ARROW_SEGMENTS)


def segment_batches(batches: Iterator[pa.RecordBatch], gap_minutes: int,
                    chunk_minutes: int) -> Iterator[pa.RecordBatch]:
    """Cut one task's (user, time)-sorted events into aggregated segments.

    Vectorised per batch: a boolean "starts a segment" per row (user changed, chunk changed,
    or more than the gap since the previous row), then ``np.add.reduceat`` sums each segment.
    The batch's last segment is carried into the next batch, which may continue it.

    Args:
        batches: Arrow batches with columns user_id, event_ts, _is_view, watch_ms,
            _is_engagement, sorted by (user_id, event_ts) across the whole iterator.
        gap_minutes: inactivity gap.
        chunk_minutes: the time chunk the events were shuffled by.

    Returns:
        Batches of segments (user_id, _seg_start, _seg_end, events, views, watch_ms,
        engagements).
    """
    gap_us = gap_minutes * _MICROS_PER_MINUTE
    chunk_us = chunk_minutes * _MICROS_PER_MINUTE
    carry: _Carry | None = None
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        users = batch.column(USER_ID)
        ts = batch.column(EVENT_TS).cast(pa.int64()).to_numpy()
        views = batch.column(_IS_VIEW).to_numpy(zero_copy_only=False).astype(np.int64)
        watch = batch.column(WATCH_MS).to_numpy(zero_copy_only=False)
        engagements = batch.column(_IS_ENGAGEMENT).to_numpy(zero_copy_only=False).astype(np.int64)
        chunk = ts // chunk_us

        new = np.empty(n, dtype=bool)
        new[0] = True
        if n > 1:
            user_changed = pc.not_equal(users.slice(1), users.slice(0, n - 1))
            new[1:] = (user_changed.to_numpy(zero_copy_only=False)
                       | (chunk[1:] != chunk[:-1]) | (np.diff(ts) > gap_us))
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], n) - 1
        seg_user = users.take(pa.array(starts))
        seg_start = ts[starts]
        seg_end = ts[ends]
        seg_chunk = chunk[starts]
        seg_events = (ends - starts + 1).astype(np.int64)
        seg_views = np.add.reduceat(views, starts)
        seg_watch = np.add.reduceat(watch, starts)
        seg_eng = np.add.reduceat(engagements, starts)

        if carry is not None:
            if (carry.user == seg_user[0].as_py() and carry.chunk == seg_chunk[0]
                    and seg_start[0] - carry.end <= gap_us):
                seg_start[0] = carry.start
                seg_events[0] += carry.events
                seg_views[0] += carry.views
                seg_watch[0] += carry.watch
                seg_eng[0] += carry.engagements
            else:
                yield carry.table()
        last = len(starts) - 1
        carry = _Carry(seg_user[last].as_py(), int(seg_chunk[last]), int(seg_start[last]),
                       int(seg_end[last]), int(seg_events[last]), int(seg_views[last]),
                       int(seg_watch[last]), int(seg_eng[last]))
        if last:
            yield pa.RecordBatch.from_arrays([
                seg_user.slice(0, last),
                pa.array(seg_start[:last]).cast(pa.timestamp("us", tz="UTC")),
                pa.array(seg_end[:last]).cast(pa.timestamp("us", tz="UTC")),
                pa.array(seg_events[:last]),
                pa.array(seg_views[:last]),
                pa.array(seg_watch[:last]),
                pa.array(seg_eng[:last]),
            ], schema=_ARROW_SEGMENTS)
    if carry is not None:
        yield carry.table()


def segments(events: DataFrame, gap_minutes: int, chunk_minutes: int,
             partitions: int | None = None) -> DataFrame:
    """Pass 1: per-(user, chunk) segments of ``events`` (see the module docstring)."""
    def cut(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return segment_batches(batches, gap_minutes, chunk_minutes)

    return chunked_events(events, chunk_minutes, partitions).mapInArrow(cut, SEGMENT_SCHEMA)


def stitch(segs: DataFrame, gap_minutes: int) -> DataFrame:
    """Pass 2: join a user's adjacent segments at most ``gap`` apart into sessions."""
    gap_us = gap_minutes * _MICROS_PER_MINUTE
    by_user = Window.partitionBy(USER_ID).orderBy(_SEG_START)
    prev_end = F.lag(F.unix_micros(F.col(_SEG_END))).over(by_user)
    flagged = segs.withColumn(
        _NEW, F.when(prev_end.isNull() | (F.unix_micros(F.col(_SEG_START)) - prev_end > gap_us), 1)
        .otherwise(0))
    numbered = flagged.withColumn(
        _SEQ, F.sum(_NEW).over(by_user.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
    sessions = numbered.groupBy(USER_ID, _SEQ).agg(
        F.min(_SEG_START).alias(SESSION_START),
        F.max(_SEG_END).alias(SESSION_END),
        F.sum(EVENTS).alias(EVENTS),
        F.sum(VIEWS).alias(VIEWS),
        F.sum(WATCH_MS).alias(WATCH_MS),
        F.sum(ENGAGEMENTS).alias(ENGAGEMENTS),
    )
    return sessions.select(
        session_id(USER_ID, SESSION_START).alias(SESSION_ID),
        USER_ID, SESSION_START, SESSION_END,
        ((F.unix_micros(SESSION_END) - F.unix_micros(SESSION_START)) / 1e6).alias(DURATION_S),
        EVENTS, VIEWS, WATCH_MS, ENGAGEMENTS,
        F.to_date(SESSION_START).alias(SESSION_DATE),
    )


def sessionize(events: DataFrame, gap_minutes: int = 30, chunk_minutes: int = 60,
               partitions: int | None = None) -> DataFrame:
    """Sessions of ``events`` (columns user_id, event_ts, event_type, watch_ms at least).

    Args:
        events: one row per event; other columns are ignored.
        gap_minutes: a gap of more than this between two events of a user starts a new session.
        chunk_minutes: length of the time chunks a user's events are spread over (skew).
        partitions: tasks of the segment pass (default ``spark.sql.shuffle.partitions``).

    Returns:
        One row per session, with the columns of ``silver.sessions`` (``SESSION_SCHEMA``).

    Example:
        >>> sessionize(spark.read.parquet("events/"), gap_minutes=30).count()  # doctest: +SKIP
    """
    if gap_minutes <= 0 or chunk_minutes <= 0:
        raise ValueError(f"gap_minutes={gap_minutes}, chunk_minutes={chunk_minutes}: both must be > 0")
    return stitch(segments(events, gap_minutes, chunk_minutes, partitions), gap_minutes)
