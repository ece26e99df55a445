"""Engagement-farming detection: a per-user anomaly score from four signals, and its
precision and recall against known bot ids.

Signals (each in [0, 1]), from the additive columns of gold.user_features:

- rate: actions per active day, saturating at ``max_events_per_day``;
- blind: share of likes/follows on an item the user did not really view that day;
- regularity: 1 - CV / ``human_gap_cv`` of inter-event gaps (scripts act at a steady
  pace; people act in bursts, CV above 1), only with at least ``min_gaps`` gaps;
- bursts: share of engagements made inside a coordinated burst (``burst_min_users``
  distinct users on one item within ``burst_window_s``).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from foryou.config.features import BotConfig
from foryou.features import columns as C

SUSPECTED_BOT = "suspected_bot"
ANOMALY_SCORE = "anomaly_score"


def _share(num: Column, den: Column) -> Column:
    return F.when(den > 0, num.cast("double") / den).otherwise(0.0)


def score(users: DataFrame, cfg: BotConfig) -> DataFrame:
    """Add the signal columns, ``anomaly_score`` and ``suspected_bot`` to user features."""
    actions = F.col("events") - F.col("impressions")
    n = F.col("gaps")
    mean = _share(F.col("gap_sum_s"), n)
    var = F.greatest(_share(F.col("gap_sumsq_s"), n) - mean * mean, F.lit(0.0))
    cv = F.when(n < 2, None).when(mean > 0, F.sqrt(var) / mean).otherwise(0.0)
    engagements = sum((F.col(c) for c in ("likes", "comments", "shares", "follows", "saves")), F.lit(0))
    users = (users
             .withColumn("events_per_active_day", _share(actions, F.col("active_days")))
             .withColumn("gap_cv", cv)
             .withColumn("blind_share", F.least(_share(F.col("blind_engagements"),
                                                        F.col("likes") + F.col("follows")), F.lit(1.0)))
             .withColumn("burst_share", F.least(_share(F.col("burst_engagements"), engagements),
                                                F.lit(1.0))))
    rate = F.least(F.col("events_per_active_day") / cfg.max_events_per_day, F.lit(1.0))
    regular = F.when(n >= cfg.min_gaps,
                     F.greatest(1.0 - F.col("gap_cv") / cfg.human_gap_cv, F.lit(0.0))).otherwise(0.0)
    weights = cfg.weight_rate + cfg.weight_blind + cfg.weight_regular + cfg.weight_burst
    total = (cfg.weight_rate * rate + cfg.weight_blind * F.col("blind_share")
             + cfg.weight_regular * regular + cfg.weight_burst * F.col("burst_share"))
    anomaly = total / weights if weights > 0 else F.lit(0.0)
    return (users.withColumn(ANOMALY_SCORE, anomaly)
            .withColumn(SUSPECTED_BOT, F.col(ANOMALY_SCORE) >= cfg.threshold))


def detection_quality(user_features: DataFrame, truth: DataFrame) -> dict[str, float]:
    """Precision and recall of ``suspected_bot`` against ``truth`` (``user_id, is_bot``).

    Only users present in both frames count. Returns tp, fp, fn, precision and recall
    (precision is 1.0 when nothing is flagged, recall 1.0 when there are no bots).
    """
    if "is_bot" not in truth.columns or C.USER_ID not in truth.columns:
        raise ValueError(f"truth frame needs columns user_id and is_bot; it has {truth.columns}")
    joined = user_features.select(C.USER_ID, SUSPECTED_BOT).join(
        truth.select(C.USER_ID, F.col("is_bot").cast("boolean").alias("_bot")), C.USER_ID)
    flagged, bot = F.coalesce(F.col(SUSPECTED_BOT), F.lit(False)), F.coalesce(F.col("_bot"), F.lit(False))
    row = joined.agg(
        F.sum(F.when(flagged & bot, 1).otherwise(0)).alias("tp"),
        F.sum(F.when(flagged & ~bot, 1).otherwise(0)).alias("fp"),
        F.sum(F.when(~flagged & bot, 1).otherwise(0)).alias("fn")).first()
    tp, fp, fn = (int(row[k] or 0) for k in ("tp", "fp", "fn"))
    return {"tp": tp, "fp": fp, "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0}
