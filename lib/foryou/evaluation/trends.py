"""Trend detection: items and tags whose engagement growth is anomalous.

Engagement of an item on a day is its impressions with a valid play, like, comment, share,
follow or save. Growth compares the mean daily engagement of the last ``recent_days`` (ending
on the run date) with the mean daily engagement of the ``window_days`` before:

    growth = log((recent + 1) / (baseline + 1))

Growth is heavy-tailed and most items are flat, so the score is a robust z-score across
subjects: ``(growth - median) / (1.4826 * MAD)`` (1.4826 makes the MAD a standard deviation
under normality). Subjects with fewer than ``min_engagements`` recent engagements are not
scored: one play on a dead item is not a trend.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, functions as F

from foryou.evaluation.business import ENGAGEMENTS
from foryou.lake.vocabulary import CONTENT_ID, EVENT_DATE

MAD_TO_SD = 1.4826


def _engaged() -> F.Column:
    cols = ("click", *ENGAGEMENTS)
    return (F.greatest(*[F.coalesce(F.col(c), F.lit(0)) for c in cols]) > 0).cast("long")


def robust_z(df: DataFrame, value: str, out: str = "z") -> DataFrame:
    """Add ``out``: the robust z-score of ``value`` across all rows (median and MAD)."""
    median = df.agg(F.percentile_approx(value, 0.5, 10000)).first()[0]
    if median is None:
        return df.withColumn(out, F.lit(None).cast("double"))
    mad = df.agg(F.percentile_approx(F.abs(F.col(value) - F.lit(median)), 0.5, 10000)).first()[0]
    scale = MAD_TO_SD * mad if mad else None
    if not scale:
        # More than half the subjects share one growth: fall back to the mean absolute deviation.
        mean_ad = df.agg(F.avg(F.abs(F.col(value) - F.lit(median)))).first()[0]
        scale = MAD_TO_SD * mean_ad if mean_ad else None
    if not scale:
        return df.withColumn(out, F.lit(0.0))
    return df.withColumn(out, (F.col(value) - F.lit(median)) / F.lit(scale))


def engagement_growth(daily: DataFrame, key: str, day: dt.date, recent_days: int,
                      window_days: int) -> DataFrame:
    """``key, recent, baseline, growth`` from a frame of ``key, event_date, engagements``."""
    recent_start = day - dt.timedelta(days=recent_days - 1)
    base_start = recent_start - dt.timedelta(days=window_days)
    in_recent = F.col(EVENT_DATE) >= F.lit(recent_start)
    return (daily.where((F.col(EVENT_DATE) >= F.lit(base_start)) & (F.col(EVENT_DATE) <= F.lit(day)))
            .groupBy(key)
            .agg((F.sum(F.when(in_recent, F.col("engagements")).otherwise(0)) / recent_days)
                 .alias("recent"),
                 (F.sum(F.when(~in_recent, F.col("engagements")).otherwise(0)) / window_days)
                 .alias("baseline"),
                 F.sum(F.when(in_recent, F.col("engagements")).otherwise(0)).alias("recent_total"))
            .withColumn("growth", F.log((F.col("recent") + 1) / (F.col("baseline") + 1))))


def trending(impressions: DataFrame, content: DataFrame | None, day: dt.date,
             recent_days: int = 1, window_days: int = 7, z: float = 3.5,
             min_engagements: int = 5) -> dict[str, DataFrame]:
    """Anomalous growth per item and per tag: ``{"item": df, "tag": df}``.

    Each frame holds every scored subject with ``recent, baseline, growth, z, anomalous``;
    ``content`` (``content_id, tags``) is needed for tags (the "tag" frame is absent without it).
    """
    since = day - dt.timedelta(days=recent_days + window_days - 1)
    window = impressions.where((F.col(EVENT_DATE) >= F.lit(since)) & (F.col(EVENT_DATE) <= F.lit(day)))
    per_item = (window.groupBy(CONTENT_ID, EVENT_DATE)
                .agg(F.sum(_engaged()).alias("engagements")))
    out = {}
    frames = {"item": (CONTENT_ID, per_item)}
    if content is not None:
        per_tag = (per_item.join(content.select(CONTENT_ID, F.explode("tags").alias("tag")),
                                 CONTENT_ID)
                   .groupBy("tag", EVENT_DATE).agg(F.sum("engagements").alias("engagements")))
        frames["tag"] = ("tag", per_tag)
    for kind, (key, daily) in frames.items():
        growth = engagement_growth(daily, key, day, recent_days, window_days)
        scored = robust_z(growth.where(F.col("recent_total") >= min_engagements), "growth")
        out[kind] = (scored.withColumn("anomalous", F.col("z") > z)
                     .withColumnRenamed(key, "subject").withColumn("kind", F.lit(kind)))
    return out
