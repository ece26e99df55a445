"""What the candidate sources read, pruned to the days they need, as of a run date.

Everything is "strictly before the run date", like the feature store: the candidates for run
date D use events of D-1 and earlier and the features with ``as_of_date = D``.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.lake import Lake
from foryou.lake.days import days_before


def read_days(lake: Lake, name: str, as_of: dt.date, days: int | None) -> DataFrame:
    """A date-partitioned table's rows of the ``days`` days before ``as_of`` (None: every
    day before it)."""
    if days is None:
        return lake.read_or_empty(name).where(F.col(C.EVENT_DATE) < F.lit(as_of))
    return lake.read_or_empty(name, days_before(as_of, days))


def features_at(lake: Lake, name: str, as_of: dt.date) -> DataFrame:
    """One as_of_date partition of a feature table."""
    return lake.read_or_empty(name, [as_of])


def bots(user_features: DataFrame) -> DataFrame:
    """user_id of the suspected bots."""
    return user_features.where(F.coalesce(F.col(C.SUSPECTED_BOT), F.lit(False))).select(C.USER_ID)


def engaged(impressions: DataFrame, bot_users: DataFrame) -> DataFrame:
    """(user_id, content_id, event_ts) of positive engagements by users who are not bots:
    a valid play or any positive label, without a hide or report."""
    label = lambda c: F.coalesce(F.col(c), F.lit(0)) > 0  # noqa: E731
    positive = label("click")
    for c in C.POSITIVE_LABELS:
        positive = positive | label(c)
    negative = label(C.NEGATIVE_LABELS[0])
    for c in C.NEGATIVE_LABELS[1:]:
        negative = negative | label(c)
    return (impressions.where(positive & ~negative)
            .join(bot_users, C.USER_ID, "left_anti")
            .select(C.USER_ID, C.CONTENT_ID, C.EVENT_TS))


def interaction_log(impressions: DataFrame) -> bool:
    """True when ``impressions`` (silver.impressions rows) come from a log without served
    impressions only: rows exist and none has ``has_impressions``. An empty window is not
    such a log (a new deployment's first day keeps the served-feed sources)."""
    if impressions.limit(1).count() == 0:
        return False
    return impressions.where(F.coalesce(F.col("has_impressions"), F.lit(False))).limit(1).count() == 0


def all_users(users: DataFrame, user_features: DataFrame) -> DataFrame:
    """Every known user (silver.users and the feature store) with country and language."""
    known = users.select(C.USER_ID, "country", "language")
    extra = user_features.select(C.USER_ID).join(known.select(C.USER_ID), C.USER_ID, "left_anti")
    return known.unionByName(extra, allowMissingColumns=True)
