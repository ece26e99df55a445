"""Build one day of the point-in-time feature store and that day's training examples.

    foryou features --run-date YYYY-MM-DD [--full] [--truth PATH]

See ``foryou.features.stage`` for what a feature day writes and the history days a
historical log calls for. ``--full`` recomputes from the whole history instead;
``--truth`` (Parquet with ``user_id, is_bot`` and raw user ids, e.g. a generated world's
``truth/users``) prints the bot detector's precision and recall. A date range is a backfill:
``foryou pipeline --backfill START END`` runs this job day by day.
"""
import sys

from foryou.config.settings import FeaturesSettings
from foryou.features import stage
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def add_arguments(parser) -> None:
    parser.add_argument("--full", action="store_true",
                        help="recompute from every event before the run date, ignoring earlier days")
    parser.add_argument("--truth", metavar="PATH",
                        help="Parquet of raw user_id, is_bot: print the bot detector's precision/recall")


def run(ctx: JobContext) -> StageResult:
    return stage.run(ctx.lake, FeaturesSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force,
                     full=ctx.args.full, truth=ctx.args.truth)


def main(argv=None) -> int:
    return job_main("features", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
