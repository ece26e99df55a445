"""The ``clean`` stage: the run date's bronze batch, split by outcome, quarantined, merged,
validated and written, with counts that must add up (:mod:`foryou.clean`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.clean.fields import (RANK, RAW_USER_ID, REJECT, classify_content, classify_events,
                                 classify_users, utc_date)
from foryou.config.clean import CleanConfig
from foryou.config.settings import CleanSettings
from foryou.lake import CommitKey, Lake, table
from foryou.lake.vocabulary import (
    BRONZE_CONTENT, BRONZE_EVENTS, BRONZE_QUARANTINE as QUARANTINE, BRONZE_USERS, CONTENT_ID,
    EVENT_DATE, EVENT_ID, INGESTED_AT, INGEST_DATE, INGEST_ID, PAYLOAD, QUARANTINE_REASON,
    RECORD_REF, REJECTED_BY, SILVER_CONTENT, SILVER_EVENTS, SILVER_USERS, SOURCE, UPDATED_AT,
    USER_ID,
)
from foryou.privacy.pseudonyms import load_key, with_pseudonyms
from foryou.quality.expectations import check_batch
from foryou.runtime.arrivals import ingest_prefix
from foryou.spark import keep_on_disk
from foryou.stages import StageResult

JOB = "clean"
# A working column of merge_latest.
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


@dataclass
class CleanResult(StageResult):
    """A clean run's figures, and where every input row of each table went."""

    counts: list[CleanCounts] = field(default_factory=list)


def _like_prefix(prefix: str) -> str:
    """A SQL ``LIKE 'prefix%'`` literal (wildcards and quotes escaped), for lake deletes."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "'" + escaped.replace("'", "''") + "%'"


def read_batch(lake: Lake, name: str, run_date: dt.date | str, clean: CleanConfig) -> DataFrame:
    """The rows of bronze table ``name`` that the run date's ingests wrote (empty if none)."""
    prefix = ingest_prefix(run_date, clean)
    return lake.read_or_empty(name).where(F.col(INGEST_ID).startswith(prefix))


def quarantine_frame(rejected: DataFrame, source_table: str, ref_key: str,
                     raw_user_id: Column | None) -> DataFrame:
    """Rejected rows in ``bronze.quarantine``'s shape (reason from ``_reject``)."""
    return rejected.select(
        F.col(PAYLOAD),
        F.col(REJECT).alias(QUARANTINE_REASON),
        F.concat(F.lit(f"{source_table} {ref_key}="),
                 F.coalesce(F.col(ref_key), F.lit("<missing>"))).alias(RECORD_REF),
        F.col(INGEST_ID), F.col(SOURCE), F.col(INGESTED_AT),
        utc_date(F.col(INGESTED_AT)).alias(INGEST_DATE),
        (raw_user_id if raw_user_id is not None else F.lit(None).cast("string")).alias(USER_ID),
        F.lit(JOB).alias(REJECTED_BY),
    )


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
    ranked = new.withColumn(RANK, F.row_number().over(
        Window.partitionBy(key).orderBy(F.col(UPDATED_AT).desc(), F.col(_FRESH).desc())))
    return ranked.where(F.col(RANK) == 1).select(*columns)


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
        F.count(F.col(REJECT)).alias("rejected"),
        F.count(F.when(F.col(REJECT).isNull() & (F.col(RANK) > 1), 1)).alias("dups"),
    ).first()
    return _Split(name, classified, int(row["input"]), int(row["rejected"]), int(row["dups"]))


def _committed_rows(lake: Lake, name: str, prefix: str, partitions: list | None) -> int:
    """Rows of ``name`` from this run's ingests: what an earlier, interrupted run committed."""
    if not lake.exists(name):
        return 0
    df = lake.read(name, partitions=partitions) if partitions is not None else lake.read(name)
    return df.where(F.col(INGEST_ID).startswith(prefix)).count()


