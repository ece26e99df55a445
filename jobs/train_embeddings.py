"""Train one run date's item and user embeddings.

    foryou train-embeddings --run-date YYYY-MM-DD

Spark ML ALS with implicit preferences on the engagement strength of the impressions before
the run date (watch ratio, like, share, follow, ...; skip, hide and report lower it), plus
content vectors from gold.item_features mapped into the same space, so new items without
interactions still get a vector. Appends gold.item_embeddings (kind collaborative | content)
and gold.user_embeddings under one model_version ``als-<run date>-<hash>``.
"""
import sys

from foryou.embeddings import stage
from foryou.config.settings import EmbeddingsSettings
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def run(ctx: JobContext) -> StageResult:
    return stage.run(ctx.lake, EmbeddingsSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force)


def main(argv=None) -> int:
    return job_main("train-embeddings", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
