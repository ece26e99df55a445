"""What each field of a bronze event, content or user row must be: the normalisation of the
missing-value table (:mod:`foryou.clean`) and the reasons a record is rejected, each naming
its field. Rows come out with ``REJECT`` (the reasons, null when valid) and ``RANK`` (1 = the
version of its id that the batch keeps).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.config.clean import CleanConfig
from foryou.lake.vocabulary import (
    ACTIVITY_DEGREE, APP_VERSION, COMMENT_TEXT, CONTENT_ID, CONTENT_TARGETED, COUNTRY,
    CREATOR_ID, CREATOR_TARGETED, DESCRIPTION, DEVICE_TYPE, DURATION_MS, EVENT_DATE, EVENT_ID,
    EVENT_TS, EVENT_TYPE, EVENT_TYPES, EXPOSURE, EXPOSURES, FOLLOW_COUNT, FOLLOWER_COUNT,
    INGESTED_AT, INGEST_ID, INTERACTION_LOG, LANGUAGE, NETWORK_TYPE, OS, PAYLOAD, PLATFORM,
    POSITION, REASON, RECEIVED_AT, REQUEST_ID, SIGNUP_TS, SOURCE, TAGS, UNKNOWN, UPDATED_AT,
    UPLOAD_TS, USER_ID, WATCH_MS, WATCH_TIME_REQUIRED,
)

# Working columns, dropped before anything is written.
REJECT = "_reject"
RANK = "_rank"
RAW_USER_ID = "_raw_user_id"


def _text(name: str) -> Column:
    """Trimmed; empty becomes null."""
    return F.nullif(F.trim(F.col(name)), F.lit(""))


def _lower(name: str) -> Column:
    return F.lower(_text(name))


def _or_unknown(name: str) -> Column:
    return F.coalesce(_lower(name), F.lit(UNKNOWN))


def country_code(col: Column) -> Column:
    """ISO 3166-1 alpha-2, upper case; anything else is null."""
    code = F.upper(F.trim(col))
    return F.when(code.rlike("^[A-Z]{2}$"), code)


def language_code(col: Column) -> Column:
    """The primary language subtag (``pt-BR`` → ``pt``), lower case; anything else is null."""
    code = F.lower(F.split(F.trim(col), "[-_]").getItem(0))
    return F.when(code.rlike("^[a-z]{2,3}$"), code)


def utc_date(ts: Column) -> Column:
    """The UTC calendar date of a timestamp, whatever the session's time zone."""
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / 86400).cast("int"))


def normalise_events(bronze: DataFrame) -> DataFrame:
    """Format corrections of the missing-value table; keeps bronze's lineage columns."""
    event_type = F.regexp_replace(_lower(EVENT_TYPE), r"[\s\-]+", "_")
    return bronze.select(
        _text(EVENT_ID).alias(EVENT_ID),
        event_type.alias(EVENT_TYPE),
        _text(USER_ID).alias(USER_ID),
        F.col(EVENT_TS).cast("timestamp").alias(EVENT_TS),
        _text(CONTENT_ID).alias(CONTENT_ID),
        _text(CREATOR_ID).alias(CREATOR_ID),
        _text(REQUEST_ID).alias(REQUEST_ID),
        F.col(POSITION).cast("int").alias(POSITION),
        F.col(WATCH_MS).cast("long").alias(WATCH_MS),
        _lower(EXPOSURE).alias(EXPOSURE),
        _lower(PLATFORM).alias(PLATFORM),
        _text(REASON).alias(REASON),
        _text(COMMENT_TEXT).alias(COMMENT_TEXT),
        _or_unknown(DEVICE_TYPE).alias(DEVICE_TYPE),
        _or_unknown(OS).alias(OS),
        _or_unknown(NETWORK_TYPE).alias(NETWORK_TYPE),
        _text(APP_VERSION).alias(APP_VERSION),
        country_code(F.col(COUNTRY)).alias(COUNTRY),
        language_code(F.col(LANGUAGE)).alias(LANGUAGE),
        utc_date(F.col(EVENT_TS)).alias(EVENT_DATE),
        F.col(RECEIVED_AT), F.col(INGEST_ID), F.col(SOURCE), F.col(INGESTED_AT),
        # The record as received, for quarantine: bronze's payload or, if it kept none, its row.
        F.coalesce(F.col(PAYLOAD), F.to_json(F.struct(*[F.col(c) for c in bronze.columns
                                                       if c != PAYLOAD]))).alias(PAYLOAD),
        F.col(USER_ID).alias(RAW_USER_ID),
    )


