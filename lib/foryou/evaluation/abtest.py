"""A/B analysis: compare two policies' logs, split by a user-bucket column.

Users are the unit of randomisation. Rates whose unit is an impression (CTR, engagement rate)
use the two-proportion z-test on impression counts; user-level rates (next-day return) use it
on users; per-user times (session time, watch time) use Welch's t-test, whose inputs (n, mean,
variance per arm) Spark computes, so no per-user row reaches the driver. Effects are the
difference treatment - control with a (1 - alpha) confidence interval and the relative lift.

The z-test on impressions assumes independent impressions; a user's impressions are
correlated, so its intervals are narrower than a user-level analysis would give. The per-user
metrics are the cluster-robust counterpart.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, functions as F
from scipy import stats

from foryou.evaluation.business import ENGAGEMENTS
from foryou.lake.vocabulary import EVENT_DATE, USER_ID

VARIANT = "variant"


@dataclass(frozen=True)
class Effect:
    """One metric's comparison of treatment against control."""

    metric: str
    test: str                 # "z" (two proportions) or "welch"
    control: float
    treatment: float
    diff: float               # treatment - control
    ci_low: float
    ci_high: float
    lift: float | None        # diff / control
    p_value: float
    significant: bool
    n_control: float
    n_treatment: float

    def as_dict(self) -> dict:
        return asdict(self)


def two_proportion_z(metric: str, x_c: float, n_c: float, x_t: float, n_t: float,
                     alpha: float = 0.05) -> Effect:
    """Two-proportion z-test: pooled SE for the p-value, unpooled SE for the CI."""
    if min(n_c, n_t) <= 0:
        raise ValueError(f"{metric}: both arms need observations (control {n_c}, treatment {n_t})")
    p_c, p_t = x_c / n_c, x_t / n_t
    pooled = (x_c + x_t) / (n_c + n_t)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    z = (p_t - p_c) / se0 if se0 > 0 else 0.0
    p = float(2 * stats.norm.sf(abs(z)))
    se = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    q = stats.norm.ppf(1 - alpha / 2)
    diff = p_t - p_c
    return Effect(metric, "z", p_c, p_t, diff, diff - q * se, diff + q * se,
                  diff / p_c if p_c else None, p, p < alpha, n_c, n_t)


def welch(metric: str, mean_c: float, var_c: float, n_c: float, mean_t: float, var_t: float,
          n_t: float, alpha: float = 0.05) -> Effect:
    """Welch's t-test from each arm's mean, sample variance and size."""
    if min(n_c, n_t) < 2:
        raise ValueError(f"{metric}: Welch's test needs 2+ users per arm (control {n_c}, treatment {n_t})")
    se2_c, se2_t = var_c / n_c, var_t / n_t
    se = math.sqrt(se2_c + se2_t)
    diff = mean_t - mean_c
    if se == 0:
        return Effect(metric, "welch", mean_c, mean_t, diff, diff, diff,
                      diff / mean_c if mean_c else None, 1.0 if diff == 0 else 0.0, diff != 0, n_c, n_t)
    dof = (se2_c + se2_t) ** 2 / (se2_c ** 2 / (n_c - 1) + se2_t ** 2 / (n_t - 1))
    t = diff / se
    p = float(2 * stats.t.sf(abs(t), dof))
    q = stats.t.ppf(1 - alpha / 2, dof)
    return Effect(metric, "welch", mean_c, mean_t, diff, diff - q * se, diff + q * se,
                  diff / mean_c if mean_c else None, p, p < alpha, n_c, n_t)


def hash_buckets(df: DataFrame, salt: str, buckets: int, out: str = "bucket") -> DataFrame:
    """Add ``out``: the user's bucket 0..buckets-1, a stable hash of (salt, user_id)."""
    return df.withColumn(out, F.pmod(F.xxhash64(F.lit(salt), F.col(USER_ID)), F.lit(buckets)).cast("int"))


