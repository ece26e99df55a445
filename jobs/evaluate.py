"""Evaluate a run date: business metrics, retention, trends, ranker and retrieval figures,
monitoring (alerts, Prometheus file, retrain decision) and one HTML report.

    foryou evaluate --run-date YYYY-MM-DD [--no-simulate]

Results go to gold.metrics (stages ``evaluate`` and ``monitor``); prints the report's path.
"""
import sys

from foryou.config.settings import EvaluationSettings
from foryou.evaluation import stage
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def add_arguments(parser) -> None:
    parser.add_argument("--no-simulate", action="store_true",
                        help="skip the feed simulator section (the slowest part)")


def run(ctx: JobContext) -> StageResult:
    return stage.run(ctx.lake, EvaluationSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force,
                     simulate=not ctx.args.no_simulate)


def main(argv=None) -> int:
    return job_main("evaluate", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
