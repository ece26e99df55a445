"""Run the pipeline's stages in dependency order for a run date or a backfill range.

    foryou pipeline --run-date D [--from STAGE] [--until STAGE] [--synthetic]
    foryou pipeline --backfill START END

The pipeline starts where the data is: at ``ingest`` (of ``ingest.path``); ``--synthetic``
first generates a synthetic world there (``make demo`` does). Stages already committed for a
date are skipped; after a failure the stage table shows FAILED with one error line (the
traceback goes to the log) and the next run resumes at the failed stage.
"""
import datetime as dt
import sys

from foryou.lake.days import date_range
from foryou.pipeline import run_pipeline, select
from foryou.runtime import operator_main
from foryou.stages import STAGES


def add_arguments(parser) -> None:
    parser.add_argument("--run-date", type=dt.date.fromisoformat,
                        default=dt.datetime.now(dt.timezone.utc).date())
    parser.add_argument("--backfill", nargs=2, type=dt.date.fromisoformat,
                        metavar=("START", "END"), help="every run date from START to END")
    parser.add_argument("--from", dest="start", help="first stage to run")
    parser.add_argument("--until", help="last stage to run")
    parser.add_argument("--force", action="store_true", help="re-run committed stages")
    parser.add_argument("--synthetic", action="store_true",
                        help="start with `generate`: a synthetic world (config `world`) into ingest.path")


def main(argv=None) -> int:
    def body(config, spark, lake, args) -> int:
        try:
            stages = select(STAGES, args.start, args.until, args.synthetic)
            dates = date_range(*args.backfill) if args.backfill else [args.run_date]
        except ValueError as exc:
            print(f"foryou pipeline: {exc}", file=sys.stderr)
            return 2
        return run_pipeline(lake, config, dates, stages, args.force)

    return operator_main("pipeline", body, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
