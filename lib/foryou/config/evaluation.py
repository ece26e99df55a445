"""Settings of ``foryou evaluate`` and ``foryou ab-test`` (the ``evaluation`` section, which also
holds monitoring's: :mod:`foryou.config.monitoring`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat

from foryou.config.monitoring import KpiRule, MonitoringConfig, default_rules
from foryou.config.section import Section


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
    # Diversity over days (foryou.evaluation.multiday): the champion, its ablations, a daily
    # oracle and random served this many days in a row (each day's export rebuilt from what
    # the users did), at each satiation strength (name -> strength; null: the world's own).
    # 0 or 1: not simulated. The days are served from the run date's pool built
    # satiation_pool_depth times deeper (the next days' pools are not rebuilt; a user sees
    # about 30 items a day, the usual pool holds about 220).
    satiation_days: int = Field(default=7, ge=0)
    satiation_pool_depth: int = Field(default=3, ge=1)
    satiation_levels: dict[str, NonNegativeFloat | None] = Field(default_factory=lambda: {
        "none": 0.0, "default": None, "strong": 0.45})
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
    kpi_rules: list[KpiRule] = Field(default_factory=default_rules)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    ab_test: AbTestConfig = Field(default_factory=AbTestConfig)
