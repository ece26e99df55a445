"""Build and write gold.user_candidates from a scored candidate pool.

scored pool (relevance per user and candidate) → guards that drop rows (engagement farming,
hidden/reported, exported in the previous runs) → per-user rerank (exploration, DPP, novelty,
caps) → export rows → contract check → one overwrite commit (a new table version; a run killed
before the commit leaves the previous version as the latest, and every earlier version stays
restorable with ``foryou restore``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates.filters import negative_pairs
from foryou.candidates.inputs import read_days
from foryou.config import overlay
from foryou.config.rerank import RerankConfig
from foryou.config.settings import ExportSettings
from foryou.export.contract import EXPORT, check_contract
from foryou.lake import CommitKey, Lake, WriteResult, table
from foryou.lake.vocabulary import (
    CONTENT_ID, CREATOR_ID, GOLD_CANDIDATE_POOL, GOLD_ITEM_EMBEDDINGS as ITEM_EMBEDDINGS,
    GOLD_ITEM_FEATURES as ITEM_FEATURES, GOLD_USER_FEATURES as USER_FEATURES,
    SILVER_EVENTS as EVENTS, USER_ID,
)
from foryou.rerank import guards
from foryou.rerank.feed import CANDIDATE_COLUMNS, USER_COLUMNS, rerank
from foryou.runtime.arrivals import window_end


@dataclass
class ExportBuild:
    """The export frame (lazy) and how many pool rows each guard dropped."""

    frame: DataFrame
    dropped: dict[str, int] = field(default_factory=dict)


def item_vectors(lake: Lake, version: str | None) -> DataFrame:
    """(content_id, vector) of one item-embedding model_version (default: the latest,
    :func:`foryou.embeddings.train.latest_version`); empty when no embeddings exist (DPP and
    LinUCB then treat every item as vectorless)."""
    from foryou.embeddings.train import latest_version

    emb = lake.read_or_empty(ITEM_EMBEDDINGS)
    version = version or latest_version(lake)
    if version is None:
        return emb.select(CONTENT_ID, "vector")
    return emb.where(F.col("model_version") == version).select(CONTENT_ID, "vector")


def interests(user_features: DataFrame, keep: Sequence[str] = ()) -> DataFrame:
    """(user_id, interests, *keep): the user's long-term interest tags, strongest first."""
    entries = F.transform(F.map_entries(F.coalesce("interest_long", F.create_map().cast("map<string,double>"))),
                          lambda e: F.struct((-e["value"]).alias("w"), e["key"].alias("k")))
    return user_features.select(USER_ID, F.transform(F.sort_array(entries), lambda s: s["k"]).alias("interests"),
                                *keep)


def user_side(user_features: DataFrame, vectors: DataFrame) -> DataFrame:
    """The rerank's per-user input (:data:`foryou.rerank.feed.USER_COLUMNS`), one row per user
    of ``user_features``: ``history``, the vectors of the user's recent items that have one
    (in the recent list's order; null when none has), and ``interests``."""
    # One aggregation by user: each recent item (none: one row of nulls) meets its vector, and
    # collect_list keeps the ones found (it skips nulls).
    recent = interests(user_features, keep=["recent_content_ids"]).select(
        USER_ID, "interests", F.posexplode_outer("recent_content_ids").alias("_pos", CONTENT_ID))
    found = F.when(F.col("vector").isNotNull(), F.struct("_pos", "vector"))
    return (recent.join(vectors, CONTENT_ID, "left").groupBy(USER_ID)
            .agg(F.sort_array(F.collect_list(found)).alias("_h"), F.first("interests").alias("interests"))
            .select(USER_ID, F.when(F.size("_h") > 0, F.col("_h.vector")).alias("history"), "interests"))


def guard_pool(lake: Lake, rerank_cfg: RerankConfig, scored: DataFrame, as_of: dt.date,
               user_features: DataFrame) -> tuple[DataFrame, dict[str, DataFrame]]:
    """The scored pool less farmed items, the user's hidden/reported items and items exported
    to the user in the previous ``repeat_days`` runs; also the dropped rows per guard."""
    g = rerank_cfg.guards
    pairs = [USER_ID, CONTENT_ID]
    bots = user_features.where(F.col("suspected_bot")).select(USER_ID)
    end = window_end(lake, as_of)
    farmed = guards.farmed_items(read_days(lake, EVENTS, end, g.farm_days), bots, g)
    negative = negative_pairs(read_days(lake, EVENTS, end, g.negative_days))
    dropped = {"farmed": scored.join(F.broadcast(farmed.select(CONTENT_ID)), CONTENT_ID, "left_semi"),
               "negative": scored.join(negative, pairs, "left_semi")}
    out = scored.join(F.broadcast(farmed.select(CONTENT_ID)), CONTENT_ID, "left_anti") \
                .join(negative, pairs, "left_anti")
    previous = guards.previous_exports(lake, as_of, g.repeat_days)
    if previous is not None:
        dropped["repeat"] = out.join(previous, pairs, "left_semi")
        out = out.join(previous, pairs, "left_anti")
    return out, dropped


