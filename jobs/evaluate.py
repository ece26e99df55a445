"""Evaluate a run date: business metrics, retention, trends, ranker and retrieval figures,
monitoring (alerts, Prometheus file, retrain decision) and one HTML report.

    foryou evaluate --run-date YYYY-MM-DD [--no-simulate]

Results go to gold.metrics (stages ``evaluate`` and ``monitor``); prints the report's path.
"""
import sys

from foryou.evaluation.daily import evaluate_day
from foryou.runtime import JobContext, job_main


def add_arguments(parser) -> None:
    parser.add_argument("--no-simulate", action="store_true",
                        help="skip the feed simulator section (the slowest part)")


def run(ctx: JobContext) -> None:
    result = evaluate_day(ctx.lake, ctx.config, ctx.run_date, ctx.metrics, ctx.force,
                          simulate=not ctx.args.no_simulate)
    for name, value in result.business.items():
        print(f"  {name}: " + ("-" if value is None else f"{value:,.4g}"))
    print(f"  retrain: {'yes' if result.retrain else 'no'} ({result.reason})")
    print(f"  prometheus: {result.prometheus_path}")
    print(f"  report: {result.report_path}")


def main(argv=None) -> int:
    return job_main("evaluate", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
