"""Item-to-item collaborative candidates: co-visitation within sessions, recency-weighted.

Two items are neighbours when one user engaged with both in the same session (engagements
further apart than ``session_gap_minutes`` start a new session, the rule of silver.sessions).
A co-visit weighs ``0.5 ** (age / half_life_days)``, its age counted from the later of the two
engagements to the run date, so fresh co-visits dominate. A user's candidates are the
neighbours of their most recent engaged items, each seed weighted by its own recency.
Suspected bots' engagements never enter the counts (they would promote what they farm).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.settings import CovisitConfig
from foryou.candidates.topk import as_source, top_k


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
