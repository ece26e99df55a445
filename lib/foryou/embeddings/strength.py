"""Engagement strength of a (user, item) pair: the implicit-feedback "rating" ALS trains on.

One impression's strength is the weighted sum of its outcome labels (``embeddings.
strength_weights``); ``watch_ratio`` counts with its weight times the capped ratio; skip,
hide and report carry negative weights. A pair's strength is the sum over its impressions,
and pairs at or below zero are dropped: implicit ALS reads any positive value as "liked with
that confidence", so a net-negative pair must not appear at all.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from foryou.config.embeddings import EmbeddingsConfig
from foryou.embeddings import columns as C


def impression_strength(cfg: EmbeddingsConfig, available: set[str]) -> Column:
    """The strength of one impression row; a weighted label missing from the frame is an error."""
    missing = sorted(set(cfg.strength_weights) - available)
    if missing:
        raise ValueError(f"embeddings.strength_weights: {missing} are not columns of "
                         f"{C.IMPRESSIONS} (known: {sorted(available)})")
    total = F.lit(0.0)
    for label, weight in sorted(cfg.strength_weights.items()):
        value = F.coalesce(F.col(label).cast("double"), F.lit(0.0))
        if label == "watch_ratio":
            value = F.least(F.greatest(value, F.lit(0.0)), F.lit(cfg.watch_ratio_cap))
        total = total + F.lit(float(weight)) * value
    return total


def pair_strength(impressions: DataFrame, cfg: EmbeddingsConfig) -> DataFrame:
    """(user_id, content_id, strength > 0) summed over the impressions of each pair."""
    strength = impression_strength(cfg, set(impressions.columns))
    return (impressions.select(C.USER_ID, C.CONTENT_ID, strength.alias(C.STRENGTH))
            .groupBy(C.USER_ID, C.CONTENT_ID).agg(F.sum(C.STRENGTH).alias(C.STRENGTH))
            .where(F.col(C.STRENGTH) > 0))
