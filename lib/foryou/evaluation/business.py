"""Business metrics from the silver logs: the numbers the feed exists for.

Every metric is a Spark aggregation over ``silver.events``, ``silver.impressions`` and
``silver.sessions``; nothing per user reaches the driver, only one row of totals per metric.

Definitions (for one day ``d``):

======================  ===============================================================
dau                     distinct users with any event on d
retention_dN            share of the day-(d-N) cohort active on d (see :func:`retention`)
avg_session_s           mean ``duration_s`` of the sessions that started on d
time_spent_per_user_s   total session seconds on d / users with a session on d
watch_s_per_user        total watch time of d's impressions / users with impressions on d
ctr                     valid plays (``click``) per served impression (impression logs only)
engagement_rate         impressions with a like, comment, share, follow or save / impressions
follow_conversion       viewer-to-follower: (user, creator) pairs with a valid play on d in
                        which the user followed the creator on d / all such pairs
======================  ===============================================================
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from pyspark.sql import DataFrame, functions as F

from foryou.lake.vocabulary import CREATOR_ID, EVENT_DATE, USER_ID

SESSION_DATE = "session_date"
ENGAGEMENTS = ("like", "comment", "share", "follow", "save")


def dau(events: DataFrame) -> DataFrame:
    """Daily active users: ``event_date, dau`` (distinct users with any event that day)."""
    return events.groupBy(EVENT_DATE).agg(F.countDistinct(USER_ID).alias("dau")).orderBy(EVENT_DATE)


def activity(events: DataFrame) -> DataFrame:
    """One row per user and day with any event: ``user_id, day``."""
    return events.select(USER_ID, F.col(EVENT_DATE).alias("day")).distinct()


def retention(events: DataFrame, max_lag: int, cohort: str = "active") -> DataFrame:
    """Retention per cohort day and lag: ``cohort_day, lag, cohort_size, retained, rate``.

    ``cohort="active"``: the cohort of day c is every user active on c; ``"new"``: users whose
    first event in ``events`` is on c. ``retained`` counts the cohort's users active on day
    c + lag (exactly that day: classic "day-N" retention, not "rolling"). Only lags whose day
    lies inside the data are returned, so a missing future never reads as churn.

    Args:
        events: rows with ``user_id`` and ``event_date``.
        max_lag: the longest lag in days (1..max_lag).
        cohort: ``"active"`` or ``"new"``.
    Returns:
        A small frame (cohort days x lags), ordered by cohort_day and lag.
    """
    if cohort not in ("active", "new"):
        raise ValueError(f"retention cohort {cohort!r}: expected 'active' or 'new'")
    days = activity(events)
    if cohort == "new":
        cohorts = days.groupBy(USER_ID).agg(F.min("day").alias("cohort_day"))
    else:
        cohorts = days.withColumnRenamed("day", "cohort_day")
    last_day = days.agg(F.max("day")).first()[0]
    if last_day is None:
        return days.sparkSession.createDataFrame(
            [], "cohort_day date, lag int, cohort_size bigint, retained bigint, rate double")
    sizes = cohorts.groupBy("cohort_day").agg(F.count("*").alias("cohort_size"))
    lags = days.sparkSession.range(1, max_lag + 1).select(F.col("id").cast("int").alias("lag"))
    grid = sizes.crossJoin(lags).where(F.date_add("cohort_day", F.col("lag")) <= F.lit(last_day))
    returned = (cohorts.join(days, USER_ID)
                .withColumn("lag", F.datediff("day", "cohort_day").cast("int"))
                .where((F.col("lag") >= 1) & (F.col("lag") <= max_lag))
                .groupBy("cohort_day", "lag").agg(F.count("*").alias("retained")))
    return (grid.join(returned, ["cohort_day", "lag"], "left")
            .fillna(0, ["retained"])
            .withColumn("rate", F.col("retained") / F.col("cohort_size"))
            .select("cohort_day", "lag", "cohort_size", "retained", "rate")
            .orderBy("cohort_day", "lag"))


def retention_on(events: DataFrame, day: dt.date, lags: Iterable[int],
                 cohort: str = "active") -> dict[int, float | None]:
    """``{N: share of the day-(day - N) cohort active on day}``; None where the cohort is empty."""
    lags = sorted(set(lags))
    since = day - dt.timedelta(days=max(lags))
    window = events.where((F.col(EVENT_DATE) >= F.lit(since if cohort == "active" else dt.date(1900, 1, 1)))
                          & (F.col(EVENT_DATE) <= F.lit(day)))
    table = retention(window, max(lags), cohort)
    # bounded: one row per retention lag
    rows = table.where(F.date_add("cohort_day", F.col("lag")) == F.lit(day)).collect()
    found = {r["lag"]: r["rate"] for r in rows if r["cohort_size"] > 0}
    return {n: found.get(n) for n in lags}


def retention_curve(table: DataFrame) -> DataFrame:
    """Average retention per lag over cohorts, weighted by cohort size: ``lag, rate, cohorts``."""
    return (table.groupBy("lag")
            .agg((F.sum("retained") / F.sum("cohort_size")).alias("rate"),
                 F.count("*").alias("cohorts"))
            .orderBy("lag"))


def session_metrics(sessions: DataFrame) -> dict[str, float | None]:
    """``avg_session_s``, ``time_spent_per_user_s``, ``sessions`` and ``session_users`` of a day."""
    row = sessions.agg(F.count("*").alias("n"), F.avg("duration_s").alias("avg"),
                       F.sum("duration_s").alias("total"),
                       F.countDistinct(USER_ID).alias("users")).first()
    users = row["users"] or 0
    return {"avg_session_s": row["avg"],
            "time_spent_per_user_s": (row["total"] or 0.0) / users if users else None,
            "sessions": float(row["n"]), "session_users": float(users)}


def impression_metrics(impressions: DataFrame) -> dict[str, float | None]:
    """``ctr``, ``engagement_rate``, ``watch_s_per_user`` and ``impressions`` of a day.

    CTR counts only logs that record impressions (``has_impressions`` not false): an
    interactions-only log has a play for every row and would read as CTR 1.
    """
    served = impressions.where(F.coalesce(F.col("has_impressions"), F.lit(True)))
    engaged = F.greatest(*[F.coalesce(F.col(c), F.lit(0)) for c in ENGAGEMENTS]) > 0
    row = served.agg(
        F.count("*").alias("n"),
        F.sum(F.coalesce(F.col("click"), F.lit(0))).alias("clicks"),
        F.sum(engaged.cast("long")).alias("engaged"),
        F.sum(F.coalesce(F.col("watch_ms"), F.lit(0))).alias("watch_ms"),
        F.countDistinct(USER_ID).alias("users")).first()
    n = row["n"]
    return {"impressions": float(n),
            "ctr": row["clicks"] / n if n else None,
            "engagement_rate": row["engaged"] / n if n else None,
            "watch_s_per_user": row["watch_ms"] / 1000.0 / row["users"] if row["users"] else None}


def follow_conversion(impressions: DataFrame) -> float | None:
    """Viewer-to-follower conversion: (user, creator) pairs with a valid play in which the user
    followed the creator, over all such pairs; None without plays."""
    pairs = (impressions.where(F.col(CREATOR_ID).isNotNull())
             .groupBy(USER_ID, CREATOR_ID)
             .agg(F.max(F.coalesce(F.col("click"), F.lit(0))).alias("viewed"),
                  F.max(F.coalesce(F.col("follow"), F.lit(0))).alias("followed"))
             .where(F.col("viewed") > 0))
    row = pairs.agg(F.count("*").alias("n"), F.sum("followed").alias("f")).first()
    return row["f"] / row["n"] if row["n"] else None


def daily_business_metrics(events: DataFrame, impressions: DataFrame | None,
                           sessions: DataFrame | None, day: dt.date,
                           retention_lags: Iterable[int] = (1, 7, 30),
                           cohort: str = "active") -> dict[str, float | None]:
    """Every business metric of ``day`` (see the module docstring); None where undefined.

    ``events`` may span many days (retention looks back); impressions and sessions are
    filtered to ``day`` here.
    """
    out: dict[str, float | None] = {}
    today = events.where(F.col(EVENT_DATE) == F.lit(day))
    out["dau"] = float(today.select(USER_ID).distinct().count())
    for lag, rate in retention_on(events, day, retention_lags, cohort).items():
        out[f"retention_d{lag}"] = rate
    if sessions is not None:
        out.update(session_metrics(sessions.where(F.col(SESSION_DATE) == F.lit(day))))
    if impressions is not None:
        day_imps = impressions.where(F.col(EVENT_DATE) == F.lit(day))
        out.update(impression_metrics(day_imps))
        out["follow_conversion"] = follow_conversion(day_imps)
    return out
