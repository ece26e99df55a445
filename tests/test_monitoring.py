"""Monitoring: freshness and row-count anomalies, PSI drift alerts, KPI rules, the retrain
decision and the Prometheus textfile."""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from foryou.config.monitoring import KpiRule, MonitoringConfig
from foryou.lake import Lake
from foryou.monitoring.alerts import Alert, Gauge, prometheus_text, write_textfile
from foryou.monitoring.checks import freshness, kpi_alerts, rowcount_anomalies, rows_per_run
from foryou.monitoring.decision import retrain_decision
from foryou.monitoring.monitor import gauges, prometheus_path, publish, run_monitoring
from foryou.runtime.metrics import Metrics

DAY = dt.date(2024, 5, 10)
PREV = DAY - dt.timedelta(days=1)
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                    r'(-?[0-9.e+-]+|NaN|[+-]Inf)$')


def _features(spark, day, shift: float, n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    pdf = pd.DataFrame({"user_id": [f"u{i}" for i in range(n)],
                        "events": rng.poisson(20 + 20 * shift, n).astype("int64"),
                        "engagement": rng.gamma(2.0, 3.0, n),
                        "as_of_date": [day] * n})
    schema = "user_id string, events bigint, engagement double, as_of_date date"
    return spark.createDataFrame(pdf, schema)


@pytest.fixture
def drift_lake(spark, config):
    lake = Lake(spark, config)
    lake.append("gold.user_features", _features(spark, PREV, 0.0, seed=1))
    lake.append("gold.user_features", _features(spark, DAY, 1.0, seed=2))   # events doubled
    return lake


def test_freshness_alerts_only_on_a_stale_table(drift_lake):
    tables = ["gold.user_features", "silver.events"]       # silver.events does not exist: skipped
    ages, alerts = freshness(drift_lake, tables, 36.0)
    assert set(ages) == {"gold.user_features"} and ages["gold.user_features"] < 1.0
    assert alerts == []
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=48)
    ages, alerts = freshness(drift_lake, tables, 36.0, now=later)
    assert [a.subject for a in alerts] == ["gold.user_features"]
    assert "36" in alerts[0].message and ages["gold.user_features"] > 47


def test_rowcount_anomaly_detects_a_drop_and_ignores_noise():
    base = [1000, 1030, 980, 1010, 995]
    dates = [DAY - dt.timedelta(days=len(base) - i) for i in range(len(base))]
    history = pd.DataFrame({"run_date": dates * 2 + [DAY, DAY, DAY],
                            "name": ["rows_written.silver.events"] * 5 + ["rows_written.gold.x"] * 5
                            + ["rows_written.silver.events", "rows_written.gold.x", "rows_written.gold.x"],
                            "value": base + base + [120.0, 600.0, 405.0]})
    counts = rows_per_run(history)
    assert counts[(counts["table"] == "gold.x") & (counts["run_date"] == DAY)]["rows"].iloc[0] == 1005
    scores, alerts = rowcount_anomalies(counts, DAY, z_limit=4.0, min_history=3)
    assert [a.subject for a in alerts] == ["silver.events"]
    assert abs(scores["gold.x"]) < 1
    # Too little history says nothing.
    _, alerts = rowcount_anomalies(counts, DAY, z_limit=4.0, min_history=10)
    assert alerts == []
    zero = pd.DataFrame({"table": ["t"] * 4, "run_date": dates[-3:] + [DAY], "rows": [50, 50, 50, 0]})
    _, alerts = rowcount_anomalies(zero, DAY, 4.0, 3)
    assert len(alerts) == 1 and "no rows" in alerts[0].message


def test_kpi_rules_fire_on_degradation_and_bounds():
    runs = [DAY - dt.timedelta(days=i) for i in (3, 2, 1, 0)]
    history = pd.DataFrame({"run_date": runs * 2, "name": ["business.ctr"] * 4 + ["business.dau"] * 4,
                            "value": [0.30, 0.31, 0.29, 0.20, 100, 101, 99, 98]})
    rules = [KpiRule(metric="business.ctr", max_relative_change=0.2),
             KpiRule(metric="business.dau", max_relative_change=0.2, min=99.0),
             KpiRule(metric="business.missing", min=1.0)]
    alerts = kpi_alerts(history, rules, DAY)
    messages = sorted(a.message for a in alerts)
    assert len(alerts) == 2, messages
    assert any("business.ctr" in m and "-33" in m for m in messages)
    assert any("business.dau" in m and "below 99" in m for m in messages)


