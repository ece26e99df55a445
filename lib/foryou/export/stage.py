"""The ``export`` stage: the candidate pool scored, guarded, reranked and written as the feed.

Reads gold.candidate_pool (``as_of_date`` = run date), scores it with the MLflow ``champion``
ranker (:func:`foryou.ranking.scoring.score_pool`), drops farmed, hidden/reported and recently
exported items, reranks each user's list (exploration bonus, DPP diversity, novelty share,
creator/tag caps) and overwrites gold.user_candidates in one commit after checking it against
docs/contract.md (:mod:`foryou.export.build`), then learns the reader's in-session re-ranker
from the logged sessions (:mod:`foryou.export.session_model`). With no champion, and on an interaction log
unless ``rerank.relevance = ranker``, the feed keeps the candidate pool's order and says so.
"""
from __future__ import annotations

import datetime as dt

from foryou.candidates.build import interaction_log_at
from foryou.config.settings import ExportSettings
from foryou.export.build import build_export, write_export
from foryou.export.session_model import train_session_model, write_session_model
from foryou.lake import CommitKey, Lake
from foryou.lake.vocabulary import (GOLD_CANDIDATE_POOL as POOL, GOLD_SESSION_MODEL as SESSION_MODEL,
                                   GOLD_USER_CANDIDATES as EXPORT)
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
        if settings.rerank.session.enabled:
            with out.timer("export.session_model"):
                _session_model(lake, settings, run_date, key.sub("session_model"), force, out)
        out.say(f"  {EXPORT}: {write.rows:,} rows for {counts['users']:,} users, model "
                f"{version}, version {write.version}" + (" (already committed)" if write.skipped else ""))
        # Serving reads the table by location (no JVM): for a catalog table only the catalog knows it.
        out.say(f"  serving reads it at {lake.location(EXPORT)}")
        return out


def _session_model(lake: Lake, settings: ExportSettings, run_date: dt.date, key: CommitKey,
                   force: bool, out: StageResult) -> None:
    """Learn and append the reader's in-session re-ranker (:mod:`foryou.export.session_model`)."""
    if lake.exists(SESSION_MODEL) and lake.is_committed(SESSION_MODEL, key) and not force:
        out.say(f"  {SESSION_MODEL}: already committed for this run")
        return
    model = train_session_model(lake, settings.rerank.session, settings.sessions.gap_minutes,
                                run_date)
    if model is None:
        out.say(f"  {SESSION_MODEL}: no logged sessions to learn from before {run_date}: the "
                "reader keeps the exported order within sessions")
        return
    out.record_write(write_session_model(lake, model, run_date, key, force))
    out.record("session_model.examples", model.examples, "rows")
    if model.auc_gain is not None:
        out.record("session_model.auc_gain", model.auc_gain, "ratio")
    for feature, weight in model.weights.items():
        out.record(f"session_model.weight.{feature}", weight, "log-odds")
    out.say(f"  {SESSION_MODEL}: weights {', '.join(f'{k} {v:+.3f}' for k, v in model.weights.items())}"
            f" from {model.examples:,} impressions"
            + (f", held-out AUC {model.auc_gain:+.4f} over the controls" if model.auc_gain is not None else ""))
