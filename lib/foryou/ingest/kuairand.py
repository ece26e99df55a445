"""The KuaiRand adapter: KuaiRand's interaction log and side tables to bronze.

KuaiRand (Gao et al., "KuaiRand: An Unbiased Sequential Recommendation Dataset with Randomly
Exposed Videos", CIKM 2022; CC BY-SA 4.0) ships ``log_*.csv`` (one row per impression),
``user_features_*.csv`` and ``video_features_basic_*.csv``. Bronze keeps each record as
received in ``payload`` and maps the fields our contracts know by name.

The log maps 1:1 onto our events. Each log row (an impression) becomes:

* one ``impression`` at the row's time, with a synthetic, deterministic feed request: the
  user's impressions within the same ``request_window_s`` bucket form one request
  (``kr-<user>-<bucket>``), positioned by time then video id;
* ``view`` (``watch_ms`` = ``play_time_ms``) when ``is_click`` (a valid play; without an
  ``is_click`` column, KuaiRand's own definition is applied to play and duration times);
* ``complete_view`` when ``play_time_ms >= duration_ms``;
* ``like``, ``follow``, ``comment``, ``share``, ``hide`` for ``is_like``, ``is_follow``,
  ``is_comment``, ``is_forward``, ``is_hate``.

Every event of a row carries its ``exposure``: ``random`` when ``is_rand`` is 1 (the
``log_random_*`` files: videos shown uniformly at random, KuaiRand's unbiased test set),
``policy`` when it is 0, null when the log has no ``is_rand`` column. train-ranker reports
its figures on the random exposures of its held-out days on their own (``unbiased.*``).

Outcome events follow the impression: ``view`` 1 ms after it, the others at the end of the
play, so any later stage sees them in the order they happened. Every event id is a hash of
(user, video, time, type): ingesting the same log again yields the same ids, which the
clean stage dedups. The row's time is ``time_ms`` (epoch ms), else ``date`` (yyyymmdd) plus
``hourmin`` (HHMM), else (logs exported without time, like the 200-row sample) the end of
KuaiRand's log window, ``LOG_END`` at 00:00 UTC; a row whose time column is present but
unreadable is quarantined naming the column. Absent label columns produce no event.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from foryou.ingest import fields as fld
from foryou.ingest.batch import INGEST_ID, INGESTED_AT, REASON, SOURCE as SOURCE_COL, Adapter
from foryou.ingest.records import PAYLOAD, read_csv
from foryou.lake.vocabulary import (
    BRONZE_CONTENT, BRONZE_EVENTS, BRONZE_USERS, CONTENT_ID, CREATOR_ID, EVENT_DATE, EVENT_TS,
    POLICY_EXPOSURE, RANDOM_EXPOSURE, USER_ID,
)

SOURCE = "kuairand"
# KuaiRand-Pure's log window ends on this day; register_days counts back from it.
LOG_END = dt.date(2022, 5, 8)
USERS_FILE = "user_features_pure.csv"
VIDEOS_FILE = "video_features_basic_pure.csv"
# Log files: log_standard_*.csv, log_random_*.csv, and exports such as *_log_sample.csv.
LOG_PATTERN = "log"
USERS_PATTERN, VIDEOS_PATTERN = "user_features", "video_features_basic"

KR_USER_ID, VIDEO_ID = "user_id", "video_id"  # KuaiRand's own log columns
TIME_MS, DATE, HOURMIN = "time_ms", "date", "hourmin"
PLAY_MS, DURATION_MS, IS_CLICK = "play_time_ms", "duration_ms", "is_click"
IS_RAND = "is_rand"
# Label column -> the event it produces when 1.
OUTCOMES: dict[str, str] = {
    "is_like": "like", "is_follow": "follow", "is_comment": "comment",
    "is_forward": "share", "is_hate": "hide",
}
INTEGER_COLUMNS = (TIME_MS, DATE, HOURMIN, IS_CLICK, *OUTCOMES, "long_view", PLAY_MS,
                   DURATION_MS, IS_RAND, "tab")
# Epoch milliseconds beyond this (year 5138) cannot be a time; they would overflow as micros.
MAX_EPOCH_MS = 10 ** 14
# KuaiRand's valid-play rule: short videos must be watched to the end, others 7 s.
CLICK_MIN_MS = 7000

_EPOCH_MS = "_v_epoch_ms"


def _long(col: str) -> Column:
    return F.col(col).try_cast("double").try_cast("long")


def user_rows(raw: DataFrame) -> DataFrame:
    """``user_features_*.csv`` records (string columns, payload, lineage) as ``bronze.users`` rows."""
    return raw.select(
        F.col(KR_USER_ID).alias(USER_ID),
        F.to_timestamp(F.date_sub(F.lit(LOG_END), F.col("register_days").try_cast("int"))).alias("signup_ts"),
        F.lit(None).cast("string").alias("country"),
        F.lit(None).cast("string").alias("language"),
        F.col("user_active_degree").alias("activity_degree"),
        _long("follow_user_num").alias("follow_count"),
        _long("fans_user_num").alias("follower_count"),
        PAYLOAD, INGEST_ID, SOURCE_COL, INGESTED_AT,
    )


def content_rows(raw: DataFrame) -> DataFrame:
    """``video_features_basic_*.csv`` records as ``bronze.content`` rows."""
    return raw.select(
        F.col("video_id").alias(CONTENT_ID),
        F.col("author_id").alias(CREATOR_ID),
        F.try_to_timestamp(F.col("upload_dt"), F.lit("yyyy-MM-dd")).alias("upload_ts"),
        _long("video_duration").alias("duration_ms"),
        F.col("tag").alias("tags"),
        F.lit(None).cast("string").alias("description"),
        F.col("video_type").alias("content_type"),
        PAYLOAD, INGEST_ID, SOURCE_COL, INGESTED_AT,
    )


def _check_side(frame: DataFrame, key: str) -> DataFrame:
    return frame.withColumn(REASON, fld.required(key, F.col(key)))


def side_adapters(spark: SparkSession) -> list[tuple[str, Adapter]]:
    """(file name pattern, adapter) for the user and video side tables."""
    def reader(paths):
        return read_csv(spark, paths)

    return [
        (USERS_PATTERN, Adapter(SOURCE, BRONZE_USERS, reader,
                                lambda f: _check_side(f, KR_USER_ID), user_rows)),
        (VIDEOS_PATTERN, Adapter(SOURCE, BRONZE_CONTENT, reader,
                                 lambda f: _check_side(f, VIDEO_ID), content_rows)),
    ]


# -- the interaction log -----------------------------------------------------------------

def _has(frame: DataFrame, name: str) -> bool:
    return name in frame.columns


def check_log(frame: DataFrame) -> DataFrame:
    """Type the log row's columns that exist; ``_reason`` names each bad one."""
    parsed = {c: fld.integer(c, F.col(c)) for c in INTEGER_COLUMNS if _has(frame, c)}
    why = [fld.required(c, F.col(c)) if _has(frame, c) else F.lit(f"missing required field '{c}'")
           for c in (KR_USER_ID, VIDEO_ID)]
    why += [p.reason for p in parsed.values()]
    if TIME_MS in parsed:
        epoch_ms = parsed[TIME_MS].value
        why.append(fld.required(TIME_MS, F.col(TIME_MS)))
        why.append(F.when(~epoch_ms.between(0, MAX_EPOCH_MS),
                          F.concat(F.lit(f"field '{TIME_MS}': not epoch milliseconds: "),
                                   fld.quoted(F.col(TIME_MS)))))
    elif DATE in parsed:
        # The offset makes the day UTC midnight whatever the session's time zone.
        day = F.try_to_timestamp(F.concat(F.trim(F.col(DATE)), F.lit("+0000")), F.lit("yyyyMMddZ"))
        hm = parsed[HOURMIN].value if HOURMIN in parsed else F.lit(0)
        epoch_ms = F.unix_millis(day) + ((hm / 100).cast("long") * 3600 + hm % 100 * 60) * 1000
        why.append(fld.required(DATE, F.col(DATE)))
        why.append(F.when(~fld.blank(F.col(DATE)) & day.isNull(),
                          F.concat(F.lit(f"field '{DATE}': not a yyyymmdd date: "),
                                   fld.quoted(F.col(DATE)))))
        if HOURMIN in parsed:
            why.append(F.when(~hm.between(0, 2359) | (hm % 100 >= 60),
                              F.concat(F.lit(f"field '{HOURMIN}': not an HHMM time: "),
                                       fld.quoted(F.col(HOURMIN)))))
    else:
        epoch_ms = F.lit(int(dt.datetime(LOG_END.year, LOG_END.month, LOG_END.day,
                                         tzinfo=dt.timezone.utc).timestamp() * 1000))
    typed = [epoch_ms.cast("long").alias(_EPOCH_MS)]
    typed += [parsed[c].value.alias(f"_v_{c}") for c in parsed]
    return frame.select("*", *typed, fld.reasons(*why).alias(REASON))


