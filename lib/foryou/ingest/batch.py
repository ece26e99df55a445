"""One ingest unit: new files of one adapter into one bronze table, with quarantine.

The steps, all distributed except the listing and a per-file-block summary:

1. list the source files and drop those the manifest (``bronze.ingested_files``) already
   holds: a file version is ingested once, however often the job runs over its folder;
2. read the new files' records (:mod:`foryou.ingest.records`) and let the adapter check
   them: each record gets a null ``_reason`` or one naming the field;
3. one aggregate over the (cached) checked records gives, per file block, its record,
   blank and quarantined counts and its first row id: that numbers every record within its
   file (``record_ref`` = ``path:line N``) without a window over the data, and gives the
   per-file counts for the manifest;
4. accepted records go through the adapter's ``emit`` to the target table, rejected ones to
   ``bronze.quarantine``, then the files to the manifest, all three under one commit key
   derived from the batch's file set, so a run killed half-way and run again commits each
   part exactly once.

Counts add up by construction and are checked: records = accepted + quarantined.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from foryou.config import ConfigError
from foryou.ingest.records import BLANK, BLOCK, FILE, MALFORMED, PAYLOAD, REPLACEMENT, ROWID, RawRecords
from foryou.ingest.sources import SourceFile, due_by, normalise
from foryou.lake import CommitKey, Lake, table
from foryou.lake.vocabulary import (
    BRONZE_INGESTED_FILES as MANIFEST, BRONZE_QUARANTINE as QUARANTINE, INGESTED_AT,
    INGEST_DATE, INGEST_ID, RECORD_REF, SOURCE, USER_ID,
)
from foryou.spark import keep_on_disk

JOB = "ingest"
REASON = "_reason"
# bronze.quarantine.rejected_by for records rejected here (the clean stage writes "clean").
REJECTED_BY = "ingest"


class IngestError(ConfigError):
    """Input the job cannot ingest at all (a missing column, an unknown layout): the
    message names the field or file. A ConfigError, so the job reports it in one line and
    exits 1 instead of printing a traceback."""


@dataclass(frozen=True)
class Adapter:
    """How one source format becomes one bronze table.

    Attributes:
        source: lineage name written to ``source`` (native, kuairand, interactions).
        target: the bronze table accepted records go to.
        read: paths -> raw records.
        check: raw records frame -> same frame plus ``_reason`` (null = accept) and any
            typed columns ``emit`` needs.
        emit: accepted records (with ``ingest_id``, ``source``, ``ingested_at``) -> rows of
            ``target``; one record may give several rows (a KuaiRand impression and its
            outcomes).
        one_to_one: ``emit`` gives exactly one row per record (checked after the write).
    """

    source: str
    target: str
    read: Callable[[Sequence[str]], RawRecords]
    check: Callable[[DataFrame], DataFrame]
    emit: Callable[[DataFrame], DataFrame]
    one_to_one: bool = True


@dataclass
class BatchReport:
    """What one ingest unit did; every figure is also recorded in gold.metrics."""

    source: str
    target: str
    files_seen: int = 0
    files_later: int = 0
    files_new: int = 0
    files_skipped: int = 0
    records: int = 0
    accepted: int = 0
    quarantined: int = 0
    blank_lines: int = 0
    rows_written: int = 0
    quarantine_rows_written: int = 0
    already_committed: bool = False


def ingest_id_prefix(run_date: dt.date, source: str) -> str:
    """``ingest-<run date>-<source>``: the clean stage selects a run's rows by this prefix."""
    return f"{JOB}-{run_date}-{source}"


def ingested_identities(lake: Lake) -> set[str]:
    """Identities of every file version already ingested (one small column)."""
    if not lake.exists(MANIFEST):
        return set()
    # bounded: one id per file ever ingested (grows with files, not events)
    return {r[0] for r in lake.read(MANIFEST).select("file_identity").collect()}


def _batch_key(run_date: dt.date, adapter: Adapter, identities: Sequence[str]) -> CommitKey:
    digest = hashlib.sha256("\n".join(sorted(identities)).encode()).hexdigest()[:16]
    return CommitKey(JOB, run_date, f"{adapter.target}/{adapter.source}/{digest}")


def _file_ingest_id(prefix: str, path: str) -> str:
    return f"{prefix}-{hashlib.sha256(path.encode()).hexdigest()[:10]}"


