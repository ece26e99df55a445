"""``foryou clean``: bronze events, content and users to silver.

**Which bronze rows a run takes.** A clean run for run date D takes the bronze rows whose
``ingest_id`` starts with ``clean.ingest_id_prefix`` with ``{run_date}`` replaced by D
(default ``ingest-D-``: the ingest job names its ingests ``ingest-<run date>-<source>-<file>``). So a
run cleans exactly what D's ingests received, whatever the events' own dates: a late event
ingested on D lands in its own, older ``event_date`` partition of silver.events. Bronze files
carry min/max stats for ``ingest_id``, so other ingests' row groups are skipped on read.

**Missing and invalid values, per field** (events):

| field | policy |
|---|---|
| ``event_id``, ``user_id`` | required: trimmed, empty = missing → quarantine |
| ``event_type`` | required; trimmed, lower-cased, ``-``/space → ``_``; not a known type → quarantine |
| ``event_ts`` | required; before ``clean.earliest_event_date``, or after the end of the run date (or ``ingested_at``, if earlier) + ``clean.future_tolerance_s`` → quarantine as in the future |
| ``event_date`` | recomputed as the UTC date of ``event_ts`` (bronze's value is not trusted) |
| ``content_id`` | required for every type but follow/unfollow → quarantine when missing |
| ``creator_id`` | follow/unfollow need ``creator_id`` or ``content_id`` → quarantine when both miss; else optional → null |
| ``watch_ms`` | required for ``view`` (bar an interaction log's, which has no watch time); negative or above ``clean.max_watch_ms`` → quarantine (any type); else optional → null |
| ``position`` | optional → null; negative → quarantine |
| ``request_id``, ``app_version``, ``reason``, ``comment_text`` | optional: trimmed, empty → null |
| ``platform`` | optional: trimmed, lower-cased, empty → null |
| ``exposure`` | optional: trimmed, lower-cased, empty → null (read as ``policy``); not ``policy`` or ``random`` → quarantine |
| ``device_type``, ``os``, ``network_type`` | optional context: trimmed, lower-cased, missing → ``"unknown"`` |
| ``country`` | optional: trimmed, upper-cased; not two letters (ISO 3166-1 alpha-2) → null |
| ``language`` | optional: primary subtag (``en-US`` → ``en``), lower-cased; not 2-3 letters → null |

A record failing several checks is quarantined once, with every reason (``; ``-separated),
each starting with the field it names; ``record_ref`` names the record.

**Duplicates.** Within a batch, one row per ``event_id`` is kept: the earliest received
(``received_at``, then ``ingested_at``). Against what earlier runs cleaned,
:meth:`Lake.insert_new` keeps only new ``event_id``s, reading only the partitions the batch
touches - so a re-sent event is caught when it carries the same ``event_ts`` date as the
first copy (the producer assigns id and time together; a copy whose clock moved it to
another day is not looked for across all of silver, which would mean reading every day). **Counts add up**: input = accepted + quarantined + duplicates, checked in code
(:class:`CountMismatch`) and recorded in ``gold.metrics``.

**Content and users.** One row per ``content_id`` / ``user_id``, its latest version by
``ingested_at``: the batch's latest version of each id is merged with silver's current rows
and the table is overwritten. Required: ``content_id`` / ``user_id`` (missing → quarantine).
Tags are split on commas into ``array<string>`` (missing → empty array); negative durations
and counts → null; country/language as for events. Users' ids are pseudonymised.

``creator_id`` stays as received: it names a public creator account, not the person using
the app. Every silver ``user_id`` is a pseudonym (:mod:`foryou.privacy`).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.lake.vocabulary import (
    ACTIVITY_DEGREE, APP_VERSION, COMMENT_TEXT, CONTENT_ID, CONTENT_TARGETED, COUNTRY,
    CREATOR_ID, CREATOR_TARGETED, DESCRIPTION, DEVICE_TYPE, DURATION_MS, EVENT_DATE, EVENT_ID,
    EVENT_TS, EVENT_TYPE, EVENT_TYPES, EXPOSURE, EXPOSURES, FOLLOW_COUNT, FOLLOWER_COUNT, INGEST_DATE, INGEST_ID,
    INGESTED_AT, INTERACTION_LOG, LANGUAGE, NETWORK_TYPE, OS, PAYLOAD, PLATFORM, POSITION, QUARANTINE_REASON,
    REASON, RECEIVED_AT, RECORD_REF, REJECTED_BY, REQUEST_ID, SIGNUP_TS, SOURCE, TAGS, UNKNOWN,
    UPDATED_AT, UPLOAD_TS, USER_ID, WATCH_MS, WATCH_TIME_REQUIRED,
)
from foryou.lake import Lake, table
from foryou.privacy.pseudonyms import load_key, with_pseudonyms
from foryou.quality.expectations import check_batch
from foryou.spark import keep_on_disk

if TYPE_CHECKING:
    from foryou.config import Config
    from foryou.runtime import JobContext

log = logging.getLogger("foryou.clean")

JOB = "clean"
BRONZE_EVENTS, BRONZE_CONTENT, BRONZE_USERS = "bronze.events", "bronze.content", "bronze.users"
SILVER_EVENTS, SILVER_CONTENT, SILVER_USERS = "silver.events", "silver.content", "silver.users"
QUARANTINE = "bronze.quarantine"
# Working columns, dropped before anything is written.
_REJECT = "_reject"
_RANK = "_rank"
_FRESH = "_fresh"


class CountMismatch(AssertionError):
    """input != accepted + quarantined + duplicates: rows were lost or invented."""


@dataclass(frozen=True)
class CleanCounts:
    """Where every input row of one table went in one run."""

    table: str
    input: int
    accepted: int
    quarantined: int
    duplicates_in_batch: int
    duplicates_existing: int

    @property
    def duplicates(self) -> int:
        return self.duplicates_in_batch + self.duplicates_existing

    def check(self) -> None:
        """Raise :class:`CountMismatch` unless input = accepted + quarantined + duplicates."""
        if self.input != self.accepted + self.quarantined + self.duplicates:
            raise CountMismatch(
                f"{self.table}: input {self.input:,} != accepted {self.accepted:,} + quarantined "
                f"{self.quarantined:,} + duplicates {self.duplicates:,} "
                f"({self.duplicates_in_batch:,} in batch, {self.duplicates_existing:,} already "
                f"cleaned)")

    def record(self, metrics) -> None:
        """The input and the three outcomes as ``gold.metrics`` rows named ``<table>.<what>``."""
        metrics.record(f"{self.table}.input", self.input, "rows")
        metrics.record(f"{self.table}.accepted", self.accepted, "rows")
        metrics.record(f"{self.table}.quarantined", self.quarantined, "rows")
        metrics.record(f"{self.table}.duplicates", self.duplicates, "rows",
                       in_batch=self.duplicates_in_batch, already_cleaned=self.duplicates_existing)


# -- the batch ------------------------------------------------------------------------------
def ingest_prefix(run_date: dt.date | str, config: "Config") -> str:
    """The ``ingest_id`` prefix of the ingests a clean run for ``run_date`` takes."""
    return config.clean.ingest_id_prefix.format(run_date=run_date)


def _like_prefix(prefix: str) -> str:
    """A SQL ``LIKE 'prefix%'`` literal (wildcards and quotes escaped), for lake deletes."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "'" + escaped.replace("'", "''") + "%'"


