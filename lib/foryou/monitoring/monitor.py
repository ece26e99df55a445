"""Every monitoring check for one run date, and where its results go."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from foryou.config.monitoring import KpiRule, MonitoringConfig
from foryou.lake import Lake
from foryou.monitoring.alerts import Alert, Gauge, record_alerts, write_textfile
from foryou.monitoring.checks import (drift_alerts, freshness, kpi_alerts, rowcount_anomalies,
                                      rows_per_run)
from foryou.monitoring.decision import Decision, retrain_decision
from foryou.monitoring.drift import table_drift
from foryou.runtime.metrics import Metrics

RANKER_STAGE = "train-ranker"


@dataclass
class MonitorResult:
    """What the checks found for a run date."""

    run_date: dt.date
    ages_h: dict[str, float] = field(default_factory=dict)
    rowcount_z: dict[str, float] = field(default_factory=dict)
    drift: dict[str, dict[str, float]] = field(default_factory=dict)
    drift_reference: dict[str, str] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    decision: Decision | None = None


def prometheus_path(lake_root: str, config: MonitoringConfig) -> Path:
    """``monitoring.prometheus_file``, else ``<lake.root>/monitoring/foryou.prom``."""
    if config.prometheus_file:
        return Path(config.prometheus_file)
    root = lake_root[len("file://"):] if lake_root.startswith("file://") else lake_root
    return Path(root) / "monitoring" / "foryou.prom"


def last_trained(history: pd.DataFrame, run_date: dt.date) -> dt.date | None:
    """The latest run date (<= run_date) with a succeeded train-ranker run in ``history``."""
    runs = history[(history["stage"] == RANKER_STAGE) & (history["name"] == "seconds")
                   & (history["run_date"] <= run_date)]
    runs = runs[~runs["detail"].fillna("").str.contains('"status": "failed"')]
    return None if runs.empty else max(runs["run_date"])


def run_monitoring(lake: Lake, mon: MonitoringConfig, kpi_rules: list[KpiRule],
                   run_date: dt.date, history: pd.DataFrame,
                   now: dt.datetime | None = None) -> MonitorResult:
    """Freshness, row counts, drift and KPI rules for ``run_date``, then the retrain decision.

    Args:
        mon: ``evaluation.monitoring``; kpi_rules: ``evaluation.kpi_rules``.
        history: gold.metrics rows of the recent run dates (:func:`metric_history`), with this
            run's evaluate metrics already in it (the KPI rules read them).
    """
    result = MonitorResult(run_date)
    result.ages_h, alerts = freshness(lake, mon.freshness_tables, mon.freshness_hours, now)
    result.alerts += alerts
    result.rowcount_z, alerts = rowcount_anomalies(rows_per_run(history), run_date,
                                                   mon.rowcount_z, mon.rowcount_min_history)
    result.alerts += alerts
    for table in mon.drift_tables:
        prev, psi = table_drift(lake, table, run_date, mon.psi_bins)
        if psi:
            result.drift[table] = psi
            result.drift_reference[table] = str(prev)
    result.alerts += drift_alerts(result.drift, mon)
    result.alerts += kpi_alerts(history[history["stage"] == "evaluate"], kpi_rules, run_date)
    result.decision = retrain_decision(result.alerts, result.drift, last_trained(history, run_date),
                                       run_date, mon)
    return result


def record(result: MonitorResult, metrics: Metrics) -> None:
    """The checks' figures, alerts and decision as ``gold.metrics`` rows (stage monitor)."""
    for table, age in result.ages_h.items():
        metrics.record(f"freshness_hours.{table}", age, "h")
    for table, z in result.rowcount_z.items():
        metrics.record(f"rowcount_z.{table}", z, "z")
    for table, features in result.drift.items():
        for feature, value in features.items():
            metrics.record(f"psi.{table}.{feature}", value, "psi",
                           reference=result.drift_reference.get(table))
    record_alerts(metrics, result.alerts)
    metrics.record("alerts", len(result.alerts), "alerts")
    d = result.decision
    metrics.record("retrain", int(d.retrain), "bool", reason=d.reason, blocked=d.blocked)


def gauges(result: MonitorResult, kpis: dict[str, float | None]) -> list[Gauge]:
    """The Prometheus samples of a monitoring run (and the run's KPI values)."""
    out = [Gauge("foryou_monitor_run_date_seconds",
                 dt.datetime.combine(result.run_date, dt.time(), dt.timezone.utc).timestamp(),
                 help="Run date the monitoring figures are for (unix time of its midnight UTC)"),
           Gauge("foryou_alerts", len(result.alerts), help="Alerts firing for the run date")]
    out += [Gauge("foryou_alert", 1, {"kind": a.kind, "subject": a.subject},
                  "One firing alert by kind and subject") for a in result.alerts]
    out += [Gauge("foryou_table_age_hours", age, {"table": t}, "Hours since the table's last commit")
            for t, age in result.ages_h.items()]
    out += [Gauge("foryou_rowcount_z", z, {"table": t},
                  "Robust z-score of the rows written for the run date") for t, z in result.rowcount_z.items()]
    out += [Gauge("foryou_feature_psi", v, {"table": t, "feature": f},
                  "PSI of a feature against the previous as_of_date")
            for t, feats in result.drift.items() for f, v in sorted(feats.items())]
    out += [Gauge("foryou_kpi", v, {"name": k}, "Business KPI of the run date")
            for k, v in sorted(kpis.items()) if v is not None]
    if result.decision is not None:
        out.append(Gauge("foryou_retrain_recommended", int(result.decision.retrain),
                         help="1 when monitoring recommends retraining the ranker"))
    return out


def publish(result: MonitorResult, metrics: Metrics, kpis: dict[str, float | None],
            path: Path) -> Path:
    """Record the result in ``metrics`` and write the Prometheus textfile at ``path``."""
    record(result, metrics)
    return write_textfile(path, gauges(result, kpis))
