"""Settings of monitoring: freshness, row counts, drift, KPI rules and the retrain decision.

They are read from the ``evaluation`` section (``evaluation.monitoring``,
``evaluation.kpi_rules``), since ``foryou evaluate`` runs the checks.
"""
from __future__ import annotations

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


def default_rules() -> list[KpiRule]:
    """The KPI rules of ``evaluation.kpi_rules`` when the config names none."""
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
