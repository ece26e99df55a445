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

from foryou.config.settings import IngestSettings
from foryou.ingest import stage
from foryou.ingest.interactions import TS_UNITS
from foryou.ingest.runs import RAW_FORMATS, files_not_ingested
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult

FORMATS = (*RAW_FORMATS, "kuairand", "interactions")
# The options that override the ``ingest`` section's key of the same name.
OPTIONS = ("format", "path", "columns", "sep", "ts_unit", "items", "item_columns", "users",
           "user_columns")


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


def run(ctx: JobContext) -> StageResult:
    given = {name: getattr(ctx.args, name) for name in OPTIONS if getattr(ctx.args, name)}
    settings = IngestSettings(ctx.config.ingest.model_copy(update=given))
    return stage.run(ctx.lake, settings, ctx.run_date, ctx.key(), ctx.force)


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