def read_batch(lake: Lake, name: str, run_date: dt.date | str, config: "Config") -> DataFrame:
    """The rows of bronze table ``name`` that the run date's ingests wrote (empty if none)."""
    return lake.read_or_empty(name).where(F.col(INGEST_ID).startswith(ingest_prefix(run_date, config)))


# -- normalisation --------------------------------------------------------------------------
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
        F.col(USER_ID).alias("_raw_user_id"),
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


def event_rejections(df: DataFrame, config: "Config", run_date: dt.date | None = None) -> Column:
    """Why a normalised event is rejected (each reason names its field), or null. With
    ``run_date``, "in the future" means after that day (see :func:`latest_plausible`)."""
    clean = config.clean
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


def classify_events(bronze: DataFrame, config: "Config", run_date: dt.date | None = None) -> DataFrame:
    """Normalised events with ``_reject`` (null for a valid event) and, for valid events,
    ``_rank`` (1 = the earliest received of its ``event_id``; rejected rows never compete)."""
    normal = normalise_events(bronze)
    normal = normal.withColumn(_REJECT, event_rejections(normal, config, run_date))
    valid = F.col(_REJECT).isNull()
    rank = F.row_number().over(Window.partitionBy(EVENT_ID, valid).orderBy(*_event_order()))
    return normal.withColumn(_RANK, F.when(valid, rank))


def rank_by(df: DataFrame, key: str, order: list[Column]) -> DataFrame:
    """``df`` with ``_rank`` = 1 for the row to keep per ``key`` (first by ``order``), 2.. for
    the versions it supersedes."""
    return df.withColumn(_RANK, F.row_number().over(Window.partitionBy(key).orderBy(*order)))


def _event_order() -> list[Column]:
    # Earliest received wins; the payload hash only makes ties deterministic.
    return [F.col(RECEIVED_AT).asc_nulls_last(), F.col(INGESTED_AT).asc(),
            F.col(INGEST_ID).asc(), F.xxhash64(F.col(PAYLOAD)).asc()]


