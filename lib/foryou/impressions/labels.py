"""``silver.impressions``: one row per served item, with the outcome labels of KuaiRand.

**Rows.** One per ``impression`` event of the run date, keyed by ``(request_id, position)``
(a duplicate key keeps the earliest event; an impression without request_id, position or
content_id goes to ``bronze.quarantine`` with the field named). Logs without impressions
(``source = 'interactions'``, the generic adapter's view events) give one row per
interaction view, flagged ``has_impressions = false``, with ``request_id =
'interaction:<event_id>'`` and ``position = 0``; they are positives only, and a later stage
samples negatives for them.

**Attribution.** An outcome event (``view, complete_view, replay, like, comment, share,
follow, save, skip, hide, report``) of user U counts for the *latest* served row of U with
the same ``content_id`` shown at or before it and at most ``ATTRIBUTION_WINDOW`` (30 min,
the session gap) before it; when the outcome carries a ``request_id`` it must be that row's
request. A ``follow`` without a content_id matches on the item's ``creator_id`` (from the
impression event, else from silver.content). Outcomes of interaction logs only count for
interaction rows, and outcomes of impression logs only for impression rows. Outcomes after
midnight are read from the next day's partition (impressions of 23:50 get their 00:05 views):
the run for D+1 rebuilds D's partition when D+1's clean brought events of D or of D+1's
first window (:mod:`foryou.runtime.arrivals`), and any earlier date a late event landed in.
Unattributed outcomes are counted in gold.metrics.

**Labels** (KuaiRand definitions, so real KuaiRand logs map 1:1):

* ``click`` (KuaiRand ``is_click``): a valid play. For app logs (``source = 'native'``),
  whose view events record every play, swipes included, KuaiRand's rule on the play time
  (``watch_ms``) and the item's duration D: ``watch_ms >= D`` when ``D <= 7 s``, else
  ``watch_ms > 7 s`` (also when D is unknown). A replay only happens after a completed play,
  which is already a valid play, so the rule on the summed ``watch_ms`` equals the rule on the
  first play, as in the world's user model (``foryou.world.model``). For the KuaiRand adapter
  (a view event is emitted exactly when ``is_click = 1``, so the mapping stays 1:1 even where
  KuaiRand's flag disagrees with its own rule) and for interaction logs (every logged
  interaction is a positive), an attributed view is the valid play.
* ``watch_ms`` (``play_time_ms``): the sum of the attributed views' ``watch_ms``.
* ``long_view``: ``watch_ms >= min(duration_ms, 18 s)`` when the item's duration is known
  (silver.content.duration_ms, joined when the table exists), else ``watch_ms >= 18 s``.
* ``complete``: a ``complete_view`` event, or ``watch_ms >= duration_ms`` when known.
* ``watch_ratio``: ``watch_ms / duration_ms``; null when the duration is unknown or 0.
* ``like, comment, share, follow, save, skip, hide, report, replay``: 1 when at least one
  such event was attributed, else 0 (KuaiRand ``is_like``, ``is_comment``, ``is_forward``,
  ``is_follow``, ``is_hate`` for hide/report ...).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.lake import Lake
from foryou.lake.vocabulary import (
    CONTENT_ID, CREATOR_ID, DEVICE_TYPE, DURATION_MS, EVENT_DATE, EVENT_ID, EVENT_TS,
    EVENT_TYPE, EXPOSURE, INGEST_ID, INTERACTION_LOG, NETWORK_TYPE, OS, POSITION, REQUEST_ID,
    SILVER_CONTENT as CONTENT_TABLE, SILVER_EVENTS as EVENTS_TABLE, SOURCE, USER_ID, WATCH_MS,
)
from foryou.runtime.arrivals import day_start

# Table and column names (catalog contracts) come from foryou.lake.vocabulary, shared with
# cleaning.
HAS_IMPRESSIONS = "has_impressions"
CONTEXT = (DEVICE_TYPE, OS, NETWORK_TYPE)
CLICK, LONG_VIEW, COMPLETE, WATCH_RATIO, REPLAY = "click", "long_view", "complete", "watch_ratio", "replay"

IMPRESSION = "impression"
VIEW = "view"
COMPLETE_VIEW = "complete_view"
FOLLOW = "follow"
# Outcome types whose presence is a 0/1 label of the same name.
FLAG_LABELS = ("like", "comment", "share", "follow", "save", "skip", "hide", "report", "replay")
OUTCOME_TYPES = (VIEW, COMPLETE_VIEW, *FLAG_LABELS)

ATTRIBUTION_WINDOW = dt.timedelta(minutes=30)
# KuaiRand's long view: 18 s, or the whole video when it is shorter.
LONG_VIEW_MS = 18_000
# KuaiRand's valid play: the whole video when it lasts at most 7 s, else more than 7 s.
CLICK_MS = 7_000
# Sources whose view events are valid plays by construction (see the module docstring).
VIEW_IS_CLICK_SOURCES = ("kuairand", INTERACTION_LOG)
INTERACTION_REQUEST_PREFIX = "interaction:"
REJECTED_BY = "impressions"

# Internal columns.
_A_TS, _A_REQ, _A_CREATOR, _A_INTER = "_a_ts", "_a_request", "_a_creator", "_a_interactions"
_O_ID, _O_TS, _O_TYPE, _O_REQ, _O_WATCH, _O_INTER = (
    "_o_id", "_o_ts", "_o_type", "_o_request", "_o_watch", "_o_interactions")
_RANK = "_rank"
_REASON = "_reason"
_COMPLETE_EVENT = "_complete_event"
_VIEWED = "_viewed"


@dataclass(frozen=True)
class ImpressionCounts:
    """Where the run date's impression events went: input = served rows + duplicates +
    quarantined; plus the interaction rows and the rows with at least one outcome."""

    impression_events: int
    served_rows: int
    duplicates: int
    quarantined: int
    interaction_rows: int
    rows_with_outcome: int


def _midnight(day: dt.date) -> dt.datetime:
    # Timezone-aware: PySpark reads a naive datetime literal in the driver's local zone.
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)


def served(events: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(valid impression events, impression events missing a key field with the reason)."""
    imps = events.where((F.col(EVENT_TYPE) == IMPRESSION) & (F.col(SOURCE) != INTERACTION_LOG))
    # The first missing key field names the reason.
    reason = F.coalesce(*[F.when(F.col(c).isNull(), F.lit(f"impression event without {c}"))
                          for c in (REQUEST_ID, POSITION, CONTENT_ID)])
    flagged = imps.withColumn(_REASON, reason)
    return (flagged.where(F.col(_REASON).isNull()).drop(_REASON),
            flagged.where(F.col(_REASON).isNotNull()))