def _flag(frame: DataFrame, col: str) -> Column:
    return F.coalesce(F.col(f"_v_{col}"), F.lit(0)) == 1 if _has(frame, f"_v_{col}") else F.lit(False)


def _value(frame: DataFrame, col: str) -> Column:
    return F.col(f"_v_{col}") if _has(frame, f"_v_{col}") else F.lit(None).cast("long")


def exposure(frame: DataFrame) -> Column:
    """``random`` / ``policy`` from ``is_rand``; null without that column (or value)."""
    if not _has(frame, f"_v_{IS_RAND}"):
        return F.lit(None).cast("string")
    flag = F.col(f"_v_{IS_RAND}")
    return F.when(flag == 1, F.lit(RANDOM_EXPOSURE)).when(flag == 0, F.lit(POLICY_EXPOSURE))


def emit_log(frame: DataFrame, request_window_s: int, creators: DataFrame | None = None) -> DataFrame:
    """Accepted log rows as bronze.events rows: an impression plus its outcome events."""
    play, duration = _value(frame, PLAY_MS), _value(frame, DURATION_MS)
    if _has(frame, f"_v_{IS_CLICK}"):
        click = _flag(frame, IS_CLICK)
    else:
        click = F.coalesce(F.when(duration <= CLICK_MIN_MS, play >= duration)
                           .otherwise(play > CLICK_MIN_MS), F.lit(False))
    bucket = F.floor(F.col(_EPOCH_MS) / (request_window_s * 1000)).cast("long")
    request = F.concat_ws("-", F.lit("kr"), F.col(KR_USER_ID), bucket.cast("string"))
    position = F.row_number().over(
        Window.partitionBy(KR_USER_ID, bucket).orderBy(_EPOCH_MS, VIDEO_ID)) - 1
    end_ms = F.greatest(F.coalesce(play, F.lit(0)), F.lit(0)) + 2

    def event(kind: str, when: Column, offset: Column, watch: Column | None = None) -> Column:
        return F.when(when, F.struct(F.lit(kind).alias("event_type"),
                                     offset.cast("long").alias("offset_ms"),
                                     (watch if watch is not None else F.lit(None)).cast("long")
                                     .alias("watch_ms")))

    outcomes = [
        event("impression", F.lit(True), F.lit(0)),
        event("view", click, F.lit(1), play),
        event("complete_view", (duration > 0) & (play >= duration), end_ms),
        *[event(kind, _flag(frame, col), end_ms) for col, kind in OUTCOMES.items()],
    ]
    # Positions first: a window next to explode would number the exploded events.
    rows = (frame.select("*", request.alias("request_id"), position.cast("int").alias("position"))
            .select("*", F.explode(F.filter(F.array(*outcomes), lambda e: e.isNotNull()))
                    .alias("_event")))
    if creators is not None:
        rows = rows.join(F.broadcast(creators), VIDEO_ID, "left")
    ts_ms = F.col(_EPOCH_MS) + F.col("_event.offset_ms")
    event_ts = F.timestamp_millis(ts_ms)
    event_id = F.substring(F.sha2(F.concat_ws("|", F.lit(SOURCE), F.col(KR_USER_ID), F.col(VIDEO_ID),
                                              F.col(_EPOCH_MS).cast("string"),
                                              F.col("_event.event_type")), 256), 1, 32)
    return rows.select(
        event_id.alias("event_id"), F.col("_event.event_type").alias("event_type"),
        F.col(KR_USER_ID).alias(USER_ID), event_ts.alias(EVENT_TS),
        F.col(VIDEO_ID).alias(CONTENT_ID),
        exposure(frame).alias("exposure"),
        (F.col(CREATOR_ID) if creators is not None else F.lit(None).cast("string")).alias(CREATOR_ID),
        "request_id", "position", F.col("_event.watch_ms").alias("watch_ms"),
        PAYLOAD, INGEST_ID, SOURCE_COL, INGESTED_AT, fld.utc_date(event_ts).alias(EVENT_DATE),
    )


def creators(spark: SparkSession, videos_files: Sequence[str]) -> DataFrame | None:
    """video_id -> creator_id from the video side table, when it is there (small)."""
    if not videos_files:
        return None
    raw = read_csv(spark, videos_files, ["video_id", "author_id"]).frame
    return (raw.where(F.col("video_id").isNotNull())
            .select(VIDEO_ID, F.col("author_id").alias(CREATOR_ID)).dropDuplicates([VIDEO_ID]))


def log_adapter(spark: SparkSession, request_window_s: int,
                videos_files: Sequence[str] = ()) -> Adapter:
    """The interaction-log adapter (``log_*.csv`` -> bronze.events)."""
    lookup = creators(spark, videos_files)
    return Adapter(SOURCE, BRONZE_EVENTS, lambda paths: read_csv(spark, paths), check_log,
                   lambda frame: emit_log(frame, request_window_s, lookup), one_to_one=False)
