"""One run date of candidates: every source, the filters and quotas, the merged pool.

Writes ``as_of_date = run date`` of ``gold.candidate_pool`` and ``gold.cold_start_waves``.
Inputs are the run date's feature partitions and the silver days each part needs (counted
back from the day after the log's last event when a historical log ends before the run date:
:func:`foryou.runtime.arrivals.window_end`); nothing is collected to the driver except the ANN
index's item vectors.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.ann_source import ann_candidates_from_lake
from foryou.candidates.cold_start import (
    cold_start_candidates, evidence, latest_waves, new_items, next_waves, user_interests)
from foryou.candidates.covisit import covisit_candidates, history_candidates
from foryou.candidates.filters import (
    apply_filters, apply_quotas, excluded_creators, negative_pairs, seen_pairs, spam_creators)
from foryou.candidates.followed import followed_candidates
from foryou.candidates.inputs import (
    all_users, bots, engaged, features_at, interaction_log, read_days)
from foryou.candidates.interest import interest_candidates
from foryou.candidates.pool import merge
from foryou.candidates.topk import as_source, empty_source, top_k
from foryou.candidates.trending import trending_candidates
from foryou.config.candidates import SOURCES, CandidatesConfig
from foryou.config.settings import CandidatesSettings
from foryou.lake import CommitKey, Lake, WriteResult
from foryou.runtime.arrivals import window_end

log = logging.getLogger("foryou.candidates")


@dataclass
class Candidates:
    """The day's frames before writing: per-source proposals and the pool."""

    sources: dict[str, DataFrame]
    pool: DataFrame
    skipped: list[str] = field(default_factory=list)
    # Frames persisted while building the pool: unpersist them once it is written.
    cached: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()


@dataclass
class BuildResult:
    """What a run date's build wrote: the writes, pool rows per primary source (and per
    proposing source, ``<source>.proposed``), users with candidates and skipped sources."""

    writes: dict[str, WriteResult]
    rows_by_source: dict[str, int]
    users: int
    skipped: list[str]
    # The window held no served impression: the interaction-log sources were used.
    interaction_log: bool = False


def _since(df: DataFrame, as_of: dt.date, days: int) -> DataFrame:
    return df.where(F.col(C.EVENT_DATE) >= F.lit(as_of - dt.timedelta(days=days)))


def fallback_candidates(users: DataFrame, items: DataFrame, k: int) -> DataFrame:
    """The ``k`` most viewed items (lifetime valid plays, newest first on ties) for each of
    ``users``: what tops up a pool the other sources leave short."""
    popular = (items.select(C.CONTENT_ID, F.log1p(F.coalesce(F.col("views"), F.lit(0))).alias(C.SCORE),
                            F.coalesce(F.col(C.UPLOAD_TS), F.lit(dt.datetime(1970, 1, 1))).alias("_up"))
               .orderBy(F.col(C.SCORE).desc(), F.col("_up").desc(), C.CONTENT_ID).limit(k))
    return as_source(users.select(C.USER_ID).crossJoin(F.broadcast(popular.drop("_up"))), "fallback", k)


def fallback_fill(users: DataFrame, kept: DataFrame, items: DataFrame, seen: DataFrame,
                  negative: DataFrame, creators: DataFrame, floor: int, fetch: int) -> DataFrame:
    """Fallback rows that top each of ``users`` up to ``floor`` distinct candidates.

    ``kept`` holds the other sources' filtered, quota-cut proposals. A user with fewer than
    ``floor`` distinct items in it (a newcomer, a creator who only uploads, a user the sources
    missed) gets as many of the ``fetch`` most viewed items it lacks as it is short, best
    first. Items the user has not seen come first: re-showing a seen item beats a short feed.
    Hidden and reported items and excluded creators' items never. Users already at ``floor``
    get no row.
    """
    pairs = [C.USER_ID, C.CONTENT_ID]
    have = kept.groupBy(C.USER_ID).agg(F.collect_set(C.CONTENT_ID).alias("_have"))
    short = (users.select(C.USER_ID).join(have, C.USER_ID, "left")
             .withColumn("_need", F.lit(floor) - F.coalesce(F.size("_have"), F.lit(0)))
             .where(F.col("_need") > 0))
    offered = fallback_candidates(short, items, fetch).join(items.select(C.CONTENT_ID, C.CREATOR_ID), C.CONTENT_ID)
    unseen_first = [F.col("_seen").isNotNull(), F.col(C.SOURCE_RANK)]
    nothing_seen = empty_source(users.sparkSession).select(*pairs)
    fill = (apply_filters(offered, nothing_seen, negative, creators)
            .join(short, C.USER_ID)
            .where(~F.coalesce(F.array_contains("_have", F.col(C.CONTENT_ID)), F.lit(False)))
            .join(seen.withColumn("_seen", F.lit(True)), pairs, "left"))
    ranked = top_k(fill, C.USER_ID, unseen_first, fetch, "_rank").where(F.col("_rank") <= F.col("_need"))
    return ranked.withColumn(C.SOURCE_RANK, F.col("_rank").cast("int")).select(
        C.USER_ID, C.CONTENT_ID, C.SOURCE, C.SCORE, C.SOURCE_RANK)