def ingest(spark: SparkSession, lake: Lake, adapter: Adapter, files: Sequence[SourceFile],
           run_date: dt.date, done: set[str] | None = None) -> BatchReport:
    """Ingest the files of ``files`` not ingested before; returns the counts.

    Args:
        files: every file seen under the source path (the new ones are found here); files
            in a date folder later than ``run_date`` wait for their own run
            (:func:`~foryou.ingest.sources.due_by`).
        done: identities already ingested (read from the manifest when not given).
    """
    files, later = due_by(files, run_date)
    report = BatchReport(adapter.source, adapter.target, files_seen=len(files),
                         files_later=len(later))
    done = ingested_identities(lake) if done is None else done
    new = [f for f in files if f.identity(adapter.source, adapter.target) not in done]
    report.files_new, report.files_skipped = len(new), len(files) - len(new)
    if not new:
        return report
    by_path = {f.path: f for f in new}
    prefix = ingest_id_prefix(run_date, adapter.source)
    ingested_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    key = _batch_key(run_date, adapter, [f.identity(adapter.source, adapter.target) for f in new])

    raw = adapter.read([f.path for f in new])
    checked = adapter.check(raw.frame)
    # A record that could not be split into fields has only that one reason.
    checked = checked.withColumn(REASON, F.coalesce(F.col(MALFORMED), F.col(REASON)))
    # Read three times: counts, accepted rows, quarantine.
    checked = keep_on_disk(checked)
    try:
        # bounded: one row per file block (split) of the run's files
        blocks = (checked.groupBy(FILE, BLOCK)
                  .agg(F.min(ROWID).alias("first_rowid"), F.count(F.lit(1)).alias("lines"),
                       F.sum(F.col(BLANK).cast("long")).alias("blank"),
                       F.sum((~F.col(BLANK) & F.col(REASON).isNotNull()).cast("long")).alias("bad"))
                  .collect())
        per_file, offsets = _summarise(blocks, by_path, prefix)
        report.records = sum(v["records"] for v in per_file.values())
        report.quarantined = sum(v["quarantined"] for v in per_file.values())
        report.accepted = report.records - report.quarantined
        report.blank_lines = sum(r["blank"] for r in blocks)

        ids = spark.createDataFrame(
            [(spark_path, v["ingest_id"]) for spark_path, v in per_file.items()],
            f"{FILE} string, {INGEST_ID} string")
        lineage = (checked.join(F.broadcast(ids), FILE)
                   .withColumn(SOURCE, F.lit(adapter.source))
                   .withColumn(INGESTED_AT, F.lit(ingested_at)))
        live = lineage.filter(~F.col(BLANK))

        accepted = adapter.emit(live.filter(F.col(REASON).isNull()))
        written = lake.append(adapter.target, accepted, key=key)
        report.rows_written = written.rows
        report.already_committed = written.skipped
        if adapter.one_to_one and not written.skipped and written.rows != report.accepted:
            raise IngestError(f"{adapter.target}: wrote {written.rows} rows for "
                              f"{report.accepted} accepted records")

        if report.quarantined:
            refs = spark.createDataFrame(
                offsets, f"{FILE} string, {BLOCK} long, first_rowid long, line_offset long, "
                         f"ref_path string")
            bad = (live.filter(F.col(REASON).isNotNull()).join(F.broadcast(refs), [FILE, BLOCK])
                   .select(*safe_payload(F.col(PAYLOAD)), F.col(REASON).alias("reason"),
                           F.concat(F.col("ref_path"), F.lit(f":{raw.unit} "),
                                    (F.col("line_offset") + F.col(ROWID) - F.col("first_rowid") + 1)
                                    .cast("string")).alias(RECORD_REF),
                           INGEST_ID, SOURCE, INGESTED_AT,
                           F.lit(run_date).alias(INGEST_DATE),
                           *quarantine_extras(live)))
            q = lake.append(QUARANTINE, bad, key=key)
            report.quarantine_rows_written = q.rows
            if not q.skipped and q.rows != report.quarantined:
                raise IngestError(f"{QUARANTINE}: wrote {q.rows} rows for "
                                  f"{report.quarantined} rejected records")

        # Keyed by listed path; an empty file has no block but is ingested all the same.
        counted = {v["path"]: v for v in per_file.values()}
        rows = []
        for f in new:
            c = counted.get(f.path, {"records": 0, "quarantined": 0})
            rows.append((f.identity(adapter.source, adapter.target), f.path, f.size, f.modified,
                         adapter.target, c["records"], c["records"] - c["quarantined"],
                         c["quarantined"], _file_ingest_id(prefix, f.path), adapter.source,
                         ingested_at, run_date))
        manifest = spark.createDataFrame(rows, table(MANIFEST).schema)
        lake.append(MANIFEST, manifest, key=key)
    finally:
        checked.unpersist()
    return report


def safe_payload(payload: Column) -> list[Column]:
    """``payload`` and ``payload_encoding`` for quarantine: the text as received, or the raw
    bytes as base64 when they are not valid UTF-8, so that every reader of the table
    (Arrow, polars, Spark) can read it and nothing of the record is lost."""
    valid = F.is_valid_utf8(payload)
    return [F.when(valid, payload).otherwise(F.base64(payload.cast("binary"))).alias(PAYLOAD),
            F.when(valid, F.lit("utf-8")).otherwise(F.lit("base64")).alias("payload_encoding")]


def quarantine_extras(frame: DataFrame) -> list:
    """Optional quarantine columns other stages rely on, when the catalog declares them."""
    names = {c.name for c in table(QUARANTINE).columns}
    extras = []
    if USER_ID in names:
        user = F.col(USER_ID) if USER_ID in frame.columns else F.lit(None).cast("string")
        # An id that is not clean UTF-8 is not one forget-users could be asked for.
        extras.append(F.when(F.is_valid_utf8(user) & ~user.contains(REPLACEMENT), user).alias(USER_ID))
    if "rejected_by" in names:
        extras.append(F.lit(REJECTED_BY).alias("rejected_by"))
    return extras


def _summarise(blocks, by_path: dict[str, SourceFile], prefix: str):
    """Per-file counts and, per block, the line number its first record has in the file."""
    per_file: dict[str, dict] = {}
    offsets = []
    ordered = sorted(blocks, key=lambda r: (r[FILE], r[BLOCK]))
    running: dict[str, int] = {}
    for r in ordered:
        spark_path = r[FILE]
        path = normalise(spark_path)
        if path not in by_path:
            raise IngestError(f"read a file that was not listed: {spark_path}")
        entry = per_file.setdefault(spark_path, {"path": path, "records": 0, "quarantined": 0,
                                                 "ingest_id": _file_ingest_id(prefix, path)})
        entry["records"] += r["lines"] - r["blank"]
        entry["quarantined"] += r["bad"]
        offsets.append((spark_path, r[BLOCK], r["first_rowid"], running.get(spark_path, 0), path))
        running[spark_path] = running.get(spark_path, 0) + r["lines"]
    return per_file, offsets
