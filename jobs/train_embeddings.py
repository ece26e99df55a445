"""Train one run date's item and user embeddings.

    foryou train-embeddings --run-date YYYY-MM-DD

Spark ML ALS with implicit preferences on the engagement strength of the impressions before
the run date (watch ratio, like, share, follow, ...; skip, hide and report lower it), plus
content vectors from gold.item_features mapped into the same space, so new items without
interactions still get a vector. Appends gold.item_embeddings (kind collaborative | content)
and gold.user_embeddings under one model_version ``als-<run date>-<hash>``.
"""
import sys

from foryou.embeddings.train import train_embeddings, write_embeddings
from foryou.runtime import JobContext, job_main


def run(ctx: JobContext) -> None:
    with ctx.metrics.timer("train"):
        result = train_embeddings(ctx.lake, ctx.config.embeddings, ctx.run_date)
        writes = write_embeddings(ctx.lake, result, key=ctx.key(), force=ctx.force)
    print(f"  model_version {result.model_version}: {result.pairs:,} interaction pairs, "
          f"{result.content_items:,} items with content vectors")
    if result.fallback:
        print(f"  fallback: {result.fallback}")
    ctx.metrics.record("interaction_pairs", result.pairs, "rows", model_version=result.model_version)
    ctx.metrics.record("content_items", result.content_items, "rows",
                       model_version=result.model_version, fallback=result.fallback)
    for name, write in writes.items():
        ctx.metrics.record_write(write)
        print(f"  {name}: {write.rows:,} rows" + (" (already committed)" if write.skipped else ""))


def main(argv=None) -> int:
    return job_main("train-embeddings", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