def test_psi_drift_alert_and_retrain_decision(drift_lake):
    cfg = MonitoringConfig(freshness_tables=["gold.user_features"],
                           drift_tables=["gold.user_features"])
    history = pd.DataFrame({"run_date": [PREV], "stage": ["train-ranker"], "name": ["seconds"],
                            "value": [3.0], "unit": ["s"], "detail": ['{"status": "succeeded"}'],
                            "run_id": ["r"], "recorded_at": [None]})
    result = run_monitoring(drift_lake, cfg, [], DAY, history)
    assert result.drift_reference == {"gold.user_features": str(PREV)}
    psi = result.drift["gold.user_features"]
    assert psi["events"] > 0.25 and psi["engagement"] < 0.1
    drift = [a for a in result.alerts if a.kind == "drift"]
    assert [a.subject for a in drift] == ["gold.user_features.events"]
    assert result.decision.retrain and "gold.user_features.events" in result.decision.reason


def test_retrain_decision_reasons():
    mon = MonitoringConfig()
    quiet = retrain_decision([], {"t": {"f": 0.01}}, DAY, DAY, mon)
    assert not quiet.retrain and "no drift" in quiet.reason
    old = retrain_decision([], {}, DAY - dt.timedelta(days=30), DAY, mon)
    assert old.retrain and "30 days old" in old.reason
    assert retrain_decision([], {}, None, DAY, mon).retrain
    stale = Alert("freshness", "silver.events", "stale")
    blocked = retrain_decision([stale], {"t": {"f": 0.9}}, DAY, DAY, mon)
    assert not blocked.retrain and blocked.blocked and "silver.events" in blocked.reason


def test_prometheus_file_format_and_atomic_write(drift_lake, tmp_path):
    cfg = MonitoringConfig(freshness_tables=["gold.user_features"],
                           drift_tables=["gold.user_features"])
    result = run_monitoring(drift_lake, cfg, [], DAY, pd.DataFrame(
        columns=["run_date", "stage", "name", "value", "unit", "detail", "run_id", "recorded_at"]))
    metrics = Metrics("run-1", "monitor", DAY)
    path = prometheus_path(drift_lake.settings.root, cfg)
    assert path == tmp_path / "lake" / "monitoring" / "foryou.prom"
    publish(result, metrics, {"ctr": 0.25, "dau": None}, path)
    text = path.read_text()
    names = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name = line.split()[1:3]
            names.setdefault(name, []).append(kind)
            continue
        assert SAMPLE.match(line), line
        assert line.split("{")[0].split(" ")[0] in names, line
    assert all(kinds == ["HELP", "TYPE"] for kinds in names.values()), names
    assert 'foryou_feature_psi{feature="events",table="gold.user_features"}' in text
    assert 'foryou_alert{kind="drift",subject="gold.user_features.events"} 1.0' in text
    assert "foryou_retrain_recommended 1.0" in text        # no ranker yet + drift
    assert 'foryou_kpi{name="ctr"} 0.25' in text and 'name="dau"' not in text
    assert sorted(p.name for p in path.parent.iterdir()) == ["foryou.prom"]   # no temp file left
    # The same result as gold.metrics rows: one per alert, unique names.
    names = [r["name"] for r in metrics.rows]
    assert len(names) == len(set(names))
    assert "alert.drift.gold.user_features.events" in names and "retrain" in names
    metrics.flush(drift_lake.spark, drift_lake, None, False)
    stored = drift_lake.read("gold.metrics").where("stage = 'monitor'").count()
    assert stored == len(names)


def test_prometheus_label_escaping(tmp_path):
    text = prometheus_text([Gauge("m", 1, {"a": 'x"y\\z\nw'}, "help")])
    assert 'm{a="x\\"y\\\\z\\nw"} 1.0' in text
    path = write_textfile(tmp_path / "p" / "f.prom", [Gauge("m", float("nan"))])
    assert path.read_text().splitlines()[-1] == "m NaN"