def rerank_inputs(lake: Lake, rerank_cfg: RerankConfig, scored: DataFrame, as_of: dt.date
                  ) -> tuple[DataFrame, DataFrame, dict[str, DataFrame]]:
    """What :func:`foryou.rerank.feed.rerank` takes for ``as_of``: the guarded candidates with
    their tags and vectors, the per-user side (history vectors and interests, :func:`user_side`),
    and the rows each guard dropped (lazy frames)."""
    for c in (USER_ID, CONTENT_ID, CREATOR_ID, "source", "relevance"):
        if c not in scored.columns:
            raise ValueError(f"export: the scored pool lacks column {c!r}")
    users = lake.read_or_empty(USER_FEATURES, [as_of])
    vectors = item_vectors(lake, rerank_cfg.embedding_version)
    guarded, dropped = guard_pool(lake, rerank_cfg, scored, as_of, users)
    if "tags" not in guarded.columns:
        items = lake.read_or_empty(ITEM_FEATURES, [as_of]).select(CONTENT_ID, "tags")
        guarded = guarded.join(items, CONTENT_ID, "left")
    return guarded.join(vectors, CONTENT_ID, "left"), user_side(users, vectors), dropped


def build_export(lake: Lake, rerank_cfg: RerankConfig, scored: DataFrame, as_of: dt.date,
                 model_version: str,
                 generated_at: dt.datetime, count_dropped: bool = True) -> ExportBuild:
    """The export rows for ``as_of`` from the scored pool (user_id, content_id, creator_id,
    source, relevance, tags).

    Users without history get interests [] and no history vectors (LinUCB: maximal width;
    novelty: every item counts as novel); items without a vector count as unlike every other
    item in the DPP; an empty pool gives an empty export. ``count_dropped`` counts the rows
    each guard dropped (one Spark job per guard).
    """
    cands, users, dropped = rerank_inputs(lake, rerank_cfg, scored, as_of)
    ranked = rerank(cands, users, rerank_cfg, seed=as_of.isoformat())
    spec = table(EXPORT)
    frame = (ranked.withColumn("model_version", F.lit(model_version))
             .withColumn("generated_at", F.lit(generated_at.replace(tzinfo=None)).cast("timestamp"))
             .withColumn("as_of_date", F.lit(as_of)))
    frame = frame.select(*[F.col(f.name).cast(f.dataType) for f in spec.schema])
    return ExportBuild(frame, {k: v.count() for k, v in dropped.items()} if count_dropped else {})


def write_export(lake: Lake, frame: DataFrame, list_size: int, key: CommitKey | None = None,
                 force: bool = False) -> tuple[WriteResult, dict[str, int]]:
    """Check ``frame`` against the contract, then overwrite the export in one commit.

    The frame is checked as written: it is materialised once (cached) so the check and the
    commit see the same rows.
    """
    frame = frame.cache()
    try:
        counts = check_contract(frame, list_size)
        return lake.overwrite(EXPORT, frame, key=key, force=force), counts
    finally:
        frame.unpersist()


# Feeds the evaluation compares the champion's export with: the same pool, scores and guards,
# one rerank step switched off (``rerank`` settings changed as given).
ABLATIONS: dict[str, dict] = {
    "no_diversity": {"theta": 1.0},                     # DPP on relevance alone
    "no_exploration": {"exploration": {"mode": "off"}},  # no LinUCB / epsilon bonus
    # No creator, tag or top-interest caps (the product's guardrails, and the feed's main
    # spread over topics: the DPP spreads embeddings, not tags).
    "no_caps": {"guards": {"max_per_creator": 10_000, "max_per_tag": 10_000,
                           "max_top_interest_share": 1.0}},
}


def ablated(rerank_cfg: RerankConfig, change: dict) -> RerankConfig:
    """The ``rerank`` section with ``change`` merged over it (nested sections merged),
    validated like a config file would be."""
    return overlay(rerank_cfg, change, "rerank ablation")


