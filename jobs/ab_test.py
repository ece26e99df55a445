"""Compare two policies' logs, split by a user-bucket column, on the business metrics.

    foryou ab-test --run-date YYYY-MM-DD [--days N]
        [--assignments PATH | --bucket-column COL] [--control A] [--treatment B]

Reads silver.impressions and silver.sessions of the N days ending at the run date. The arm of
each user comes from ``--assignments`` (Parquet with ``user_id, variant``, pseudonymised ids),
from a column already in the logs (``--bucket-column``), or, by default, from a stable hash of
the user into ``evaluation.ab_test.buckets`` buckets (on one policy's logs that is an A/A test:
it should find nothing). Prints and records (stage ``ab-test``) each metric's effect, CI and
p-value.
"""
import datetime as dt
import sys

from pyspark.sql import functions as F

from foryou.evaluation.abtest import VARIANT, compare, hash_buckets
from foryou.evaluation.daily import IMPRESSIONS, SESSIONS
from foryou.lake.days import days_before
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def add_arguments(parser) -> None:
    parser.add_argument("--days", type=int, help="log window ending at the run date "
                        "(default evaluation.ab_test.days)")
    parser.add_argument("--assignments", metavar="PATH", help="Parquet of user_id, variant")
    parser.add_argument("--bucket-column", metavar="COL", help="column of silver.impressions naming the arm")
    parser.add_argument("--control", default="control")
    parser.add_argument("--treatment", default="treatment")


def run(ctx: JobContext) -> StageResult:
    out = StageResult()
    cfg = ctx.config.evaluation.ab_test
    # The days ending at the run date.
    days = days_before(ctx.run_date + dt.timedelta(days=1), ctx.args.days or cfg.days)
    impressions = ctx.lake.read(IMPRESSIONS, partitions=days)
    sessions = ctx.lake.read(SESSIONS, partitions=days) if ctx.lake.exists(SESSIONS) else None
    control, treatment = ctx.args.control, ctx.args.treatment
    if ctx.args.assignments:
        arms = ctx.spark.read.parquet(ctx.args.assignments).select("user_id", F.col("variant").cast("string"))
        impressions, column = impressions.join(arms.withColumnRenamed("variant", VARIANT), "user_id"), VARIANT
    elif ctx.args.bucket_column:
        column = ctx.args.bucket_column
    else:
        split = int(round(cfg.treatment_share * cfg.buckets))
        impressions = hash_buckets(impressions, cfg.salt, cfg.buckets).withColumn(
            VARIANT, F.when(F.col("bucket") < split, "treatment").otherwise("control"))
        column = VARIANT
    effects = compare(impressions, sessions, column, control, treatment, cfg.alpha)
    print(f"  {'metric':<24}{'control':>12}{'treatment':>12}{'diff':>12}  {int((1 - cfg.alpha) * 100)}% CI"
          f"{'':>16}{'p':>8}")
    for e in effects:
        out.record(f"effect.{e.metric}", e.diff, "diff", **e.as_dict())
        out.record(f"p_value.{e.metric}", e.p_value, "p")
        flag = " *" if e.significant else ""
        print(f"  {e.metric:<24}{e.control:>12.4g}{e.treatment:>12.4g}{e.diff:>+12.4g}  "
              f"[{e.ci_low:+.4g}, {e.ci_high:+.4g}]{e.p_value:>10.3g}{flag}")
    return out


def main(argv=None) -> int:
    return job_main("ab-test", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
