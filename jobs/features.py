"""Build one day of the point-in-time feature store and that day's training examples.

    foryou features --run-date YYYY-MM-DD [--full] [--truth PATH]

Writes as_of_date = run date of gold.user_features, gold.user_affinities,
gold.item_features and gold.vocabularies (events strictly before the run date, rolled
forward from the latest earlier day) and event_date = run date of gold.training_examples.
When the run's clean brought events of dates later than the store's last feature day but
before the run date (a historical log ingested at once), the feature days of the last
``features.history_days`` of those dates are built first, so the ranker has examples to
train, validate and test on. ``--full`` recomputes from the whole history instead;
``--truth`` (Parquet with ``user_id, is_bot`` and raw user ids, e.g. a generated world's
``truth/users``) prints the bot detector's precision and recall. A date range is a backfill:
``foryou pipeline --backfill START END`` runs this job day by day.
"""
import sys

from pyspark.sql import functions as F

from foryou.features import columns as C
from foryou.features.bots import detection_quality
from foryou.features.build import build_day, history_dates
from foryou.features.inputs import read_content
from foryou.privacy.pseudonyms import load_key, with_pseudonyms
from foryou.runtime import JobContext, job_main
from foryou.runtime.arrivals import ingest_prefix, reopened_dates


def add_arguments(parser) -> None:
    parser.add_argument("--full", action="store_true",
                        help="recompute from every event before the run date, ignoring earlier days")
    parser.add_argument("--truth", metavar="PATH",
                        help="Parquet of raw user_id, is_bot: print the bot detector's precision/recall")


def run(ctx: JobContext) -> None:
    cfg = ctx.config.features
    if read_content(ctx.lake, ctx.run_date).isEmpty():
        print("  features: no item catalogue (silver.content is empty): no text or content vectors")
    arrived = reopened_dates(ctx.lake, ctx.run_date, ingest_prefix(ctx.run_date, ctx.config))
    history = [] if ctx.args.full else history_dates(ctx.lake, ctx.run_date, arrived, cfg.history_days)
    if history:
        print(f"  history: this run's events reach back to {arrived[0]}; building the feature days "
              f"of its last {len(history)} event dates first ({history[0]} .. {history[-1]})")
    for day in history:
        past = build_day(ctx.lake, cfg, day, key=ctx.key(f"history-{day}/"), force=ctx.force)
        for write in past.writes.values():
            ctx.metrics.record_write(write)
        examples = past.writes[C.EXAMPLES]
        print(f"  as_of {day}: {examples.rows:,} training examples"
              + (" (already committed)" if examples.skipped else ""))
    ctx.metrics.record("features.history_days", len(history), "dates",
                       dates=[str(d) for d in history])
    result = build_day(ctx.lake, cfg, ctx.run_date, key=ctx.key(), force=ctx.force, full=ctx.args.full)
    window = result.window
    print(f"  as_of {window.as_of}: rolled forward from "
          f"{window.since or 'nothing (full recompute over the history)'}")
    for name, write in result.writes.items():
        ctx.metrics.record_write(write)
        ctx.metrics.record(f"seconds.{name}", result.seconds[name], "s")
        print(f"  {name}: {write.rows:,} rows" + (" (already committed)" if write.skipped else ""))
    users = ctx.lake.read(C.USER_FEATURES, partitions=[ctx.run_date])
    bots = users.where(F.col("suspected_bot")).count()
    ctx.metrics.record("suspected_bots", bots, "users")
    print(f"  suspected bots: {bots:,}")
    if ctx.args.truth:
        truth = ctx.spark.read.parquet(ctx.args.truth).select(C.USER_ID, "is_bot")
        # Truth holds raw ids; the features hold pseudonyms made with the pipeline's key.
        truth = with_pseudonyms(truth, [C.USER_ID], load_key(ctx.config, ctx.spark).value)
        quality = detection_quality(users, truth)
        for name in ("precision", "recall"):
            ctx.metrics.record(f"bot_{name}", quality[name], "ratio", **quality)
        print(f"  bot detection: precision {quality['precision']:.3f}, recall {quality['recall']:.3f} "
              f"(tp {quality['tp']}, fp {quality['fp']}, fn {quality['fn']})")


def main(argv=None) -> int:
    return job_main("features", run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
