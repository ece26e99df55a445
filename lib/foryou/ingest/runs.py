"""Ingest runs per source format: which files feed which table, and the run's metrics.

``ingest_native`` accepts a synthetic world's root (``events/``, ``content/``, ``users/``),
a folder of event files or a single event file. ``ingest_kuairand`` takes a KuaiRand folder
(logs and side tables); ``ingest_interactions`` a generic interaction log. Each returns one
:class:`~foryou.ingest.batch.BatchReport` per target table; :func:`record` puts them in
``gold.metrics``.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from foryou.config.ingest import IngestConfig
from foryou.ingest import interactions, kuairand, native, side_tables
from foryou.ingest.batch import (MANIFEST, QUARANTINE, BatchReport, IngestError, ingest,
                                  ingested_identities)
from foryou.ingest.sources import EXTENSIONS, due_by, is_folder, is_world_root, join, list_files
from foryou.lake import Lake
from foryou.stages import StageResult

RAW_FORMATS = ("json", "csv", "parquet")


def ingest_native(spark: SparkSession, lake: Lake, path: str, run_date: dt.date,
                  fmt: str = "json", sep: str = ",",
                  folders: Sequence[str] = ("events", "content", "users")) -> list[BatchReport]:
    """Native raw files under ``path`` to bronze.events / content / users (of a world root,
    only the ``folders`` named)."""
    if fmt not in RAW_FORMATS:
        raise IngestError(f"--format {fmt!r}: expected one of {', '.join(RAW_FORMATS)}")
    done = ingested_identities(lake)
    reports = []
    if is_world_root(spark, path):
        units = [(t, join(path, t.folder)) for t in native.NATIVE_TABLES
                 if t.folder in folders and is_folder(spark, join(path, t.folder))]
    else:
        units = [(native.NATIVE_TABLES[0], path)]
    for table, folder in units:
        files = list_files(spark, folder, EXTENSIONS[fmt])
        if not files and table.target == native.EVENTS:
            others = sorted(f for f, exts in EXTENSIONS.items()
                            if f != fmt and list_files(spark, folder, exts))
            hint = f"; found {' and '.join(others)} files: pass --format {others[0]}" if others else ""
            raise IngestError(f"no {fmt} event files under {folder} (names ending "
                              f"{', '.join(EXTENSIONS[fmt])}){hint}")
        reports.append(ingest(spark, lake, native.adapter(spark, fmt, table, sep), files,
                              run_date, done))
    return reports


def ingest_kuairand(spark: SparkSession, lake: Lake, settings: IngestConfig, path: str,
                    run_date: dt.date) -> list[BatchReport]:
    """A KuaiRand folder: side tables to bronze.users / bronze.content, logs to bronze.events."""
    if not is_folder(spark, path):
        raise IngestError(f"--format kuairand --path {path}: expected the folder of KuaiRand CSVs")
    csvs = list_files(spark, path, (".csv",))
    done = ingested_identities(lake)
    reports = []
    for pattern, adapter in kuairand.side_adapters(spark):
        files = [f for f in csvs if os.path.basename(f.path).startswith(pattern)]
        if files:
            reports.append(ingest(spark, lake, adapter, files, run_date, done))
    side = (kuairand.USERS_PATTERN, kuairand.VIDEOS_PATTERN)
    logs = [f for f in csvs if kuairand.LOG_PATTERN in os.path.basename(f.path)
            and not os.path.basename(f.path).startswith(side)]
    if logs:
        videos = [f.path for f in csvs if os.path.basename(f.path).startswith(kuairand.VIDEOS_PATTERN)]
        adapter = kuairand.log_adapter(spark, settings.kuairand_request_window_s, videos)
        reports.append(ingest(spark, lake, adapter, logs, run_date, done))
    if not reports:
        raise IngestError(f"no KuaiRand files under {path} (expected log_*.csv, "
                          f"{kuairand.USERS_FILE} or {kuairand.VIDEOS_FILE})")
    return reports


def _side_table(spark: SparkSession, path: str | None, columns: str | None, option: str) -> list:
    """The files of an optional side table (``option`` items or users); the mapping must
    come with the path."""
    mapping = f"--{option[:-1]}-columns"
    if path is None:
        if columns:
            raise IngestError(f"{mapping} is given without --{option}")
        return []
    if not columns:
        raise IngestError(f"--{option} {path} needs {mapping} (which column is which)")
    files = list_files(spark, path, EXTENSIONS["csv"] + EXTENSIONS["parquet"])
    if not files:
        raise IngestError(f"--{option} {path}: no csv, tsv, txt or parquet files")
    return files


def ingest_interactions(spark: SparkSession, lake: Lake, settings: IngestConfig, path: str,
                        run_date: dt.date, columns: str, sep: str = ",",
                        ts_unit: str | None = None, items: str | None = None,
                        item_columns: str | None = None, users: str | None = None,
                        user_columns: str | None = None) -> list[BatchReport]:
    """A generic ``user, item, timestamp[, weight]`` log to bronze.events, and its optional
    item catalogue and user table to bronze.content and bronze.users (``side_tables``)."""
    mapping = interactions.ColumnMap.parse(columns)
    files = list_files(spark, path, EXTENSIONS["csv"] + EXTENSIONS["parquet"])
    if not files:
        raise IngestError(f"no interaction files under {path} (csv, tsv, txt or parquet)")
    # Checked on every run, also when every file is already ingested: a wrong mapping is
    # an error, not a silent no-op. Every mapping is checked before anything is written.
    interactions.check_columns(spark, [f.path for f in files], mapping.roles(), sep)
    side = []
    item_files = _side_table(spark, items, item_columns, "items")
    if item_files:
        side.append((side_tables.catalogue_adapter(spark, [f.path for f in item_files],
                                                   item_columns, sep), item_files))
    user_files = _side_table(spark, users, user_columns, "users")
    if user_files:
        side.append((side_tables.users_adapter(spark, [f.path for f in user_files],
                                               user_columns, sep), user_files))
    reports = [ingest(spark, lake, adapter, found, run_date) for adapter, found in side]
    adapter = interactions.adapter(spark, mapping, sep, ts_unit,
                                   settings.interactions_like_weight)
    return [*reports, ingest(spark, lake, adapter, files, run_date)]


def _extensions(fmt: str) -> tuple[str, ...]:
    if fmt == "kuairand":
        return (".csv",)
    if fmt == "interactions":
        return EXTENSIONS["csv"] + EXTENSIONS["parquet"]
    return EXTENSIONS.get(fmt, ())


def files_not_ingested(spark: SparkSession, lake: Lake, path: str, fmt: str,
                       run_date: dt.date) -> list[str]:
    """Files under ``path`` due by ``run_date`` whose current version (path, size, mtime)
    the manifest does not hold: what a run already committed for its date leaves out.
    Files dated after ``run_date`` are not left out: they wait for their day. Listing only."""
    try:
        files, _ = due_by(list_files(spark, path, _extensions(fmt)), run_date)
    except FileNotFoundError:
        return []
    seen = set()
    if lake.exists(MANIFEST):  # one small row per file ever ingested
        # bounded: one row per file ever ingested (grows with files, not events)
        rows = (lake.read(MANIFEST)
                .select("file_path", "file_size", F.unix_micros("file_modified")).collect())
        seen = {(r[0], r[1], r[2]) for r in rows}

    def micros(t: dt.datetime) -> int:
        return round(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1e6)

    return [f.path for f in files if (f.path, f.size, micros(f.modified)) not in seen]


FIGURES = ("files_seen", "files_later", "files_new", "files_skipped", "records", "accepted", "quarantined",
           "blank_lines")


def record(metrics: StageResult, reports: list[BatchReport]) -> None:
    """Per-table and total counts in gold.metrics (``records_in`` = ``records_accepted`` +
    ``records_quarantined``; blank lines are not records)."""
    for r in reports:
        for figure in FIGURES:
            metrics.record(f"{figure}.{r.target}", getattr(r, figure),
                           "files" if figure.startswith("files_") else "rows",
                           source=r.source)
        metrics.record(f"rows_written.{r.target}", r.rows_written, "rows", source=r.source,
                       already_committed=r.already_committed)
    totals = {f: sum(getattr(r, f) for r in reports) for f in FIGURES}
    metrics.record("files_seen", totals["files_seen"], "files")
    metrics.record("files_new", totals["files_new"], "files")
    metrics.record("files_skipped", totals["files_skipped"], "files")
    metrics.record("files_later", totals["files_later"], "files")
    metrics.record("records_in", totals["records"], "rows")
    metrics.record("records_accepted", totals["accepted"], "rows")
    metrics.record("records_quarantined", totals["quarantined"], "rows")
    metrics.record(f"rows_written.{QUARANTINE}",
                   sum(r.quarantine_rows_written for r in reports), "rows")