def user_outcomes(impressions: DataFrame, sessions: DataFrame | None, variant: str) -> DataFrame:
    """One row per user: variant, impressions, clicks, engaged, watch_s, session_s, returned.

    ``returned`` is 1 when the user has impressions on a later day than their first in the
    window (next-visit return); ``variant`` must be constant per user.
    """
    engaged = (F.greatest(*[F.coalesce(F.col(c), F.lit(0)) for c in ENGAGEMENTS]) > 0).cast("long")
    per_user = impressions.groupBy(USER_ID).agg(
        F.countDistinct(variant).alias("variants"), F.first(variant).alias(VARIANT),
        F.count("*").alias("impressions"),
        F.sum(F.coalesce(F.col("click"), F.lit(0))).alias("clicks"),
        F.sum(engaged).alias("engaged"),
        (F.sum(F.coalesce(F.col("watch_ms"), F.lit(0))) / 1000.0).alias("watch_s"),
        (F.countDistinct(EVENT_DATE) > 1).cast("long").alias("returned"))
    if sessions is not None:
        spent = sessions.groupBy(USER_ID).agg(F.sum("duration_s").alias("session_s"))
        per_user = per_user.join(spent, USER_ID, "left").fillna(0.0, ["session_s"])
    return per_user


def compare(impressions: DataFrame, sessions: DataFrame | None, variant: str, control,
            treatment, alpha: float = 0.05) -> list[Effect]:
    """Effects of ``treatment`` against ``control`` on every business metric.

    Args:
        impressions: silver.impressions-like rows with ``variant`` (one value per user).
        sessions: silver.sessions-like rows (``user_id, duration_s``) or None.
        variant: the user-bucket column naming each user's arm.
        control, treatment: the two values of ``variant`` compared (others are ignored).
    Returns:
        One :class:`Effect` per metric.
    Raises:
        ValueError: a user appears in more than one arm, or an arm is empty.
    """
    if variant not in impressions.columns:
        raise ValueError(f"ab-test: the bucket column {variant!r} is not in the logs "
                         f"(columns: {', '.join(impressions.columns)})")
    arms = impressions.where(F.col(variant).isin(control, treatment))
    users = user_outcomes(arms, sessions, variant)
    means = ["impressions", "clicks", "engaged", "returned", "watch_s"] + \
        (["session_s"] if sessions is not None else [])
    aggs = [F.count("*").alias("users"), F.max("variants").alias("max_variants")]
    for c in means:
        aggs += [F.sum(c).alias(f"sum_{c}"), F.avg(c).alias(f"mean_{c}"),
                 F.var_samp(c).alias(f"var_{c}")]
    # bounded: one row per variant
    rows = {r[VARIANT]: r for r in users.groupBy(VARIANT).agg(*aggs).collect()}
    for arm, name in ((control, "control"), (treatment, "treatment")):
        if arm not in rows:
            raise ValueError(f"ab-test: the {name} arm {variant}={arm!r} has no impressions")
        if rows[arm]["max_variants"] > 1:
            raise ValueError(f"ab-test: users appear in more than one value of {variant!r}; "
                             f"the bucket column must be constant per user")
    c, t = rows[control], rows[treatment]
    effects = [
        two_proportion_z("ctr", c["sum_clicks"], c["sum_impressions"], t["sum_clicks"],
                         t["sum_impressions"], alpha),
        two_proportion_z("engagement_rate", c["sum_engaged"], c["sum_impressions"],
                         t["sum_engaged"], t["sum_impressions"], alpha),
        two_proportion_z("return_rate", c["sum_returned"], c["users"], t["sum_returned"],
                         t["users"], alpha),
        welch("watch_s_per_user", c["mean_watch_s"], c["var_watch_s"] or 0.0, c["users"],
              t["mean_watch_s"], t["var_watch_s"] or 0.0, t["users"], alpha),
    ]
    if sessions is not None:
        effects.append(welch("time_spent_per_user_s", c["mean_session_s"], c["var_session_s"] or 0.0,
                             c["users"], t["mean_session_s"], t["var_session_s"] or 0.0,
                             t["users"], alpha))
    return effects
