"""Item-to-item collaborative candidates: co-visitation within sessions, recency-weighted;
for logs without sessions, co-occurrence across each user's history (RP3beta).

Two items are neighbours when one user engaged with both in the same session (engagements
further apart than ``session_gap_minutes`` start a new session, the rule of silver.sessions).
A co-visit weighs ``0.5 ** (age / half_life_days)``, its age counted from the later of the two
engagements to the run date, so fresh co-visits dominate. A user's candidates are the
neighbours of their most recent engaged items, each seed weighted by its own recency.
Suspected bots' engagements never enter the counts (they would promote what they farm).

An interaction log (ratings, purchases: no sessions, no served feeds) pairs a user's items
across their history instead (:func:`history_candidates`): the random walk user → item →
user → item of RP3beta (Paudel et al. 2017), each step's probability 1 / degree, the
neighbour divided by its popularity ** beta so that popular items do not neighbour everything.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.topk import as_source, top_k
from foryou.config.candidates import CovisitConfig, InteractionLogConfig


def _age_days(ts: Column, as_of: dt.date) -> Column:
    as_of_s = F.unix_seconds(F.to_timestamp(F.lit(as_of.isoformat())))
    return F.greatest(F.lit(0.0), (as_of_s - F.unix_seconds(ts)) / 86400.0)


def recency(ts: Column, as_of: dt.date, half_life_days: float) -> Column:
    """0.5 ** (age in days / half_life_days), 1 for an event at the run date."""
    return F.pow(F.lit(0.5), _age_days(ts, as_of) / F.lit(half_life_days))


def sessions_of(engaged: DataFrame, gap_minutes: int) -> DataFrame:
    """(user_id, content_id, event_ts) with a per-user ``session`` number: a gap longer than
    ``gap_minutes`` between consecutive engagements starts a new session."""
    w = Window.partitionBy(C.USER_ID).orderBy(C.EVENT_TS, C.CONTENT_ID)
    gap = F.unix_seconds(C.EVENT_TS) - F.unix_seconds(F.lag(C.EVENT_TS).over(w))
    new = F.when(gap.isNull() | (gap > gap_minutes * 60), 1).otherwise(0)
    return (engaged.withColumn("_new", new)
            .withColumn("session", F.sum("_new").over(w.rowsBetween(Window.unboundedPreceding, 0)))
            .drop("_new"))


def neighbours(engaged: DataFrame, as_of: dt.date, cfg: CovisitConfig) -> DataFrame:
    """Item-to-item co-visitation: (content_id, neighbour_id, covisit) with the top
    ``neighbours_per_item`` neighbours of each item by recency-weighted co-visits.

    ``engaged`` holds (user_id, content_id, event_ts) of positive engagements by non-bots.
    """
    sessions = sessions_of(engaged, cfg.session_gap_minutes)
    # One row per item and session (its latest engagement), at most the last N of the session.
    latest = (sessions.groupBy(C.USER_ID, "session", C.CONTENT_ID)
              .agg(F.max(C.EVENT_TS).alias(C.EVENT_TS)))
    last_n = Window.partitionBy(C.USER_ID, "session").orderBy(F.col(C.EVENT_TS).desc(), C.CONTENT_ID)
    latest = latest.withColumn("_n", F.row_number().over(last_n)).where(F.col("_n") <= cfg.max_session_items)
    a, b = latest.alias("a"), latest.alias("b")
    pairs = a.join(b, (F.col("a.user_id") == F.col("b.user_id")) & (F.col("a.session") == F.col("b.session"))
                   & (F.col("a.content_id") != F.col("b.content_id")))
    weight = recency(F.greatest(F.col("a.event_ts"), F.col("b.event_ts")), as_of, cfg.half_life_days)
    counts = (pairs.groupBy(F.col("a.content_id").alias(C.CONTENT_ID),
                            F.col("b.content_id").alias("neighbour_id"))
              .agg(F.sum(weight).alias("covisit")))
    w = Window.partitionBy(C.CONTENT_ID).orderBy(F.col("covisit").desc(), F.col("neighbour_id"))
    return (counts.withColumn("_n", F.row_number().over(w))
            .where(F.col("_n") <= cfg.neighbours_per_item).drop("_n"))


def seeds(engaged: DataFrame, as_of: dt.date, cfg: CovisitConfig) -> DataFrame:
    """Each user's ``seed_items`` most recent engaged items with a recency weight."""
    latest = engaged.groupBy(C.USER_ID, C.CONTENT_ID).agg(F.max(C.EVENT_TS).alias(C.EVENT_TS))
    ranked = top_k(latest, C.USER_ID, [F.col(C.EVENT_TS).desc()], cfg.seed_items, "_n")
    return ranked.select(C.USER_ID, C.CONTENT_ID,
                         recency(F.col(C.EVENT_TS), as_of, cfg.half_life_days).alias("seed_weight"))


