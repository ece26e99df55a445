"""The ``ingest`` stage: raw source files into the bronze tables, each file version once.

What to read comes from the ``ingest`` section (path, format, separator, an interaction log's
column mapping and side tables); ``foryou ingest``'s options override it. Files already
ingested (``bronze.ingested_files``) are skipped whatever ``force`` says: a file is ingested
again only when its row there is deleted.
"""
from __future__ import annotations

import datetime as dt

from foryou.config.settings import IngestSettings
from foryou.ingest.batch import IngestError
from foryou.ingest.runs import ingest_interactions, ingest_kuairand, ingest_native, record
from foryou.lake import CommitKey, Lake
from foryou.stages import StageResult


def run(lake: Lake, settings: IngestSettings, run_date: dt.date, key: CommitKey,
        force: bool = False) -> StageResult:
    """Ingest what ``settings.ingest`` names for ``run_date``; one report line per table."""
    with StageResult() as out:  # a failure keeps what was recorded so far
        cfg, spark = settings.ingest, lake.spark
        sep = "\t" if cfg.sep in ("\\t", "tab") else cfg.sep
        if not cfg.path:
            raise IngestError("nothing to ingest: give --path or set ingest.path")
        if cfg.format == "kuairand":
            reports = ingest_kuairand(spark, lake, cfg, cfg.path, run_date)
        elif cfg.format == "interactions":
            if not cfg.columns:
                raise IngestError("--format interactions needs --columns user=COL,item=COL,ts=COL "
                                  "(or ingest.columns)")
            reports = ingest_interactions(
                spark, lake, cfg, cfg.path, run_date, cfg.columns, sep, cfg.ts_unit, items=cfg.items,
                item_columns=cfg.item_columns, users=cfg.users, user_columns=cfg.user_columns)
        else:
            reports = ingest_native(spark, lake, cfg.path, run_date, cfg.format, sep, cfg.tables)
        record(out, reports)
        for r in reports:
            note = " (already committed)" if r.already_committed else ""
            if r.files_later:
                note += f"; {r.files_later} file(s) dated after {run_date} wait for their run date"
            out.say(f"  {r.target} <- {r.source}: files {r.files_new} new / {r.files_skipped} skipped, "
                    f"records {r.records:,} = {r.accepted:,} accepted + {r.quarantined:,} quarantined, "
                    f"{r.rows_written:,} rows written{note}")
        return out
