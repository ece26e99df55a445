"""What no candidate pool may hold, and the per-source quotas.

- items the user saw (any event on them) in the last ``seen_days`` days;
- items the user hid or reported in the last ``negative_days`` days;
- items of blocked creators (``filters.blocked_creators``) and of spam-flagged creators: those
  whose engagement over ``spam_days`` comes mostly (``spam_bot_share``) from suspected bots.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.topk import top_k
from foryou.config.candidates import FiltersConfig


def seen_pairs(events: DataFrame) -> DataFrame:
    """Distinct (user_id, content_id) with any event in ``events`` (already cut to the window)."""
    return events.where(F.col(C.CONTENT_ID).isNotNull()).select(C.USER_ID, C.CONTENT_ID).distinct()


def negative_pairs(events: DataFrame) -> DataFrame:
    """Distinct (user_id, content_id) the user hid or reported."""
    return seen_pairs(events.where(F.col(C.EVENT_TYPE).isin(*C.NEGATIVE_EVENTS)))


def spam_creators(events: DataFrame, content: DataFrame, bot_users: DataFrame,
                  cfg: FiltersConfig) -> DataFrame:
    """creator_id, bot_share of the creators whose engagement comes mostly from suspected bots.

    An engagement is a like, comment, share, save or follow event; its creator is the event's
    creator_id or else the item's (silver.content).
    """
    bots = bot_users.select(C.USER_ID, F.lit(1).alias("_bot"))
    eng = (events.where(F.col(C.EVENT_TYPE).isin(*C.ENGAGEMENT_EVENTS))
           .join(content.select(C.CONTENT_ID, F.col(C.CREATOR_ID).alias("_item_creator")), C.CONTENT_ID, "left")
           .select(C.USER_ID, F.coalesce(C.CREATOR_ID, "_item_creator").alias(C.CREATOR_ID))
           .where(F.col(C.CREATOR_ID).isNotNull())
           .join(bots, C.USER_ID, "left"))
    per_creator = eng.groupBy(C.CREATOR_ID).agg(
        F.count(F.lit(1)).alias("_total"), F.sum(F.coalesce(F.col("_bot"), F.lit(0))).alias("_bots"))
    return (per_creator.where(F.col("_total") >= cfg.spam_min_engagements)
            .withColumn("bot_share", F.col("_bots") / F.col("_total"))
            .where(F.col("bot_share") >= cfg.spam_bot_share).select(C.CREATOR_ID, "bot_share"))


def excluded_creators(spark, spam: DataFrame, cfg: FiltersConfig) -> DataFrame:
    """creator_id of every blocked or spam-flagged creator."""
    blocked = spark.createDataFrame([(c,) for c in cfg.blocked_creators], f"{C.CREATOR_ID} string")
    return blocked.unionByName(spam.select(C.CREATOR_ID)).distinct()


def apply_filters(candidates: DataFrame, seen: DataFrame, negative: DataFrame,
                  creators: DataFrame) -> DataFrame:
    """Candidates (with creator_id) less seen and negative (user, item) pairs and excluded creators."""
    pairs = [C.USER_ID, C.CONTENT_ID]
    return (candidates.join(seen, pairs, "left_anti").join(negative, pairs, "left_anti")
            .join(F.broadcast(creators), C.CREATOR_ID, "left_anti"))


def apply_quotas(candidates: DataFrame, quotas: dict[str, int]) -> DataFrame:
    """At most ``quotas[source]`` candidates per user and source (their best by source_rank),
    re-ranked 1.. within the source; sources without a quota are dropped."""
    limits = F.create_map(*[x for s, q in quotas.items() for x in (F.lit(s), F.lit(q))]) if quotas \
        else F.create_map().cast("map<string,int>")
    ranked = top_k(candidates, [C.USER_ID, C.SOURCE], [F.col(C.SOURCE_RANK), F.col(C.SCORE).desc()],
                   10 ** 9, "_rank")
    return (ranked.where(F.col("_rank") <= F.coalesce(F.try_element_at(limits, F.col(C.SOURCE)), F.lit(0)))
            .withColumn(C.SOURCE_RANK, F.col("_rank").cast("int")).drop("_rank"))
