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
import datetime as dt
import sys

from foryou.candidates.build import interaction_log_at
from foryou.export.build import build_export, write_export
from foryou.rerank.guards import homogenisation
from foryou.ranking.registry import ChampionMissing
from foryou.rerank.scoring import POOL_ORDER, champion, pool_order, score_pool
from foryou.runtime import JobContext, job_main

POOL = "gold.candidate_pool"


def run(ctx: JobContext) -> None:
    if not ctx.lake.exists(POOL):
        raise SystemExit(f"export: {POOL} does not exist; run `foryou build-candidates "
                         f"--run-date {ctx.run_date}` first")
    pool = ctx.lake.read(POOL, partitions=[ctx.run_date])
    model = None
    relevance = ctx.config.rerank.relevance
    if relevance == "auto" and interaction_log_at(ctx.lake, ctx.config.candidates, ctx.run_date):
        relevance = "pool"
        print("  export: an interaction log (no served impressions): the feed keeps the candidate "
              "pool's order (rerank.relevance=ranker to rank it with the champion)")
    if relevance != "pool":
        try:
            model = champion(ctx.config)
        except ChampionMissing:
            print("  export: no champion ranker (train-ranker has not trained one): the feed keeps "
                  "the candidate pool's order")
    scored = (pool_order(pool) if model is None
              else score_pool(ctx.lake, ctx.config, pool, ctx.run_date, model))
    version = POOL_ORDER if model is None else model.version
    generated_at = dt.datetime.now(dt.timezone.utc)
    with ctx.metrics.timer("export.build"):
        built = build_export(ctx.lake, ctx.config, scored, ctx.run_date, version, generated_at)
        write, counts = write_export(ctx.lake, built.frame, ctx.config.rerank.list_size,
                                     key=ctx.key(), force=ctx.force)
    ctx.metrics.record_write(write)
    ctx.metrics.record("export.users", counts["users"], "users", model_version=version)
    for guard, rows in built.dropped.items():
        ctx.metrics.record(f"guard.dropped.{guard}", rows, "rows")
    if not write.skipped:
        exported = ctx.lake.read("gold.user_candidates", version=write.version)
        homo = homogenisation(exported, ctx.config.rerank.guards.homogenisation_top_items)
        for name in ("top_items_share", "neighbour_jaccard"):
            ctx.metrics.record(f"homogenisation.{name}", homo[name], "ratio")
        print(f"  homogenisation: top-items share {homo['top_items_share']:.3f}, "
              f"neighbour Jaccard {homo['neighbour_jaccard']:.3f}")
    print(f"  gold.user_candidates: {write.rows:,} rows for {counts['users']:,} users, model "
          f"{version}, version {write.version}" + (" (already committed)" if write.skipped else ""))
    # Serving reads the table by location (no JVM): for a catalog table only the catalog knows it.
    print(f"  serving reads it at {ctx.lake.location('gold.user_candidates')}")


def main(argv=None) -> int:
    return job_main("export", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
