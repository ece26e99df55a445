"""Ingest raw source files into the bronze tables, each file version once.

    foryou ingest [--format json|csv|parquet] --path WORLD_ROOT|EVENTS_DIR|FILE --run-date D
    foryou ingest --format kuairand --path DIR --run-date D
    foryou ingest --format interactions --path FILE --columns user=COL,item=COL,ts=COL[,weight=COL]
                  [--sep SEP] [--ts-unit s|ms] [--items FILE --item-columns item=COL,...]
                  [--users FILE --user-columns user=COL,...] --run-date D

``json`` (default), ``csv``, ``parquet``: our app's raw events (and a world root's content/
and users/) to bronze.events, bronze.content, bronze.users. ``kuairand``: KuaiRand's
interaction logs and user/video side tables. ``interactions``: a generic implicit-feedback
log, with an optional item catalogue and user table (``foryou.ingest.side_tables``). Records that cannot be parsed go to bronze.quarantine with the field named; files
already ingested (bronze.ingested_files) are skipped, also under ``--force`` (which re-runs
the job for its date; to ingest a file again, delete its row from bronze.ingested_files);
counts go to gold.metrics. Every option has an ``ingest.*`` config default, so the pipeline
runs ``foryou ingest --run-date D`` alone.
"""
import sys

from foryou.ingest.batch import IngestError
from foryou.ingest.interactions import TS_UNITS
from foryou.ingest.runs import (RAW_FORMATS, files_not_ingested, ingest_interactions, ingest_kuairand,
                                ingest_native, record)
from foryou.runtime import JobContext, job_main

FORMATS = (*RAW_FORMATS, "kuairand", "interactions")


def add_arguments(parser) -> None:
    parser.add_argument("--format", choices=FORMATS, help="source format (default: ingest.format)")
    parser.add_argument("--path", help="world root (events/, content/, users/), a folder or a "
                                       "file (default: ingest.path)")
    parser.add_argument("--columns", help="interactions: user=COL,item=COL,ts=COL[,weight=COL]")
    parser.add_argument("--sep", help="CSV field separator, \\t for tab (default: ingest.sep)")
    parser.add_argument("--ts-unit", choices=tuple(TS_UNITS),
                        help="interactions: the ts column is epoch seconds or milliseconds")
    parser.add_argument("--items", help="interactions: an item catalogue file or folder")
    parser.add_argument("--item-columns", help="interactions: item=COL[,title=COL,tags=COL,"
                                               "creator=COL,upload_ts=COL,duration_ms=COL]")
    parser.add_argument("--users", help="interactions: a user table file or folder")
    parser.add_argument("--user-columns", help="interactions: user=COL[,country=COL,language=COL,"
                                               "signup_ts=COL,activity=COL]")


def run(ctx: JobContext) -> None:
    args, settings = ctx.args, ctx.config.ingest
    path = args.path or settings.path
    fmt = args.format or settings.format
    sep = args.sep or settings.sep
    sep = "\t" if sep in ("\\t", "tab") else sep
    if not path:
        raise IngestError("nothing to ingest: give --path or set ingest.path")
    if fmt == "kuairand":
        reports = ingest_kuairand(ctx.spark, ctx.lake, ctx.config, path, ctx.run_date)
    elif fmt == "interactions":
        columns = args.columns or settings.columns
        if not columns:
            raise IngestError("--format interactions needs --columns user=COL,item=COL,ts=COL "
                              "(or ingest.columns)")
        reports = ingest_interactions(
            ctx.spark, ctx.lake, ctx.config, path, ctx.run_date, columns, sep,
            args.ts_unit or settings.ts_unit, items=args.items or settings.items,
            item_columns=args.item_columns or settings.item_columns,
            users=args.users or settings.users, user_columns=args.user_columns or settings.user_columns)
    else:
        reports = ingest_native(ctx.spark, ctx.lake, path, ctx.run_date, fmt, sep, settings.tables)
    record(ctx.metrics, reports)
    for r in reports:
        note = " (already committed)" if r.already_committed else ""
        if r.files_later:
            note += f"; {r.files_later} file(s) dated after {ctx.run_date} wait for their run date"
        print(f"  {r.target} <- {r.source}: files {r.files_new} new / {r.files_skipped} skipped, "
              f"records {r.records:,} = {r.accepted:,} accepted + {r.quarantined:,} quarantined, "
              f"{r.rows_written:,} rows written{note}")


def left_out(config, spark, lake, args) -> str | None:
    """When the date is already committed: say which new files that run leaves out."""
    path = args.path or config.ingest.path
    if not path:
        return None
    new = files_not_ingested(spark, lake, path, args.format or config.ingest.format,
                             args.run_date)
    if not new:
        return None
    shown = ", ".join(new[:3]) + (f" and {len(new) - 3} more" if len(new) > 3 else "")
    return (f"{len(new)} file(s) under {path} are new and were NOT ingested: {shown}. Ingest "
            f"them with a later --run-date, or re-run this date with --force")


def main(argv=None) -> int:
    return job_main("ingest", run, argv, add_arguments, description=__doc__, on_committed=left_out)


if __name__ == "__main__":
    sys.exit(main())