@dataclass
class Inputs:
    """The run date's inputs every part shares (lazy frames, read once). Windows of silver
    days count back from ``end`` (the run date, or the day after a historical log's end)."""

    user_features: DataFrame
    items: DataFrame
    users: DataFrame
    bot_users: DataFrame
    content: DataFrame
    impressions: DataFrame
    end: dt.date
    # No served impression in the window: an interaction log (candidates.interaction_log).
    interaction_log: bool = False


def _impression_days(cfg: CandidatesConfig) -> int:
    return max(cfg.covisit.window_days, 2 * cfg.trending.window_days, cfg.cold_start.baseline_days)


def interaction_log_at(lake: Lake, cfg: CandidatesConfig, as_of: dt.date) -> bool:
    """Whether ``as_of``'s pool comes from :attr:`CandidatesConfig.interaction_log`: the
    sources' impression window holds rows and none of them was served."""
    return interaction_log(read_days(lake, C.IMPRESSIONS, window_end(lake, as_of), _impression_days(cfg)))


def read_inputs(lake: Lake, cfg: CandidatesConfig, as_of: dt.date) -> Inputs:
    """The run date's feature partitions, users, content and the impression days any part needs."""
    user_features = features_at(lake, C.USER_FEATURES, as_of)
    end = window_end(lake, as_of)
    impressions = read_days(lake, C.IMPRESSIONS, end, _impression_days(cfg))
    log_only = interaction_log(impressions)
    if log_only:
        impressions = read_days(lake, C.IMPRESSIONS, end, cfg.interaction_log.window_days)
    return Inputs(user_features=user_features,
                  items=features_at(lake, C.ITEM_FEATURES, as_of),
                  users=all_users(lake.read_or_empty(C.USERS), user_features),
                  bot_users=bots(user_features),
                  content=lake.read_or_empty(C.CONTENT),
                  impressions=impressions, end=end, interaction_log=log_only)


def waves_for(lake: Lake, cfg: CandidatesConfig, as_of: dt.date, inputs: Inputs) -> DataFrame:
    """The cold-start state of ``as_of`` (gold.cold_start_waves rows) from the latest earlier one."""
    cs = cfg.cold_start
    previous = latest_waves(read_days(lake, C.COLD_START_WAVES, as_of, int(cs.max_age_days) + 2), as_of)
    proof = evidence(_since(inputs.impressions, inputs.end, cs.baseline_days), inputs.items, inputs.bot_users)
    return next_waves(new_items(inputs.items, cs), previous, proof, as_of, cs)


def candidates_for(lake: Lake, settings: CandidatesSettings, as_of: dt.date, inputs: Inputs,
                   waves: DataFrame) -> Candidates:
    """Every source's proposals and the merged pool for ``as_of``, given the day's waves
    (an interaction log's: :attr:`CandidatesConfig.interaction_log`'s sources and order)."""
    cfg = settings.candidates
    spark = lake.spark
    log_cfg = cfg.interaction_log if inputs.interaction_log else None
    if log_cfg is not None:
        cfg = cfg.for_interaction_log()
    user_features, items, users = inputs.user_features, inputs.items, inputs.users
    bot_users, content, impressions = inputs.bot_users, inputs.content, inputs.impressions
    end = inputs.end
    sources: dict[str, DataFrame] = {}
    skipped: list[str] = []
    if cfg.quota("ann"):
        ann = ann_candidates_from_lake(lake, cfg.fetch("ann"), settings.embeddings.ann)
        if ann is None:
            skipped.append("ann")
        else:
            sources["ann"] = ann
    if cfg.quota("covisit") and log_cfg is not None:
        sources["covisit"] = history_candidates(engaged(impressions, bot_users), log_cfg, cfg.fetch("covisit"))
    elif cfg.quota("covisit"):
        history = engaged(_since(impressions, end, cfg.covisit.window_days), bot_users)
        sources["covisit"] = covisit_candidates(history, end, cfg.covisit, cfg.fetch("covisit"))
    if cfg.quota("interest"):
        sources["interest"] = interest_candidates(user_features, items, bot_users, cfg.interest,
                                                  cfg.fetch("interest"))
    if cfg.quota("followed"):
        sources["followed"] = followed_candidates(user_features, content, as_of, cfg.followed,
                                                  cfg.fetch("followed"))
    if cfg.quota("trending"):
        sources["trending"] = trending_candidates(impressions, users, bot_users, end, cfg.trending,
                                                  cfg.fetch("trending"))
    if cfg.quota("cold_start"):
        interests = user_interests(user_features, users, bot_users, cfg.cold_start)
        sources["cold_start"] = cold_start_candidates(waves, items, interests, as_of, cfg.cold_start,
                                                      cfg.fetch("cold_start"))

    f = cfg.filters
    # An interaction log's items are not proposed again to the user who rated or bought them.
    if log_cfg is not None:
        seen = seen_pairs(read_days(lake, C.EVENTS, end, log_cfg.window_days))
    elif f.seen_days:
        seen = seen_pairs(read_days(lake, C.EVENTS, end, f.seen_days))
    else:
        seen = empty_source(spark).select(C.USER_ID, C.CONTENT_ID)
    negative = negative_pairs(read_days(lake, C.EVENTS, end, f.negative_days)
                              .where(F.col(C.EVENT_TYPE).isin(*C.NEGATIVE_EVENTS)))
    spam = spam_creators(read_days(lake, C.EVENTS, end, f.spam_days)
                         .where(F.col(C.EVENT_TYPE).isin(*C.ENGAGEMENT_EVENTS)), content, bot_users, f)
    creators = excluded_creators(spark, spam, f)

    proposed = empty_source(spark)
    for df in sources.values():
        proposed = proposed.unionByName(df)
    # Only catalogue items (with a creator to filter on) are candidates.
    catalogue = items.select(C.CONTENT_ID, C.CREATOR_ID)
    kept = apply_filters(proposed.join(catalogue, C.CONTENT_ID), seen, negative, creators)
    quota_cut = apply_quotas(kept.drop(C.CREATOR_ID), {s: cfg.quota(s) for s in SOURCES})
    cached = []
    if cfg.quota("fallback"):
        # The fallback needs to know who is short: keep the quota-cut proposals once instead
        # of recomputing every source for that question.
        quota_cut = quota_cut.persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(quota_cut)
        fill = fallback_fill(users, quota_cut, items, seen, negative, creators,
                             cfg.quota("fallback"), cfg.fetch("fallback"))
        sources["fallback"] = fill
        quota_cut = quota_cut.unionByName(fill)
    pool = merge(quota_cut, items, waves, as_of, cfg.max_candidates,
                 order=log_cfg.order if log_cfg is not None else None)
    return Candidates(sources, pool, skipped, cached)


