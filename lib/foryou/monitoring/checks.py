"""Checks that turn the lake's state and the run's metrics into alerts.

- freshness: a table's latest commit (Delta history) is older than ``freshness_hours``;
- row counts: the rows a table got for the run date (``rows_written.<table>`` in gold.metrics,
  summed over the run's writes) are anomalous against earlier run dates (robust z-score), or
  zero where earlier runs wrote rows;
- KPI rules (``evaluation.kpi_rules``): a metric out of bounds or degraded against its mean
  over the previous run dates.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

import numpy as np
import pandas as pd

from foryou.config.monitoring import KpiRule, MonitoringConfig
from foryou.lake import Lake
from foryou.monitoring.alerts import Alert

MAD_TO_SD = 1.4826


def freshness(lake: Lake, tables: Sequence[str], max_age_hours: float,
              now: dt.datetime | None = None) -> tuple[dict[str, float], list[Alert]]:
    """Hours since each existing table's latest commit, and an alert per stale table."""
    now = now or dt.datetime.now(dt.timezone.utc)
    ages, alerts = {}, []
    for name in tables:
        if not lake.exists(name):
            continue
        history = lake.history(name, 1)
        if not history:
            continue
        when = history[0].timestamp
        age = (now - when).total_seconds() / 3600.0
        ages[name] = age
        if age > max_age_hours:
            alerts.append(Alert("freshness", name, f"{name}: last commit {age:.1f} h ago "
                                f"(limit {max_age_hours:g} h)", age, max_age_hours))
    return ages, alerts


def rows_per_run(history: pd.DataFrame) -> pd.DataFrame:
    """``table, run_date, rows`` from gold.metrics rows named ``rows_written.<table>``."""
    rows = history[history["name"].str.startswith("rows_written.")]
    if rows.empty:
        return pd.DataFrame(columns=["table", "run_date", "rows"])
    rows = rows.assign(table=rows["name"].str.slice(len("rows_written.")),
                       rows=rows["value"].fillna(0.0))
    return rows.groupby(["table", "run_date"], as_index=False)["rows"].sum()


def rowcount_anomalies(counts: pd.DataFrame, run_date: dt.date, z_limit: float,
                       min_history: int) -> tuple[dict[str, float], list[Alert]]:
    """Robust z-score of each table's rows on ``run_date`` against its earlier run dates.

    Args:
        counts: ``table, run_date, rows`` (see :func:`rows_per_run`).
    Returns:
        ``({table: z}, alerts)``; tables with fewer than ``min_history`` earlier runs are not scored.
    """
    scores, alerts = {}, []
    for name, group in counts.groupby("table"):
        today = group[group["run_date"] == run_date]["rows"]
        before = group[group["run_date"] < run_date]["rows"].to_numpy(float)
        if today.empty or len(before) < min_history:
            continue
        value = float(today.iloc[0])
        median = float(np.median(before))
        mad = float(np.median(np.abs(before - median))) * MAD_TO_SD
        # A perfectly steady history has MAD 0: measure against 5% of its level instead.
        scale = mad if mad > 0 else max(0.05 * abs(median), 1.0)
        z = (value - median) / scale
        scores[name] = z
        if value == 0 and median > 0:
            alerts.append(Alert("rowcount", name, f"{name}: no rows for {run_date} "
                                f"(median of earlier runs {median:,.0f})", value, median))
        elif abs(z) > z_limit:
            alerts.append(Alert("rowcount", name, f"{name}: {value:,.0f} rows for {run_date}, "
                                f"robust z {z:+.1f} against a median of {median:,.0f}",
                                z, z_limit, {"rows": value, "median": median}))
    return scores, alerts


def kpi_alerts(history: pd.DataFrame, rules: Sequence[KpiRule], run_date: dt.date) -> list[Alert]:
    """Alerts of the KPI rules over ``history`` (``run_date, name, value`` of stage evaluate)."""
    alerts = []
    for rule in rules:
        series = history[history["name"] == rule.metric].dropna(subset=["value"])
        today = series[series["run_date"] == run_date]["value"]
        if today.empty:
            continue
        value = float(today.iloc[-1])
        if rule.min is not None and value < rule.min:
            alerts.append(Alert("kpi", rule.metric, f"{rule.metric} = {value:.4g} below {rule.min:g}",
                                value, rule.min))
        if rule.max is not None and value > rule.max:
            alerts.append(Alert("kpi", rule.metric, f"{rule.metric} = {value:.4g} above {rule.max:g}",
                                value, rule.max))
        if rule.max_relative_change is not None:
            before = series[series["run_date"] < run_date].sort_values("run_date")
            before = before["value"].tail(rule.lookback_runs)
            if before.empty or float(before.mean()) == 0:
                continue
            base = float(before.mean())
            change = (value - base) / abs(base)
            worse = -change if rule.higher_is_better else change
            if worse > rule.max_relative_change:
                alerts.append(Alert("kpi", rule.metric,
                                    f"{rule.metric} = {value:.4g}, {change:+.1%} against the mean "
                                    f"{base:.4g} of the previous {len(before)} runs "
                                    f"(limit {rule.max_relative_change:.0%})",
                                    change, rule.max_relative_change, {"baseline": base}))
    return alerts


def drift_alerts(drift: dict[str, dict[str, float]], config: MonitoringConfig) -> list[Alert]:
    """An alert per feature whose PSI reaches ``psi_alert`` (drift: ``{table: {feature: psi}}``)."""
    return [Alert("drift", f"{table}.{feature}", f"{table}.{feature}: PSI {value:.3f} "
                  f"(alert at {config.psi_alert:g})", value, config.psi_alert)
            for table, features in drift.items() for feature, value in sorted(features.items())
            if value >= config.psi_alert]
