"""The ``export`` stage: the candidate pool scored, guarded, reranked and written as the feed.

Reads gold.candidate_pool (``as_of_date`` = run date), scores it with the MLflow ``champion``
ranker (:func:`foryou.ranking.scoring.score_pool`), drops farmed, hidden/reported and recently
exported items, reranks each user's list (exploration bonus, DPP diversity, novelty share,
creator/tag caps) and overwrites gold.user_candidates in one commit after checking it against
docs/contract.md (:mod:`foryou.export.build`). With no champion, and on an interaction log
unless ``rerank.relevance = ranker``, the feed keeps the candidate pool's order and says so.
"""
from __future__ import annotations

import datetime as dt

from foryou.candidates.build import interaction_log_at
from foryou.config.settings import ExportSettings
from foryou.export.build import build_export, write_export
from foryou.lake import CommitKey, Lake
from foryou.lake.vocabulary import GOLD_CANDIDATE_POOL as POOL, GOLD_USER_CANDIDATES as EXPORT
from foryou.ranking.registry import ChampionMissing
from foryou.ranking.scoring import POOL_ORDER, champion, pool_order, score_pool
from foryou.rerank.guards import homogenisation
from foryou.stages import StageResult


class PoolMissing(FileNotFoundError):
    """gold.candidate_pool does not exist: build-candidates has not run."""


def run(lake: Lake, settings: ExportSettings, run_date: dt.date, key: CommitKey,
        force: bool = False) -> StageResult:
    """Score, guard, rerank and write the run date's export; record rows, guard drops and
    the homogenisation of the lists.

    Raises:
        PoolMissing: there is no candidate pool to export.
    """
    with StageResult() as out:  # a failure keeps what was recorded so far
        if not lake.exists(POOL):
            raise PoolMissing(f"export: {POOL} does not exist; run `foryou build-candidates "
                              f"--run-date {run_date}` first")
        pool = lake.read(POOL, partitions=[run_date])
        model = None
        relevance = settings.rerank.relevance
        if relevance == "auto" and interaction_log_at(lake, settings.candidates, run_date):
            relevance = "pool"
            out.say("  export: an interaction log (no served impressions): the feed keeps the "
                    "candidate pool's order (rerank.relevance=ranker to rank it with the champion)")
        if relevance != "pool":
            try:
                model = champion(settings)
            except ChampionMissing:
                out.say("  export: no champion ranker (train-ranker has not trained one): the feed "
                        "keeps the candidate pool's order")
        scored = pool_order(pool) if model is None else score_pool(lake, settings, pool, run_date, model)
        version = POOL_ORDER if model is None else model.version
        generated_at = dt.datetime.now(dt.timezone.utc)
        with out.timer("export.build"):
            built = build_export(lake, settings.rerank, scored, run_date, version, generated_at)
            write, counts = write_export(lake, built.frame, settings.rerank.list_size, key=key,
                                         force=force)
        out.record_write(write)
        out.record("export.users", counts["users"], "users", model_version=version)
        for guard, rows in built.dropped.items():
            out.record(f"guard.dropped.{guard}", rows, "rows")
        if not write.skipped:
            exported = lake.read(EXPORT, version=write.version)
            homo = homogenisation(exported, settings.rerank.guards.homogenisation_top_items)
            for name in ("top_items_share", "neighbour_jaccard"):
                out.record(f"homogenisation.{name}", homo[name], "ratio")
            out.say(f"  homogenisation: top-items share {homo['top_items_share']:.3f}, "
                    f"neighbour Jaccard {homo['neighbour_jaccard']:.3f}")
        out.say(f"  {EXPORT}: {write.rows:,} rows for {counts['users']:,} users, model "
                f"{version}, version {write.version}" + (" (already committed)" if write.skipped else ""))
        # Serving reads the table by location (no JVM): for a catalog table only the catalog knows it.
        out.say(f"  serving reads it at {lake.location(EXPORT)}")
        return out