def _reasons(checks: list[tuple[Column, Column]]) -> Column:
    """The ``; ``-joined messages of the failed checks; null when every check passed."""
    parts = [F.when(failed, message) for failed, message in checks]
    return F.nullif(F.concat_ws("; ", *parts), F.lit(""))


def latest_plausible(run_date: dt.date | None, tolerance_s: int) -> Column:
    """The latest ``event_ts`` a batch may hold: the end of its run date (logical time: a
    replay or backfill of 2024 ingested in 2026 still refuses events dated 2025) or, when
    earlier, the moment the record was ingested; plus the tolerance for clock skew."""
    latest = F.col(INGESTED_AT)
    if run_date is not None:
        day_end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(),
                                      tzinfo=dt.timezone.utc)
        latest = F.least(latest, F.timestamp_seconds(F.lit(int(day_end.timestamp()))))
    return latest + F.expr(f"INTERVAL {int(tolerance_s)} SECONDS")


def event_rejections(df: DataFrame, clean: CleanConfig, run_date: dt.date | None = None) -> Column:
    """Why a normalised event is rejected (each reason names its field), or null. With
    ``run_date``, "in the future" means after that day (see :func:`latest_plausible`)."""
    etype = F.col(EVENT_TYPE)
    watch = F.col(WATCH_MS)
    ts = F.col(EVENT_TS)
    latest = latest_plausible(run_date, clean.future_tolerance_s)
    missing = lambda name: F.col(name).isNull()  # noqa: E731
    return _reasons([
        (missing(EVENT_ID), F.lit("event_id: missing")),
        (missing(EVENT_TYPE), F.lit("event_type: missing")),
        (etype.isNotNull() & ~etype.isin(*sorted(EVENT_TYPES)),
         F.concat(F.lit("event_type: unknown value '"), etype, F.lit("'"))),
        (missing(USER_ID), F.lit("user_id: missing")),
        (missing(EVENT_TS), F.lit("event_ts: missing or unparseable")),
        (ts < F.lit(clean.earliest_event_date).cast("timestamp"),
         F.concat(F.lit("event_ts: "), ts.cast("string"),
                  F.lit(f" is before the earliest plausible date {clean.earliest_event_date}"))),
        (ts > latest,
         F.concat(F.lit("event_ts: "), ts.cast("string"), F.lit(" is in the future (after "),
                  (latest - F.expr(f"INTERVAL {int(clean.future_tolerance_s)} SECONDS")).cast("string"),
                  F.lit(f", tolerance {clean.future_tolerance_s}s)"))),
        (etype.isin(*sorted(CONTENT_TARGETED)) & missing(CONTENT_ID),
         F.concat(F.lit("content_id: missing (required for "), etype, F.lit(")"))),
        (etype.isin(*sorted(CREATOR_TARGETED)) & missing(CREATOR_ID) & missing(CONTENT_ID),
         F.concat(F.lit("creator_id: missing (a "), etype,
                  F.lit(" needs creator_id or content_id)"))),
        (etype.isin(*sorted(WATCH_TIME_REQUIRED)) & missing(WATCH_MS)
         & ~F.coalesce(F.col(SOURCE) == INTERACTION_LOG, F.lit(False)),
         F.concat(F.lit("watch_ms: missing (required for "), etype, F.lit(")"))),
        (watch < 0, F.concat(F.lit("watch_ms: "), watch.cast("string"), F.lit(" is negative"))),
        (watch > clean.max_watch_ms,
         F.concat(F.lit("watch_ms: "), watch.cast("string"),
                  F.lit(f" exceeds the maximum {clean.max_watch_ms}"))),
        (F.col(POSITION) < 0,
         F.concat(F.lit("position: "), F.col(POSITION).cast("string"), F.lit(" is negative"))),
        (F.col(EXPOSURE).isNotNull() & ~F.col(EXPOSURE).isin(*EXPOSURES),
         F.concat(F.lit("exposure: unknown value '"), F.col(EXPOSURE),
                  F.lit(f"' (expected {' or '.join(EXPOSURES)})"))),
    ])