def deeper_pool(lake: Lake, settings: CandidatesSettings, as_of: dt.date, depth: int
                ) -> Candidates:
    """``as_of``'s pool as :func:`build_day` builds it, ``depth`` times deeper: every quota and
    ``max_candidates`` multiplied, from the same inputs and the cold-start waves written for
    ``as_of``. Nothing is written. The items past the pool's usual depth are the next-ranked
    candidates of each source: what the next days' pools offer once the user has seen the
    first ones (the multi-day simulation, :mod:`foryou.evaluation.multiday`, serves from it).
    Call ``release()`` on the result once its pool is consumed."""
    from foryou.config import overlay

    if depth < 1:
        raise ValueError(f"deeper_pool: depth={depth} must be at least 1")
    cfg = settings.candidates
    deeper = overlay(cfg, {"quotas": {s: q * depth for s, q in cfg.quotas.items()},
                           "max_candidates": cfg.max_candidates * depth}, "deeper pool")
    inputs = read_inputs(lake, deeper, as_of)
    return candidates_for(lake, CandidatesSettings(deeper, settings.embeddings), as_of, inputs,
                          lake.read(C.COLD_START_WAVES, partitions=[as_of]))


def build_day(lake: Lake, settings: CandidatesSettings, as_of: dt.date,
              key: CommitKey | None = None, force: bool = False) -> BuildResult:
    """Build and write ``as_of``'s candidate pool and cold-start waves."""
    cfg = settings.candidates
    if not lake.exists(C.ITEM_FEATURES):
        raise FileNotFoundError(f"{C.ITEM_FEATURES} does not exist: run `foryou features --run-date {as_of}` first")
    part = lambda name: key.sub(name) if key else None  # noqa: E731
    inputs = read_inputs(lake, cfg, as_of)
    writes = {C.COLD_START_WAVES: lake.replace_partitions(
        C.COLD_START_WAVES, waves_for(lake, cfg, as_of, inputs), [as_of], key=part("waves"), force=force)}
    # The sources use the waves as written (computed once, not once per reader).
    day = candidates_for(lake, settings, as_of, inputs,
                         lake.read(C.COLD_START_WAVES, partitions=[as_of]))
    if day.skipped:
        log.warning("candidates %s: skipped sources %s", as_of, day.skipped)
    try:
        writes[C.CANDIDATE_POOL] = lake.replace_partitions(C.CANDIDATE_POOL, day.pool, [as_of],
                                                           key=part("pool"), force=force)
    finally:
        day.release()
    written = lake.read(C.CANDIDATE_POOL, partitions=[as_of])
    # bounded: one row per candidate source
    counts = {r[C.SOURCE]: r["n"] for r in written.groupBy(C.SOURCE).agg(F.count(F.lit(1)).alias("n")).collect()}
    # bounded: one row per candidate source
    proposals = {r["s"]: r["n"] for r in written.select(F.explode("sources").alias("s"))
                 .groupBy("s").agg(F.count(F.lit(1)).alias("n")).collect()}
    users = written.select(C.USER_ID).distinct().count()
    if not counts:
        log.warning("candidates %s: the pool is empty (empty catalogue or no users)", as_of)
    rows = {s: int(counts.get(s, 0)) for s in SOURCES}
    rows.update({f"{s}.proposed": int(proposals.get(s, 0)) for s in SOURCES})
    return BuildResult(writes, rows, users, day.skipped, inputs.interaction_log)
