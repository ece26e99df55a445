"""The evaluation report renders its plots, notes absent inputs, and ``foryou evaluate`` writes it
from a run's tables."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re

import numpy as np
import pandas as pd

from foryou.cli import main as foryou
from foryou.evaluation import ranker, report
from foryou.lake import Lake
from foryou.runtime.metrics import Metrics

DAYS = [dt.date(2024, 5, d) for d in (1, 2, 3)]
IMG = re.compile(r'<img alt="([^"]+)"[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _full_data() -> report.ReportData:
    hist = pd.DataFrame({"run_date": DAYS * 2, "name": ["business.ctr"] * 3 + ["business.dau"] * 3,
                         "value": [0.3, 0.32, 0.31, 100, 110, 105]})
    return report.ReportData(
        run_date=DAYS[-1], business={"dau": 105.0, "ctr": 0.31, "retention_d7": None},
        metric_history=hist, ranker_scores={"auc.click": 0.71},
        calibration={"click": pd.DataFrame({"predicted": [0.1, 0.5, 0.9], "observed": [0.12, 0.45, 0.8],
                                            "count": [10, 10, 10]})},
        gates={"click": [0.5, 0.3, 0.2], "like": [0.1, 0.1, 0.8]},
        source_mix=pd.DataFrame({"table": ["gold.candidate_pool"] * 2 + ["gold.user_candidates"],
                                 "source": ["ann", "trending", "ann"], "items": [70, 30, 50]}),
        beyond_accuracy={"coverage": 0.4, "intra_list_diversity": 0.6},
        retention=pd.DataFrame({"lag": [1, 2], "rate": [0.6, 0.4]}),
        trends=pd.DataFrame({"kind": ["item"], "subject": ["i9"], "recent": [40.0], "baseline": [3.0],
                             "growth": [2.3], "z": [9.1]}),
        simulator=pd.DataFrame({"policy": ["oracle", "oracle_pool", "ranker_pool", "champion", "popularity",
                                           "random"],
                                "time_spent_s": [900.0, 600.0, 400.0, 300.0, 250.0, 100.0],
                                "time_spent_s_lo": [880.0, 580.0, 380.0, 280.0, 240.0, 90.0],
                                "time_spent_s_hi": [920.0, 620.0, 420.0, 320.0, 260.0, 110.0],
                                "return_rate": [0.8, 0.78, 0.75, 0.7, 0.6, 0.5],
                                "return_rate_lo": [0.75, 0.73, 0.7, 0.65, 0.55, 0.45],
                                "return_rate_hi": [0.85, 0.83, 0.8, 0.75, 0.65, 0.55],
                                "time_share": [1.0, 0.625, 0.375, 0.25, 0.1875, 0.0],
                                "return_share": [1.0, 0.93, 0.83, 0.67, 0.33, 0.0]}),
        simulator_days=pd.DataFrame([
            {"satiation": level, "strength": strength, "policy": policy, "days": 7,
             "time_spent_s": time, "time_vs_ref_s": time - champion, "time_vs_ref_s_lo": time - champion - 5,
             "time_vs_ref_s_hi": time - champion + 5}
            for level, strength, champion in (("none", 0.0, 300.0), ("default", 0.15, 290.0))
            for policy, time in (("oracle", 800.0), ("champion", champion), ("no_diversity", 295.0),
                                 ("random", 100.0))]),
        alerts=[{"kind": "drift", "subject": "gold.user_features.events", "message": "PSI 0.4"}],
        decision={"retrain": True, "reason": "features drifted"})


def test_report_renders_every_plot_as_an_embedded_png(tmp_path):
    path = report.write(_full_data(), tmp_path / "reports")
    assert path == tmp_path / "reports" / "report-2024-05-03.html"
    text = path.read_text()
    titles = [m.group(1) for m in IMG.finditer(text)]
    assert titles == ["Metric trends across runs", "Calibration curves", "Gate utilisation per task",
                      "Candidate source mix", "Diversity and coverage", "Retention curve",
                      "Feed simulator: champion against baselines", "Time spent over days by satiation"]
    for m in IMG.finditer(text):
        assert base64.b64decode(m.group(2))[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Skipped" not in text
    assert "champion" in text and "Decision: retrain." in text
    assert "Where the value is lost" in text and "rerank: the served export" in text
    assert "Diversity over days: when it pays" in text and "champion_minus_ablation_s" in text
    assert "src=\"http" not in text and "<link" not in text and "<script" not in text  # self-contained


def test_report_notes_absent_inputs_visibly(tmp_path):
    data = report.ReportData(run_date=DAYS[0], notes={"simulator": "no synthetic world truth at /lake/truth"})
    text = report.render(data)
    assert not IMG.search(text)
    assert text.count('class="skipped"') == 11
    # The simulator's sections (one day, the stage split, over days) all say why.
    assert text.count("Skipped: no synthetic world truth at /lake/truth") == 3


def test_ranker_metrics_parse_from_gold_metrics_rows():
    rows = pd.DataFrame({
        "run_date": [DAYS[0]] * 7, "stage": ["train-ranker"] * 7,
        "name": ["auc.click", "calibration.click", "calibration.like", "gate_utilisation.click",
                 "gate_utilisation.like.0", "unbiased.auc.click", "unbiased.popularity.auc.click"],
        "value": [0.7, 0.01, 0.02, None, 0.6, 0.8, 0.6],
        "detail": [None, json.dumps({"bins": [{"predicted": 0.1, "observed": 0.2, "count": 5}]}),
                   json.dumps({"mean_pred": [0.1, 0.2], "mean_label": [0.1, 0.3]}),
                   json.dumps({"experts": [0.25, 0.75]}), None, None, None]})
    # The ranker's own figures, on all held-out rows and on random exposures alone.
    assert ranker.scores(rows) == {"auc.click": 0.7, "unbiased.auc.click": 0.8}
    curves = ranker.calibration_curves(rows)
    assert curves["click"].to_dict("records") == [{"predicted": 0.1, "observed": 0.2, "count": 5}]
    assert list(curves["like"]["observed"]) == [0.1, 0.3]
    assert ranker.gate_utilisation(rows) == {"click": [0.25, 0.75], "like": [0.6]}


def _seed_lake(spark, lake: Lake) -> None:
    rng = np.random.default_rng(4)
    events, imps, sessions = [], [], []
    for d in DAYS:
        for u in range(30):
            if rng.random() < 0.3 and d != DAYS[-1]:
                continue
            user = f"u{u}"
            start = dt.datetime.combine(d, dt.time(12, u))
            events.append((f"{user}-{d}", "impression", user, start, "ing", "native", d))
            for p in range(5):
                click, like, follow = (int(rng.random() < q) for q in (0.5, 0.2, 0.05))
                imps.append((f"r-{user}-{d}", p, user, f"i{rng.integers(40)}", f"c{p}", start,
                             click, like, follow, int(click * rng.integers(1000, 30000)), True, d))
            sessions.append((f"s-{user}-{d}", user, start, start + dt.timedelta(minutes=5), 300.0, d))
    lake.append("silver.events", spark.createDataFrame(
        events, "event_id string, event_type string, user_id string, event_ts timestamp, "
                "ingest_id string, source string, event_date date"))
    lake.append("silver.impressions", spark.createDataFrame(
        imps, "request_id string, position int, user_id string, content_id string, creator_id string, "
              "event_ts timestamp, click int, like int, follow int, watch_ms bigint, "
              "has_impressions boolean, event_date date"))
    lake.append("silver.sessions", spark.createDataFrame(
        sessions, "session_id string, user_id string, session_start timestamp, session_end timestamp, "
                  "duration_s double, session_date date"))
    lake.append("gold.user_candidates", spark.createDataFrame(
        [(f"u{u}", r, f"i{r}", 1.0 / r, "ann" if r % 2 else "trending", "m1", dt.datetime(2024, 5, 3))
         for u in range(5) for r in range(1, 5)],
        "user_id string, rank int, content_id string, score double, source string, "
        "model_version string, generated_at timestamp"))
    ranker_run = Metrics("train-ranker-x", "train-ranker", DAYS[1])
    ranker_run.record("auc.click", 0.69, "ratio")
    ranker_run.record("calibration.click", 0.02, "ece",
                      bins=[{"predicted": p, "observed": p * 0.9, "count": 10} for p in (0.1, 0.4, 0.8)])
    ranker_run.record("gate_utilisation.click", None, "share", experts=[0.5, 0.5])
    ranker_run.record("seconds", 10.0, "s", status="succeeded")
    ranker_run.flush(spark, lake, None, False)
    earlier = Metrics("evaluate-x", "evaluate", DAYS[1])
    earlier.record("business.ctr", 0.45, "")
    earlier.flush(spark, lake, None, False)


def test_evaluate_job_writes_report_metrics_and_prometheus_file(spark, config, capsys):
    lake = Lake(spark, config)
    _seed_lake(spark, lake)
    code = foryou(["evaluate", "--run-date", str(DAYS[-1]), "--no-simulate",
                   "--set", f"lake.root={config.lake.root}"])
    assert code == 0
    out = capsys.readouterr().out
    path = re.search(r"report: (\S+)", out).group(1)
    text = open(path).read()
    titles = {m.group(1) for m in IMG.finditer(text)}
    assert {"Metric trends across runs", "Calibration curves", "Gate utilisation per task",
            "Candidate source mix", "Retention curve"} <= titles
    assert "Skipped: the simulator was not asked for" in text
    rows = lake.read("gold.metrics").where(f"run_date = '{DAYS[-1]}'").toPandas()
    values = dict(zip(rows["name"], rows["value"]))
    assert values["business.dau"] == 30                       # everyone is active on the last day
    assert 0 < values["business.ctr"] < 1
    expected = lake.read("silver.impressions").where(f"event_date = '{DAYS[-1]}'") \
        .selectExpr("avg(click)").first()[0]
    assert abs(values["business.ctr"] - expected) < 1e-9
    assert values["ranker.auc.click"] == 0.69
    assert values["source_mix.gold.user_candidates.ann"] == 10
    assert set(rows["stage"]) == {"evaluate", "monitor"}
    assert "retrain" in set(rows[rows["stage"] == "monitor"]["name"])
    prom = open(f"{config.lake.root}/monitoring/foryou.prom").read()
    assert 'foryou_kpi{name="ctr"}' in prom
    # The A/B job on the same logs: a hash split of one policy's users is an A/A test.
    assert foryou(["ab-test", "--run-date", str(DAYS[-1]), "--days", "3",
                   "--set", f"lake.root={config.lake.root}"]) == 0
    ab = lake.read("gold.metrics").where("stage = 'ab-test'").toPandas()
    effects = {n: json.loads(d) for n, d in zip(ab["name"], ab["detail"]) if n.startswith("effect.")}
    assert set(effects) == {"effect.ctr", "effect.engagement_rate", "effect.return_rate",
                            "effect.watch_s_per_user", "effect.time_spent_per_user_s"}
    ctr = effects["effect.ctr"]
    assert ctr["n_control"] + ctr["n_treatment"] == lake.read("silver.impressions").count()
    assert ctr["ci_low"] <= ctr["diff"] <= ctr["ci_high"] and 0 <= ctr["p_value"] <= 1


def test_benchmark_report_shows_the_holdout_table_alone(tmp_path):
    table = pd.DataFrame({"list": ["feed", "popularity", "cooccurrence", "als"],
                          "recall": [0.15, 0.07, 0.14, 0.08], "precision": [0.05, 0.02, 0.05, 0.03],
                          "ndcg": [0.11, 0.05, 0.11, 0.06], "map": [0.07, 0.03, 0.06, 0.03],
                          "users": [1067.0] * 4, "coverage": [0.3, 0.02, 0.4, 0.8]})
    path = report.write(report.ReportData(run_date=DAYS[0], title="foryou benchmark", holdout=table),
                        tmp_path, report.BENCHMARK_SECTIONS, stem="benchmark")
    assert path == tmp_path / f"benchmark-{DAYS[0]}.html"
    text = path.read_text()
    assert [m.group(1) for m in IMG.finditer(text)] == ["Hold-out nDCG@10"]
    assert "ndcg@10" in text and "cooccurrence" in text
    assert "Business metrics" not in text and "Skipped" not in text
    # A benchmark report without a table says so.
    assert "Skipped: no hold-out table" in report.render(report.ReportData(run_date=DAYS[0]),
                                                         report.BENCHMARK_SECTIONS)
