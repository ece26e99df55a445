"""Trending candidates: items whose views grow fastest, per country/language segment.

An item's trend score in a segment is ``growth * log1p(views_window)`` with
``growth = (views_window + 1) / (views_prev_window + 1)``: the view growth of the last
``window_days`` over the window before, damped by volume so that two views after none do not
beat a steady climb. Views are valid plays by users of the segment who are not suspected bots
(bots must not make an item trend). Each user gets their segment's list first, then the
global list (users of no segment - unknown country - get the global list only).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.topk import top_k
from foryou.config.candidates import TrendingConfig

GLOBAL = "__global__"


def _segment(cols: list[str]):
    """One string key per user segment (null when any segment column is unknown)."""
    if not cols:
        return F.lit(GLOBAL)
    parts = [F.col(c).cast("string") for c in cols]
    known = F.lit(True)
    for p in parts:
        known = known & p.isNotNull()
    return F.when(known, F.concat_ws("|", *parts))


def trend_scores(impressions: DataFrame, users: DataFrame, bot_users: DataFrame, as_of: dt.date,
                 cfg: TrendingConfig) -> DataFrame:
    """(segment, content_id, views_window, views_prev_window, score) per segment and globally."""
    w = cfg.window_days
    age = F.datediff(F.lit(as_of), F.col(C.EVENT_DATE))
    views = (impressions.where((F.coalesce(F.col("click"), F.lit(0)) > 0) & (age >= 1) & (age <= 2 * w))
             .join(bot_users, C.USER_ID, "left_anti")
             .join(users.select(C.USER_ID, _segment(cfg.segment_by).alias("segment")), C.USER_ID, "left")
             .select("segment", C.CONTENT_ID, (age <= w).alias("_recent")))
    by_segment = views.where(F.col("segment").isNotNull() & (F.col("segment") != GLOBAL))
    everyone = views.withColumn("segment", F.lit(GLOBAL))
    counts = (by_segment.unionByName(everyone).groupBy("segment", C.CONTENT_ID).agg(
        F.sum(F.col("_recent").cast("long")).alias("views_window"),
        F.sum((~F.col("_recent")).cast("long")).alias("views_prev_window")))
    growth = (F.col("views_window") + 1.0) / (F.col("views_prev_window") + 1.0)
    return (counts.where(F.col("views_window") >= cfg.min_views)
            .withColumn(C.SCORE, growth * F.log1p(F.col("views_window"))))


def trending_candidates(impressions: DataFrame, users: DataFrame, bot_users: DataFrame,
                        as_of: dt.date, cfg: TrendingConfig, k: int) -> DataFrame:
    """Per user, the top ``k`` trending items: their segment's first, then the global ones."""
    scores = trend_scores(impressions, users, bot_users, as_of, cfg)
    lists = top_k(scores, "segment", [F.col(C.SCORE).desc()], k, "_n").drop("_n")
    segment_lists = lists.where(F.col("segment") != GLOBAL)
    global_list = F.broadcast(lists.where(F.col("segment") == GLOBAL).select(C.CONTENT_ID, C.SCORE))
    user_segment = users.select(C.USER_ID, _segment(cfg.segment_by).alias("segment"))
    local = (user_segment.join(segment_lists, "segment")
             .select(C.USER_ID, C.CONTENT_ID, C.SCORE, F.lit(0).alias("_level")))
    anywhere = (user_segment.select(C.USER_ID).crossJoin(global_list)
                .select(C.USER_ID, C.CONTENT_ID, C.SCORE, F.lit(1).alias("_level")))
    best = top_k(local.unionByName(anywhere), [C.USER_ID, C.CONTENT_ID],
                 [F.col("_level"), F.col(C.SCORE).desc()], 1, "_dup").drop("_dup")
    # Segment items rank first: order by level, then score (as_source orders by score only).
    ranked = top_k(best, C.USER_ID, [F.col("_level"), F.col(C.SCORE).desc()], k)
    return ranked.select(C.USER_ID, C.CONTENT_ID, F.lit("trending").alias(C.SOURCE),
                         F.col(C.SCORE).cast("double").alias(C.SCORE),
                         F.col(C.SOURCE_RANK).cast("int").alias(C.SOURCE_RANK))