@dataclass
class ReferenceFeeds:
    """What the evaluation's simulator serves beside the champion's export, for a sample of
    users (pandas frames of ``user_id, rank, content_id`` unless said otherwise).

    Attributes:
        ablations: per :data:`ABLATIONS` name, the export rebuilt with that rerank step off.
        ranker_pool: the guarded pool ordered by the champion's relevance alone (no
            exploration, DPP, novelty or caps), ``list_size`` items per user: what the ranker
            keeps of the pool before the rerank.
        pool: ``user_id, content_id`` of every guarded pool row: the items a perfect ranker
            could choose from (the simulator's ``oracle_pool``).
        candidates: the rerank's inputs for the sample: the guarded candidates
            (:data:`foryou.rerank.feed.CANDIDATE_COLUMNS`), so the simulator can rebuild the
            export each simulated day (:mod:`foryou.evaluation.multiday`).
        users: the rerank's per-user side for the sample
            (:data:`foryou.rerank.feed.USER_COLUMNS`: history vectors and interests).
    """

    ablations: dict[str, pd.DataFrame]
    ranker_pool: pd.DataFrame
    pool: pd.DataFrame
    candidates: pd.DataFrame
    users: pd.DataFrame


def relevance_order(cands: pd.DataFrame, length: int) -> pd.DataFrame:
    """Per user, the ``length`` candidates of highest ``relevance`` (ties by content_id), ranked
    1..: the feed of the ranker alone."""
    ordered = (cands.drop_duplicates([USER_ID, CONTENT_ID])
               .sort_values([USER_ID, "relevance", CONTENT_ID], ascending=[True, False, True],
                            kind="stable", na_position="last"))
    ordered = ordered.assign(rank=ordered.groupby(USER_ID).cumcount() + 1)
    return ordered[ordered["rank"] <= length][[USER_ID, "rank", CONTENT_ID]].reset_index(drop=True)


def reference_feeds(lake: Lake, settings: ExportSettings, users: DataFrame, as_of: dt.date,
                    ablations: dict[str, dict] | None = None, pool: DataFrame | None = None,
                    relevance: DataFrame | None = None) -> ReferenceFeeds:
    """For a sample of ``users`` (a frame of ``user_id``), the feeds ``foryou export`` would have
    built for ``as_of`` under each ablation of :data:`ABLATIONS` (or ``ablations``), the
    ranker-only feed and the guarded pool: see :class:`ReferenceFeeds`.

    The sample's pool is scored with the current champion and guarded once, and reranked per
    ablation exactly as :func:`build_export` reranks it; nothing is written. The frames are
    collected, so ``users`` must be a sample (the simulator's few hundred users), never the
    whole population. ``pool``: the candidate pool to start from (default: ``as_of``'s
    partition of gold.candidate_pool). ``relevance``: ``user_id, content_id, relevance`` to
    rank by instead of the champion's score (another scoring choice, ``bench/feed_choices.py``).

    Raises:
        foryou.ranking.registry.ChampionMissing: no champion and no ``relevance`` (the message
            names ``foryou train-ranker``).
    """
    from foryou.ranking.scoring import champion, score_pool

    pool = (lake.read(GOLD_CANDIDATE_POOL, partitions=[as_of]) if pool is None else pool).join(
        F.broadcast(users.select(USER_ID).distinct()), USER_ID, "left_semi")
    # Scored and guarded once (the guards read weeks of events and earlier exports); only the
    # per-user rerank differs between ablations.
    scored = (score_pool(lake, settings, pool, as_of, champion(settings)) if relevance is None
              else pool.join(relevance, [USER_ID, CONTENT_ID], "left"))
    cands, side, _ = rerank_inputs(lake, settings.rerank, scored, as_of)
    side = side.join(F.broadcast(users.select(USER_ID).distinct()), USER_ID, "left_semi")
    cands, side = cands.cache(), side.cache()
    try:
        # bounded: the simulator's sampled users' pools and lists (``users``)
        guarded = cands.select(*CANDIDATE_COLUMNS).toPandas()
        # bounded: the sampled users' history vectors and interests (``users``)
        past = side.select(*USER_COLUMNS).toPandas()
        feeds = {}
        for name, change in (ablations if ablations is not None else ABLATIONS).items():
            ranked = rerank(cands, side, ablated(settings.rerank, change), seed=as_of.isoformat())
            # bounded: the simulator's sampled users' lists (``users``)
            feeds[name] = ranked.select(USER_ID, "rank", CONTENT_ID).toPandas()
        return ReferenceFeeds(feeds, relevance_order(guarded, settings.rerank.list_size),
                              guarded[[USER_ID, CONTENT_ID]], guarded, past)
    finally:
        cands.unpersist()
        side.unpersist()
