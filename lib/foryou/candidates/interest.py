"""The interest source: the best-watched items of each user's strongest tags.

Time spent is watch time, and watch time comes from two things a feature store sees: how much
the user likes an item's tags and how long people watch the item. ALS neighbours find items
that co-occur with the user's history, whatever they are watched for; this source asks the
direct question. Per tag, the ``items_per_tag`` items with the most watch time per impression
(smoothed towards the catalogue's mean by ``prior_impressions``, so an item seen twice does
not top its tag); per user, the ``tags_per_user`` tags of the largest long-term interest; a
candidate's score is the sum over its matched tags of interest x the item's watch seconds per
impression. Bots get nothing (the pool fills them from the other sources).

It is a join of two small tables (tags x their best items, users x their top tags): rows per
user are at most ``tags_per_user * items_per_tag``, whatever the catalogue's size.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.topk import as_source, top_k
from foryou.config.candidates import InterestConfig

INTEREST = "interest_long"


def watch_per_impression(items: DataFrame, prior_impressions: float) -> DataFrame:
    """(content_id, tags, watch_s): each item's watch seconds per impression, smoothed towards
    the mean over the catalogue with ``prior_impressions`` pseudo-impressions."""
    stats = items.select(C.CONTENT_ID, C.TAGS,
                         F.coalesce(F.col("watch_ms"), F.lit(0)).cast("double").alias("_w"),
                         F.coalesce(F.col("impressions"), F.lit(0)).cast("double").alias("_n"))
    mean = stats.agg((F.sum("_w") / F.greatest(F.sum("_n"), F.lit(1.0))).alias("_mean"))
    prior = F.lit(float(prior_impressions))
    return (stats.crossJoin(F.broadcast(mean))
            .select(C.CONTENT_ID, C.TAGS,
                    ((F.col("_w") + prior * F.col("_mean")) / (F.col("_n") + prior) / 1000.0)
                    .alias("watch_s")))


def interest_candidates(user_features: DataFrame, items: DataFrame, bot_users: DataFrame,
                        cfg: InterestConfig, k: int) -> DataFrame:
    """Per user, the ``k`` best of their top tags' best-watched items (source ``interest``)."""
    best = watch_per_impression(items, cfg.prior_impressions)
    per_tag = top_k(best.select(C.CONTENT_ID, "watch_s", F.explode(C.TAGS).alias("tag")),
                    "tag", [F.col("watch_s").desc()], cfg.items_per_tag, "_r")
    weights = (user_features.join(bot_users, C.USER_ID, "left_anti")
               .select(C.USER_ID, F.explode(INTEREST).alias("tag", "weight"))
               .where(F.col("weight") > 0))
    top_tags = top_k(weights, C.USER_ID, [F.col("weight").desc()], cfg.tags_per_user, "_t", tie="tag")
    pairs = (top_tags.join(F.broadcast(per_tag.select("tag", C.CONTENT_ID, "watch_s")), "tag")
             .groupBy(C.USER_ID, C.CONTENT_ID)
             .agg(F.sum(F.col("weight") * F.col("watch_s")).alias(C.SCORE)))
    return as_source(pairs, "interest", k)
