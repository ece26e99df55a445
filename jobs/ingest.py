"""Ingest raw source files into the bronze tables.

    foryou ingest --format kuairand --path DIR --run-date YYYY-MM-DD

``kuairand``: KuaiRand's user and video side tables to bronze.users and bronze.content.
"""
import sys

from foryou.ingest.kuairand import content, users
from foryou.runtime import JobContext, job_main

FORMATS = ("kuairand",)


def add_arguments(parser) -> None:
    parser.add_argument("--format", choices=FORMATS, required=True, help="source format")
    parser.add_argument("--path", required=True, help="folder holding the source files")


def run(ctx: JobContext) -> None:
    ingest_id = f"{ctx.job}-{ctx.run_date}-{ctx.args.format}"
    for name, frame in (("bronze.users", users), ("bronze.content", content)):
        df = frame(ctx.spark, ctx.args.path, ingest_id)
        result = ctx.lake.append(name, df, key=ctx.key(name), force=ctx.force)
        ctx.metrics.record_write(result)
        print(f"  {name}: {result.rows:,} rows" + (" (already committed)" if result.skipped else ""))


def main(argv=None) -> int:
    return job_main("ingest", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