def anchors(events: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(served rows deduplicated by (request_id, position) plus interaction rows, rejects)."""
    valid, rejects = served(events)
    first = Window.partitionBy(REQUEST_ID, POSITION).orderBy(EVENT_TS, EVENT_ID)
    dedup = (valid.withColumn(_RANK, F.row_number().over(first)).where(F.col(_RANK) == 1)
             .drop(_RANK).withColumn(HAS_IMPRESSIONS, F.lit(True)))
    interactions = (events.where((F.col(SOURCE) == INTERACTION_LOG) & (F.col(EVENT_TYPE) == VIEW)
                                 & F.col(CONTENT_ID).isNotNull())
                    .withColumn(REQUEST_ID, F.concat(F.lit(INTERACTION_REQUEST_PREFIX), F.col(EVENT_ID)))
                    .withColumn(POSITION, F.lit(0))
                    .withColumn(HAS_IMPRESSIONS, F.lit(False)))
    cols = [REQUEST_ID, POSITION, USER_ID, CONTENT_ID, CREATOR_ID, EVENT_TS, *CONTEXT,
            EVENT_DATE, SOURCE, HAS_IMPRESSIONS, EXPOSURE]
    return dedup.select(*cols).unionByName(interactions.select(*cols)), rejects


def attribute(rows: DataFrame, outcomes: DataFrame, window: dt.timedelta = ATTRIBUTION_WINDOW) -> DataFrame:
    """Each outcome event matched to the latest row it belongs to (see the module docstring).

    Returns:
        One row per attributed outcome: request_id, position, _o_type, _o_watch.
    """
    a = rows.select(REQUEST_ID, POSITION, USER_ID, CONTENT_ID,
                    F.col(EVENT_TS).alias(_A_TS), F.col(CREATOR_ID).alias(_A_CREATOR),
                    F.when(F.col(HAS_IMPRESSIONS), F.col(REQUEST_ID)).alias(_A_REQ),
                    (~F.col(HAS_IMPRESSIONS)).alias(_A_INTER))
    o = outcomes.select(F.col(EVENT_ID).alias(_O_ID), F.col(USER_ID).alias("_o_user"),
                        F.col(CONTENT_ID).alias("_o_content"), F.col(CREATOR_ID).alias("_o_creator"),
                        F.col(EVENT_TS).alias(_O_TS), F.col(EVENT_TYPE).alias(_O_TYPE),
                        F.col(REQUEST_ID).alias(_O_REQ), F.col(WATCH_MS).alias(_O_WATCH),
                        (F.col(SOURCE) == INTERACTION_LOG).alias(_O_INTER))
    seconds = int(window.total_seconds())
    common = ((F.col("_o_user") == F.col(USER_ID)) & (F.col(_O_INTER) == F.col(_A_INTER))
              & (F.col(_O_TS) >= F.col(_A_TS))
              & (F.col(_O_TS) <= F.col(_A_TS) + F.expr(f"INTERVAL {seconds} SECONDS"))
              & (F.col(_O_REQ).isNull() | F.col(_A_REQ).isNull() | (F.col(_O_REQ) == F.col(_A_REQ))))
    by_content = o.where(F.col("_o_content").isNotNull()).join(
        a, common & (F.col("_o_content") == F.col(CONTENT_ID)))
    # A follow made on a creator's profile names the creator, not the item.
    by_creator = o.where(F.col("_o_content").isNull() & (F.col(_O_TYPE) == FOLLOW)
                         & F.col("_o_creator").isNotNull()).join(
        a, common & (F.col("_o_creator") == F.col(_A_CREATOR)))
    matched = by_content.unionByName(by_creator)
    latest = Window.partitionBy(_O_ID).orderBy(F.col(_A_TS).desc(), F.col(REQUEST_ID).desc(),
                                               F.col(POSITION).desc())
    return (matched.withColumn(_RANK, F.row_number().over(latest)).where(F.col(_RANK) == 1)
            .select(REQUEST_ID, POSITION, _O_TYPE, _O_WATCH))


def valid_play(watch_ms: Column, duration_ms: Column, viewed: Column, view_is_click: Column) -> Column:
    """KuaiRand's ``is_click`` (see the module docstring): a boolean column.

    Args:
        watch_ms: the summed play time of the row's views (0 when none).
        duration_ms: the item's duration (null or 0: unknown).
        viewed: whether at least one view was attributed to the row.
        view_is_click: whether the row's source emits views only for valid plays.
    """
    known = duration_ms.isNotNull() & (duration_ms > 0)
    by_rule = F.when(known & (duration_ms <= CLICK_MS), watch_ms >= duration_ms).otherwise(watch_ms > CLICK_MS)
    return viewed & (view_is_click | by_rule)


def label(rows: DataFrame, attributed: DataFrame, durations: DataFrame | None) -> DataFrame:
    """The rows with their labels (KuaiRand definitions, see the module docstring)."""
    is_view = F.col(_O_TYPE) == VIEW
    sums = attributed.groupBy(REQUEST_ID, POSITION).agg(
        F.sum(F.when(is_view, F.coalesce(F.col(_O_WATCH), F.lit(0))).otherwise(0)).cast("long").alias(WATCH_MS),
        F.max(F.when(is_view, 1).otherwise(0)).alias(_VIEWED),
        F.max(F.when(F.col(_O_TYPE) == COMPLETE_VIEW, 1).otherwise(0)).alias(_COMPLETE_EVENT),
        *[F.max(F.when(F.col(_O_TYPE) == t, 1).otherwise(0)).alias(t) for t in FLAG_LABELS],
    )
    out = rows.join(sums, [REQUEST_ID, POSITION], "left")
    if durations is not None:
        out = out.join(durations, CONTENT_ID, "left")
    else:
        out = out.withColumn(DURATION_MS, F.lit(None).cast("long"))
        out = out.withColumn("_content_creator", F.lit(None).cast("string"))
    watch = F.coalesce(F.col(WATCH_MS), F.lit(0)).cast("long")
    duration = F.col(DURATION_MS)
    known = duration.isNotNull() & (duration > 0)
    flags = [F.coalesce(F.col(t), F.lit(0)).cast("int").alias(t) for t in FLAG_LABELS]
    return out.select(
        REQUEST_ID, F.col(POSITION).cast("int").alias(POSITION), USER_ID, CONTENT_ID,
        F.coalesce(F.col(CREATOR_ID), F.col("_content_creator")).alias(CREATOR_ID), EVENT_TS,
        valid_play(watch, duration, F.coalesce(F.col(_VIEWED), F.lit(0)) == 1,
                   F.col(SOURCE).isin(*VIEW_IS_CLICK_SOURCES)).cast("int").alias(CLICK),
        F.when(known, watch >= F.least(duration, F.lit(LONG_VIEW_MS)))
        .otherwise(watch >= LONG_VIEW_MS).cast("int").alias(LONG_VIEW),
        ((F.coalesce(F.col(_COMPLETE_EVENT), F.lit(0)) == 1) | (known & (watch >= duration)))
        .cast("int").alias(COMPLETE),
        watch.alias(WATCH_MS),
        F.when(known, watch / duration).cast("double").alias(WATCH_RATIO),
        *flags, HAS_IMPRESSIONS, EXPOSURE, *CONTEXT, EVENT_DATE, DURATION_MS, SOURCE,
    )


def content_durations(lake: Lake) -> DataFrame | None:
    """content_id -> duration_ms and creator, from silver.content when the table exists."""
    if not lake.exists(CONTENT_TABLE):
        return None
    return lake.read(CONTENT_TABLE).select(
        CONTENT_ID, DURATION_MS, F.col(CREATOR_ID).alias("_content_creator"))


def impressions_for_days(lake: Lake, dates: list[dt.date],
                         window: dt.timedelta = ATTRIBUTION_WINDOW) -> tuple[DataFrame, DataFrame]:
    """(silver.impressions rows of ``dates``, the impression events to quarantine).

    An impression of day X takes its outcomes from X and from the first ``window`` of X+1."""
    if not lake.exists(EVENTS_TABLE):
        raise FileNotFoundError(f"{EVENTS_TABLE} does not exist: run `foryou clean` first")
    days = sorted(set(dates))
    nexts = [d + dt.timedelta(days=1) for d in days]
    events = lake.read(EVENTS_TABLE, partitions=sorted(set(days) | set(nexts)))
    today = events.where(F.col(EVENT_DATE).isin(*days))
    rows, rejects = anchors(today)
    durations = content_durations(lake)
    if durations is not None:
        # Served rows without a creator take it from the catalog (for follow attribution).
        rows = (rows.join(durations.select(CONTENT_ID, "_content_creator"), CONTENT_ID, "left")
                .withColumn(CREATOR_ID, F.coalesce(F.col(CREATOR_ID), F.col("_content_creator")))
                .drop("_content_creator"))
    midnight = day_start(F.col(EVENT_DATE))
    after_midnight = (F.date_sub(F.col(EVENT_DATE), 1).isin(*days)
                      & (F.col(EVENT_TS) <= midnight + F.expr(
                          f"INTERVAL {int(window.total_seconds())} SECONDS")))
    outcomes = events.where(F.col(EVENT_TYPE).isin(*OUTCOME_TYPES)
                            & (F.col(EVENT_DATE).isin(*days) | after_midnight))
    attributed = attribute(rows, outcomes, window)
    return label(rows, attributed, durations), rejects


def quarantine_rows(rejects: DataFrame, run_date: dt.date) -> DataFrame:
    """Rejected impression events in bronze.quarantine's shape (reason names the field)."""
    return rejects.select(
        F.to_json(F.struct(*[c for c in rejects.columns if c != _REASON])).alias("payload"),
        F.col(_REASON).alias("reason"),
        F.concat(F.lit(f"{EVENTS_TABLE} event_id="), F.col(EVENT_ID)).alias("record_ref"),
        F.col(INGEST_ID), F.col(SOURCE), F.current_timestamp().alias("ingested_at"),
        F.lit(run_date).alias("ingest_date"), F.col(USER_ID), F.lit(REJECTED_BY).alias("rejected_by"),
    )
