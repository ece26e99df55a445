"""Settings of ``foryou evaluate``, ``foryou ab-test`` and monitoring (the ``evaluation`` section)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from foryou.config.section import Section


class KpiRule(Section):
    """One KPI degradation rule on a metric that ``foryou evaluate`` records.

    The rule fires when the metric's value for the run date is below ``min`` or above ``max``,
    or when it moved against its good direction by more than ``max_relative_change`` compared
    with the mean of the previous ``lookback_runs`` run dates.
    """

    metric: str                            # a gold.metrics name of stage evaluate, e.g. business.ctr
    higher_is_better: bool = True
    min: float | None = None
    max: float | None = None
    max_relative_change: float | None = Field(default=None, gt=0)
    lookback_runs: int = Field(default=7, ge=1)


def _default_rules() -> list[KpiRule]:
    return [
        KpiRule(metric="business.ctr", max_relative_change=0.2),
        KpiRule(metric="business.time_spent_per_user_s", max_relative_change=0.2),
        KpiRule(metric="business.retention_d1", max_relative_change=0.15),
        KpiRule(metric="business.dau", max_relative_change=0.3),
    ]


class MonitoringConfig(Section):
    """Freshness, row-count anomalies, feature drift and the retrain decision."""

    # A table whose latest commit is older than this (hours before the run's check) is stale.
    freshness_hours: float = Field(default=36.0, gt=0)
    # Tables checked for freshness: the daily inputs of the feed (missing ones are skipped).
    freshness_tables: list[str] = Field(default_factory=lambda: [
        "silver.events", "silver.impressions", "silver.sessions",
        "gold.user_features", "gold.item_features", "gold.user_candidates"])
    # Row counts (rows_written.<table> in gold.metrics) vs earlier run dates: robust z-score
    # (median / MAD) above this is an anomaly; fewer earlier runs than min_history say nothing.
    rowcount_z: float = Field(default=4.0, gt=0)
    rowcount_min_history: int = Field(default=3, ge=2)
    rowcount_lookback_runs: int = Field(default=14, ge=2)
    # Feature drift: PSI per numeric feature between this as_of_date and the previous one.
    psi_bins: int = Field(default=10, ge=2)
    psi_alert: float = Field(default=0.2, gt=0)      # 0.1-0.25 moderate, > 0.25 major shift
    psi_retrain: float = Field(default=0.25, gt=0)
    drift_tables: list[str] = Field(default_factory=lambda: [
        "gold.user_features", "gold.item_features"])
    # Retrain when the ranker is older than this many days even without drift.
    max_model_age_days: int = Field(default=7, ge=1)
    # Prometheus textfile-collector file; None: <lake.root>/monitoring/foryou.prom.
    prometheus_file: str | None = None


class AbTestConfig(Section):
    """How ``foryou ab-test`` splits users and decides significance."""

    salt: str = "foryou-ab"               # users hash into buckets by (salt, user_id)
    buckets: int = Field(default=100, ge=2)
    treatment_share: float = Field(default=0.5, gt=0, lt=1)  # buckets below share*buckets: treatment
    alpha: float = Field(default=0.05, gt=0, lt=1)
    days: int = Field(default=7, ge=1)     # log window ending at the run date


class EvaluationConfig(Section):
    """What ``foryou evaluate`` computes and where its report goes."""

    # Retrieval cut-offs; each K is one full retrieval evaluation of every list.
    k_values: list[int] = Field(default_factory=lambda: [20], min_length=1)
    # Feed simulator: simulated users per policy (a seeded sample of the world's humans).
    simulator_users: int = Field(default=200, ge=1)
    simulator_seed: int = 0
    # Retention cohorts: "active" = users active on day d (always defined), "new" = users
    # whose first event was on day d (the classic new-user retention).
    retention_cohort: Literal["active", "new"] = "active"
    retention_days: list[int] = Field(default_factory=lambda: [1, 7, 30])
    retention_curve_days: int = Field(default=30, ge=1)
    # Trend detection: engagement growth of the last trend_recent_days over the trend_window_days
    # before; a robust z-score above trend_z with at least trend_min_engagements is a trend.
    trend_recent_days: int = Field(default=1, ge=1)
    trend_window_days: int = Field(default=7, ge=1)
    trend_z: float = Field(default=3.5, gt=0)
    trend_min_engagements: int = Field(default=5, ge=1)
    trend_top: int = Field(default=20, ge=1)
    # Report folder; None: <lake.root>/reports.
    report_dir: str | None = None
    # Metric trends across runs: how many run dates the report plots.
    report_runs: int = Field(default=30, ge=2)
    kpi_rules: list[KpiRule] = Field(default_factory=_default_rules)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    ab_test: AbTestConfig = Field(default_factory=AbTestConfig)