def classify_events(bronze: DataFrame, clean: CleanConfig,
                    run_date: dt.date | None = None) -> DataFrame:
    """Normalised events with ``_reject`` (null for a valid event) and, for valid events,
    ``_rank`` (1 = the earliest received of its ``event_id``; rejected rows never compete)."""
    normal = normalise_events(bronze)
    normal = normal.withColumn(REJECT, event_rejections(normal, clean, run_date))
    valid = F.col(REJECT).isNull()
    rank = F.row_number().over(Window.partitionBy(EVENT_ID, valid).orderBy(*_event_order()))
    return normal.withColumn(RANK, F.when(valid, rank))


def rank_by(df: DataFrame, key: str, order: list[Column]) -> DataFrame:
    """``df`` with ``_rank`` = 1 for the row to keep per ``key`` (first by ``order``), 2.. for
    the versions it supersedes."""
    return df.withColumn(RANK, F.row_number().over(Window.partitionBy(key).orderBy(*order)))


def _event_order() -> list[Column]:
    # Earliest received wins; the payload hash only makes ties deterministic.
    return [F.col(RECEIVED_AT).asc_nulls_last(), F.col(INGESTED_AT).asc(),
            F.col(INGEST_ID).asc(), F.xxhash64(F.col(PAYLOAD)).asc()]


def parse_tags(col: Column) -> Column:
    """``"4, 28,,7"`` → ``["4", "28", "7"]``; null → empty array."""
    parts = F.transform(F.split(F.coalesce(col, F.lit("")), ","), lambda t: F.trim(t))
    return F.filter(parts, lambda t: t != F.lit(""))


def _non_negative(name: str) -> Column:
    return F.when(F.col(name) >= 0, F.col(name))


def classify_content(bronze: DataFrame) -> DataFrame:
    """Normalised content rows with ``_reject`` and ``_rank`` (1 = latest version in batch)."""
    normal = bronze.select(
        _text(CONTENT_ID).alias(CONTENT_ID), _text(CREATOR_ID).alias(CREATOR_ID),
        F.col(UPLOAD_TS), _non_negative(DURATION_MS).alias(DURATION_MS),
        parse_tags(F.col(TAGS)).alias(TAGS), _text(DESCRIPTION).alias(DESCRIPTION),
        F.col(INGESTED_AT).alias(UPDATED_AT),
        F.coalesce(F.col(PAYLOAD), F.to_json(F.struct(*bronze.columns))).alias(PAYLOAD),
        F.col(INGEST_ID), F.col(SOURCE), F.col(INGESTED_AT),
    )
    normal = normal.withColumn(REJECT, _reasons([(F.col(CONTENT_ID).isNull(),
                                                   F.lit("content_id: missing"))]))
    return rank_by(normal, CONTENT_ID, [F.col(INGESTED_AT).desc(), F.col(INGEST_ID).desc(),
                                              F.xxhash64(F.col(PAYLOAD)).desc()])


def classify_users(bronze: DataFrame) -> DataFrame:
    """Normalised user rows with ``_reject`` and ``_rank`` (1 = latest version in batch)."""
    normal = bronze.select(
        _text(USER_ID).alias(USER_ID), F.col(SIGNUP_TS),
        country_code(F.col(COUNTRY)).alias(COUNTRY), language_code(F.col(LANGUAGE)).alias(LANGUAGE),
        _lower(ACTIVITY_DEGREE).alias(ACTIVITY_DEGREE),
        _non_negative(FOLLOW_COUNT).alias(FOLLOW_COUNT),
        _non_negative(FOLLOWER_COUNT).alias(FOLLOWER_COUNT),
        F.col(INGESTED_AT).alias(UPDATED_AT),
        F.coalesce(F.col(PAYLOAD), F.to_json(F.struct(*bronze.columns))).alias(PAYLOAD),
        F.col(INGEST_ID), F.col(SOURCE), F.col(INGESTED_AT),
        F.col(USER_ID).alias(RAW_USER_ID),
    )
    normal = normal.withColumn(REJECT, _reasons([(F.col(USER_ID).isNull(),
                                                   F.lit("user_id: missing"))]))
    return rank_by(normal, USER_ID, [F.col(INGESTED_AT).desc(), F.col(INGEST_ID).desc(),
                                           F.xxhash64(F.col(PAYLOAD)).desc()])
