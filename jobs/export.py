"""Score the candidate pool with the champion ranker, rerank per user and write the feed export.

    foryou export --run-date YYYY-MM-DD

Reads gold.candidate_pool (as_of_date = run date), scores it with the MLflow ``champion``
ranker (features from the point-in-time feature store), drops farmed, hidden/reported and
recently exported items, reranks each user's list (exploration bonus, DPP diversity, novelty
share, creator/tag caps) and overwrites gold.user_candidates in one commit after checking it
against docs/contract.md. Records rows, guard drops and the homogenisation metrics.
With no champion (train-ranker had too few days of examples to train one, as on a short
interaction log), and on an interaction log unless ``rerank.relevance = ranker``, the feed
keeps the candidate pool's order and says so in one line; the export's model_version is then
``pool-order``.
"""
import sys

from foryou.config.settings import ExportSettings
from foryou.export import stage
from foryou.export.stage import PoolMissing
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def run(ctx: JobContext) -> StageResult:
    return stage.run(ctx.lake, ExportSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force)


def main(argv=None) -> int:
    return job_main("export", run, argv, description=__doc__, errors=(PoolMissing,))


if __name__ == "__main__":
    sys.exit(main())
