"""Followed-creator candidates: the recent uploads of the creators a user follows.

Follows come from ``gold.user_features.followed_creators`` (latest follow/unfollow wins);
uploads from ``silver.content``. An upload scores ``exp(-age in days / decay_days)``.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.topk import as_source
from foryou.config.candidates import FollowedConfig


def followed_candidates(user_features: DataFrame, content: DataFrame, as_of: dt.date,
                        cfg: FollowedConfig, k: int) -> DataFrame:
    """Per user, the top ``k`` uploads of the last ``recent_days`` by followed creators."""
    as_of_ts = F.to_timestamp(F.lit(as_of.isoformat()))
    age = (F.unix_seconds(as_of_ts) - F.unix_seconds(C.UPLOAD_TS)) / 86400.0
    uploads = (content.where(F.col(C.UPLOAD_TS).isNotNull() & (F.col(C.UPLOAD_TS) < as_of_ts)
                             & (age <= cfg.recent_days) & F.col(C.CREATOR_ID).isNotNull())
               .select(C.CONTENT_ID, C.CREATOR_ID, F.exp(-age / cfg.decay_days).alias(C.SCORE)))
    follows = (user_features.select(C.USER_ID, F.explode(C.FOLLOWED_CREATORS).alias(C.CREATOR_ID))
               .distinct())
    return as_source(follows.join(uploads, C.CREATOR_ID), "followed", k)