def covisit_candidates(engaged: DataFrame, as_of: dt.date, cfg: CovisitConfig, k: int) -> DataFrame:
    """Per user, the top ``k`` items co-visited with their recent items (the seeds
    themselves excluded), scored by the sum of seed weight times co-visitation."""
    nb = neighbours(engaged, as_of, cfg)
    user_seeds = seeds(engaged, as_of, cfg)
    scored = (user_seeds.join(nb, C.CONTENT_ID)
              .groupBy(C.USER_ID, F.col("neighbour_id").alias(C.CONTENT_ID))
              .agg(F.sum(F.col("seed_weight") * F.col("covisit")).alias(C.SCORE)))
    scored = scored.join(user_seeds.select(C.USER_ID, C.CONTENT_ID), [C.USER_ID, C.CONTENT_ID], "left_anti")
    return as_source(scored, "covisit", k)


def history_neighbours(engaged: DataFrame, cfg: InteractionLogConfig) -> DataFrame:
    """(content_id, neighbour_id, covisit): the top ``neighbours_per_item`` RP3beta neighbours
    of each item over users' last ``max_items`` distinct items.

    ``covisit`` of (i, j) is sum over users u with both of 1 / (deg(i) deg(u)), divided by
    deg(j) ** popularity_penalty: the probability of the walk i → u → j, popularity-penalised.
    """
    latest = engaged.groupBy(C.USER_ID, C.CONTENT_ID).agg(F.max(C.EVENT_TS).alias(C.EVENT_TS))
    items = top_k(latest, C.USER_ID, [F.col(C.EVENT_TS).desc()], cfg.max_items, "_n").drop("_n", C.EVENT_TS)
    user_deg = items.groupBy(C.USER_ID).agg(F.count(F.lit(1)).alias("_du"))
    item_deg = items.groupBy(C.CONTENT_ID).agg(F.count(F.lit(1)).alias("_di"))
    a = items.join(user_deg, C.USER_ID).alias("a")
    b = items.alias("b")
    walks = (a.join(b, (F.col("a.user_id") == F.col("b.user_id"))
                    & (F.col("a.content_id") != F.col("b.content_id")))
             .groupBy(F.col("a.content_id").alias(C.CONTENT_ID), F.col("b.content_id").alias("neighbour_id"))
             .agg(F.sum(1.0 / F.col("a._du")).alias("_w")))
    deg_i = item_deg.select(C.CONTENT_ID, F.col("_di").alias("_dsrc"))
    deg_j = item_deg.select(F.col(C.CONTENT_ID).alias("neighbour_id"), F.col("_di").alias("_ddst"))
    scored = (walks.join(deg_i, C.CONTENT_ID).join(deg_j, "neighbour_id")
              .select(C.CONTENT_ID, "neighbour_id",
                      (F.col("_w") / F.col("_dsrc") / F.pow(F.col("_ddst"), F.lit(cfg.popularity_penalty)))
                      .alias("covisit")))
    w = Window.partitionBy(C.CONTENT_ID).orderBy(F.col("covisit").desc(), F.col("neighbour_id"))
    return (scored.withColumn("_n", F.row_number().over(w))
            .where(F.col("_n") <= cfg.neighbours_per_item).drop("_n"))


def history_candidates(engaged: DataFrame, cfg: InteractionLogConfig, k: int) -> DataFrame:
    """Per user, the top ``k`` items by the sum of RP3beta similarities to the user's
    ``seed_items`` most recent items; every item of the user's history is excluded (a rated
    film or a bought product is not proposed again)."""
    nb = history_neighbours(engaged, cfg)
    latest = engaged.groupBy(C.USER_ID, C.CONTENT_ID).agg(F.max(C.EVENT_TS).alias(C.EVENT_TS))
    user_seeds = top_k(latest, C.USER_ID, [F.col(C.EVENT_TS).desc()], cfg.seed_items, "_n")
    scored = (user_seeds.select(C.USER_ID, C.CONTENT_ID).join(nb, C.CONTENT_ID)
              .groupBy(C.USER_ID, F.col("neighbour_id").alias(C.CONTENT_ID))
              .agg(F.sum("covisit").alias(C.SCORE)))
    scored = scored.join(latest.select(C.USER_ID, C.CONTENT_ID), [C.USER_ID, C.CONTENT_ID], "left_anti")
    return as_source(scored, "covisit", k)