def quarantine_frame(rejected: DataFrame, source_table: str, ref_key: str,
                     raw_user_id: Column | None) -> DataFrame:
    """Rejected rows in ``bronze.quarantine``'s shape (reason from ``_reject``)."""
    return rejected.select(
        F.col(PAYLOAD),
        F.col(_REJECT).alias(QUARANTINE_REASON),
        F.concat(F.lit(f"{source_table} {ref_key}="),
                 F.coalesce(F.col(ref_key), F.lit("<missing>"))).alias(RECORD_REF),
        F.col(INGEST_ID), F.col(SOURCE), F.col(INGESTED_AT),
        utc_date(F.col(INGESTED_AT)).alias(INGEST_DATE),
        (raw_user_id if raw_user_id is not None else F.lit(None).cast("string")).alias(USER_ID),
        F.lit(JOB).alias(REJECTED_BY),
    )


# -- content and users ----------------------------------------------------------------------
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
    normal = normal.withColumn(_REJECT, _reasons([(F.col(CONTENT_ID).isNull(),
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
        F.col(USER_ID).alias("_raw_user_id"),
    )
    normal = normal.withColumn(_REJECT, _reasons([(F.col(USER_ID).isNull(),
                                                   F.lit("user_id: missing"))]))
    return rank_by(normal, USER_ID, [F.col(INGESTED_AT).desc(), F.col(INGEST_ID).desc(),
                                           F.xxhash64(F.col(PAYLOAD)).desc()])


def merge_latest(lake: Lake, name: str, batch: DataFrame) -> DataFrame:
    """Silver's current rows of ``name`` merged with ``batch``: one row per key, the latest
    ``updated_at`` (the batch wins a tie, being the newer ingest)."""
    spec = table(name)
    columns = [c.name for c in spec.columns]
    new = batch.select(*columns).withColumn(_FRESH, F.lit(1))
    if lake.exists(name):
        old = lake.read(name).select(*columns).withColumn(_FRESH, F.lit(0))
        new = old.unionByName(new)
    key = spec.key[0]
    ranked = new.withColumn(_RANK, F.row_number().over(
        Window.partitionBy(key).orderBy(F.col(UPDATED_AT).desc(), F.col(_FRESH).desc())))
    return ranked.where(F.col(_RANK) == 1).select(*columns)


# -- the run --------------------------------------------------------------------------------
@dataclass
class _Split:
    """One table's batch split by outcome (all lazily evaluated on the persisted frame)."""

    table: str
    classified: DataFrame
    input: int
    rejected: int
    duplicates_in_batch: int


def _split(name: str, classified: DataFrame, source: str, lake: Lake) -> _Split:
    if not lake.exists(source):
        # No bronze table yet (e.g. no content was ever ingested): nothing to count.
        return _Split(name, classified, 0, 0, 0)
    classified = keep_on_disk(classified)
    # One pass for all three figures; rejected rows are counted apart from the ranks because
    # only valid rows compete for an id.
    row = classified.agg(
        F.count(F.lit(1)).alias("input"),
        F.count(F.col(_REJECT)).alias("rejected"),
        F.count(F.when(F.col(_REJECT).isNull() & (F.col(_RANK) > 1), 1)).alias("dups"),
    ).first()
    return _Split(name, classified, int(row["input"]), int(row["rejected"]), int(row["dups"]))


def _committed_rows(lake: Lake, name: str, prefix: str, partitions: list | None) -> int:
    """Rows of ``name`` from this run's ingests: what an earlier, interrupted run committed."""
    if not lake.exists(name):
        return 0
    df = lake.read(name, partitions=partitions) if partitions is not None else lake.read(name)
    return df.where(F.col(INGEST_ID).startswith(prefix)).count()


def run_clean(ctx: "JobContext") -> list[CleanCounts]:
    """Clean the run date's bronze events, content and users into silver.

    Validates every silver batch first (:mod:`foryou.quality`), then writes quarantine and
    silver, checks that the counts add up and records them. Returns the counts per table.
    """
    lake, config, metrics = ctx.lake, ctx.config, ctx.metrics
    prefix = ingest_prefix(ctx.run_date, config)
    key = load_key(config, ctx.spark)
    if key.is_demo:
        metrics.record("pseudonym_key_is_demo", 1, "bool")

    events = _split(SILVER_EVENTS, classify_events(
        read_batch(lake, BRONZE_EVENTS, ctx.run_date, config), config, ctx.run_date),
        BRONZE_EVENTS, lake)
    content = _split(SILVER_CONTENT, classify_content(
        read_batch(lake, BRONZE_CONTENT, ctx.run_date, config)), BRONZE_CONTENT, lake)
    users = _split(SILVER_USERS, classify_users(
        read_batch(lake, BRONZE_USERS, ctx.run_date, config)), BRONZE_USERS, lake)
    try:
        return _write(ctx, prefix, key.value, events, content, users)
    finally:
        for split in (events, content, users):
            split.classified.unpersist()


def _write(ctx: "JobContext", prefix: str, key: bytes, events: _Split, content: _Split,
           users: _Split) -> list[CleanCounts]:
    lake, config, metrics, force = ctx.lake, ctx.config, ctx.metrics, ctx.force
    valid = lambda s: s.classified.where(F.col(_REJECT).isNull() & (F.col(_RANK) == 1))  # noqa: E731
    events_out = with_pseudonyms(valid(events), [USER_ID], key).select(
        *[c.name for c in table(SILVER_EVENTS).columns])
    events_out = keep_on_disk(events_out)
    # Content and users are rewritten (merged with silver) only when the run brought some.
    merged = {
        split.table: merge_latest(lake, split.table, batch).persist(StorageLevel.MEMORY_AND_DISK)
        for split, batch in ((content, valid(content)),
                             (users, with_pseudonyms(valid(users), [USER_ID], key)))
        if split.input
    }
    try:
        # Nothing is written unless every batch passes its suite (an empty one has nothing
        # to check, and GX's dozens of Spark jobs are not free).
        if events.input - events.rejected - events.duplicates_in_batch:
            check_batch(events_out, SILVER_EVENTS, config, metrics)
        for name, frame in merged.items():
            check_batch(frame, name, config, metrics)

        if force:
            # --force replaces this run's output: drop what an earlier run of it wrote.
            like = _like_prefix(prefix)
            for name, extra in ((QUARANTINE, f" AND {REJECTED_BY} = '{JOB}'"), (SILVER_EVENTS, "")):
                if lake.exists(name):
                    lake.delete(name, f"{INGEST_ID} LIKE {like}{extra}")

        rejected = reduce(DataFrame.unionByName, [
            quarantine_frame(events.classified.where(F.col(_REJECT).isNotNull()), BRONZE_EVENTS,
                             EVENT_ID, F.col("_raw_user_id")),
            quarantine_frame(content.classified.where(F.col(_REJECT).isNotNull()), BRONZE_CONTENT,
                             CONTENT_ID, None),
            quarantine_frame(users.classified.where(F.col(_REJECT).isNotNull()), BRONZE_USERS,
                             USER_ID, F.col("_raw_user_id")),
        ])
        q_result = lake.append(QUARANTINE, rejected, key=ctx.key(QUARANTINE), force=force)
        metrics.record_write(q_result)
        quarantined = q_result.rows
        if q_result.skipped:
            quarantined = (lake.read(QUARANTINE).where(F.col(REJECTED_BY) == JOB)
                           .where(F.col(INGEST_ID).startswith(prefix)).count())
        if quarantined != events.rejected + content.rejected + users.rejected:
            raise CountMismatch(f"{QUARANTINE}: {quarantined:,} rows committed, "
                                f"{events.rejected + content.rejected + users.rejected:,} rejected")

        e_result = lake.insert_new(SILVER_EVENTS, events_out, key=ctx.key(SILVER_EVENTS),
                                   force=force)
        metrics.record_write(e_result)
        inserted = e_result.rows
        if e_result.skipped:
            touched = [r[0] for r in events_out.select(EVENT_DATE).distinct().collect()]
            inserted = _committed_rows(lake, SILVER_EVENTS, prefix, touched)
        unique = events.input - events.rejected - events.duplicates_in_batch
        if events_out.count() != unique:
            raise CountMismatch(f"{SILVER_EVENTS}: {events_out.count():,} distinct valid events, "
                                f"expected {unique:,}")
        counts = [CleanCounts(SILVER_EVENTS, events.input, inserted, events.rejected,
                              events.duplicates_in_batch, unique - inserted)]

        for split in (content, users):
            accepted = split.input - split.rejected - split.duplicates_in_batch
            if split.table in merged:
                result = lake.overwrite(split.table, merged[split.table],
                                        key=ctx.key(split.table), force=force)
                metrics.record_write(result)
            counts.append(CleanCounts(split.table, split.input, accepted, split.rejected,
                                      split.duplicates_in_batch, 0))
    finally:
        for frame in (events_out, *merged.values()):
            frame.unpersist()

    for c in counts:
        c.check()
        c.record(metrics)
    metrics.record("rows_in", sum(c.input for c in counts), "rows")
    return counts