def run(lake: Lake, settings: CleanSettings, run_date: dt.date, key: CommitKey,
        force: bool = False) -> StageResult:
    """Clean the run date's bronze events, content and users into silver.

    Validates every silver batch first (:mod:`foryou.quality`), then writes quarantine and
    silver, checks that the counts add up and records them (one ``CleanCounts`` per table in
    ``result.counts``).

    Raises:
        CountMismatch: a table's rows do not add up (nothing of the run counts as done).
        foryou.quality.expectations.QualityError: a batch failed its suite (nothing written).
    """
    with CleanResult() as out:  # a failure keeps what was recorded so far
        prefix = ingest_prefix(run_date, settings.clean)
        pseudonyms = load_key(settings.privacy, lake.spark)
        if pseudonyms.is_demo:
            out.record("pseudonym_key_is_demo", 1, "bool")

        events = _split(SILVER_EVENTS, classify_events(
            read_batch(lake, BRONZE_EVENTS, run_date, settings.clean), settings.clean, run_date),
            BRONZE_EVENTS, lake)
        content = _split(SILVER_CONTENT, classify_content(
            read_batch(lake, BRONZE_CONTENT, run_date, settings.clean)), BRONZE_CONTENT, lake)
        users = _split(SILVER_USERS, classify_users(
            read_batch(lake, BRONZE_USERS, run_date, settings.clean)), BRONZE_USERS, lake)
        try:
            out.counts = _write(lake, settings, key, force, out, prefix, pseudonyms.value,
                                events, content, users)
        finally:
            for split in (events, content, users):
                split.classified.unpersist()
        for c in out.counts:
            out.say(f"  {c.table}: {c.input:,} in = {c.accepted:,} accepted + {c.quarantined:,} "
                    f"quarantined + {c.duplicates:,} duplicates")
        return out


def _write(lake: Lake, settings: CleanSettings, run_key: CommitKey, force: bool,
           metrics: StageResult, prefix: str, key: bytes, events: _Split, content: _Split,
           users: _Split) -> list[CleanCounts]:
    valid = lambda s: s.classified.where(F.col(REJECT).isNull() & (F.col(RANK) == 1))  # noqa: E731
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
            check_batch(events_out, SILVER_EVENTS, settings, metrics)
        for name, frame in merged.items():
            check_batch(frame, name, settings, metrics)

        if force:
            # --force replaces this run's output: drop what an earlier run of it wrote.
            like = _like_prefix(prefix)
            for name, extra in ((QUARANTINE, f" AND {REJECTED_BY} = '{JOB}'"), (SILVER_EVENTS, "")):
                if lake.exists(name):
                    lake.delete(name, f"{INGEST_ID} LIKE {like}{extra}")

        rejected = reduce(DataFrame.unionByName, [
            quarantine_frame(events.classified.where(F.col(REJECT).isNotNull()), BRONZE_EVENTS,
                             EVENT_ID, F.col(RAW_USER_ID)),
            quarantine_frame(content.classified.where(F.col(REJECT).isNotNull()), BRONZE_CONTENT,
                             CONTENT_ID, None),
            quarantine_frame(users.classified.where(F.col(REJECT).isNotNull()), BRONZE_USERS,
                             USER_ID, F.col(RAW_USER_ID)),
        ])
        q_result = lake.append(QUARANTINE, rejected, key=run_key.sub(QUARANTINE), force=force)
        metrics.record_write(q_result)
        quarantined = q_result.rows
        if q_result.skipped:
            quarantined = (lake.read(QUARANTINE).where(F.col(REJECTED_BY) == JOB)
                           .where(F.col(INGEST_ID).startswith(prefix)).count())
        if quarantined != events.rejected + content.rejected + users.rejected:
            raise CountMismatch(f"{QUARANTINE}: {quarantined:,} rows committed, "
                                f"{events.rejected + content.rejected + users.rejected:,} rejected")

        e_result = lake.insert_new(SILVER_EVENTS, events_out, key=run_key.sub(SILVER_EVENTS),
                                   force=force)
        metrics.record_write(e_result)
        inserted = e_result.rows
        if e_result.skipped:
            # bounded: the event dates the batch touched
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
                                        key=run_key.sub(split.table), force=force)
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
