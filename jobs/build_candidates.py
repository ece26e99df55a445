"""Build the day's per-user candidate pool from every candidate source.

    foryou build-candidates --run-date YYYY-MM-DD

Writes as_of_date = run date of gold.candidate_pool (one row per user and item, with the
sources that proposed it) and gold.cold_start_waves (the new items' exposure waves), from
the run date's features and the silver days before it. The ANN source is skipped with a
warning until gold.item_embeddings/gold.user_embeddings exist (foryou train-embeddings).
Rows per source go to gold.metrics.
"""
import sys

from foryou.candidates.build import build_day
from foryou.runtime import JobContext, job_main


def run(ctx: JobContext) -> None:
    result = build_day(ctx.lake, ctx.config.candidates, ctx.run_date, key=ctx.key(), force=ctx.force)
    if result.interaction_log:
        print("  no served impressions (an interaction log): co-occurrence over each user's history, "
              "then ALS neighbours (candidates.interaction_log)")
    for name, write in result.writes.items():
        ctx.metrics.record_write(write)
        print(f"  {name}: {write.rows:,} rows" + (" (already committed)" if write.skipped else ""))
    for source, rows in result.rows_by_source.items():
        ctx.metrics.record(f"candidates.{source}", rows, "rows")
    ctx.metrics.record("candidates.users", result.users, "users")
    if result.skipped:
        ctx.metrics.record("candidates.skipped_sources", len(result.skipped), "sources",
                           sources=result.skipped)
    print(f"  users with candidates: {result.users:,}; primary source rows: "
          + ", ".join(f"{s} {n:,}" for s, n in result.rows_by_source.items() if "." not in s)
          + (f"; skipped: {', '.join(result.skipped)}" if result.skipped else ""))


def main(argv=None) -> int:
    return job_main("build-candidates", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
