"""Build the day's per-user candidate pool from every candidate source.

    foryou build-candidates --run-date YYYY-MM-DD

Writes as_of_date = run date of gold.candidate_pool (one row per user and item, with the
sources that proposed it) and gold.cold_start_waves (the new items' exposure waves), from
the run date's features and the silver days before it. The ANN source is skipped with a
warning until gold.item_embeddings/gold.user_embeddings exist (foryou train-embeddings).
Rows per source go to gold.metrics.
"""
import sys

from foryou.candidates import stage
from foryou.config.settings import CandidatesSettings
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def run(ctx: JobContext) -> StageResult:
    return stage.run(ctx.lake, CandidatesSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force)


def main(argv=None) -> int:
    return job_main("build-candidates", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
