"""A user's own interaction log, with nothing else, from ingest to a feed and its quality.

The log (user, item, rating, timestamp; no text, tags, creators, impressions or sessions)
has users with one interaction, items seen once and a few events years before the rest.
``foryou benchmark`` holds out its last days, and on the rest runs README "Your data"'s two
commands (one ingest, one pipeline run from clean) in a lake of its own: every stage must
reach gold.user_candidates for every user and evaluate, each stage that lacks an input saying
so in one line; then the feed and three baselines are scored on the held-out days.

A KuaiRand log (``tests/data/kuairand``, KuaiRand-Pure's layout) runs the same two commands
with impressions, watch time and side tables, and its random exposures reach train-ranker's
unbiased figures.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.config import load_config
from foryou.lake import Lake
from foryou.privacy.pseudonyms import load_key, with_pseudonyms
from foryou.ranking import registry
from foryou.world.interaction_log import LogShape, generate_log

COLUMNS = "user=userId,item=movieId,ts=timestamp,weight=rating"


@pytest.mark.slow
def test_an_interaction_log_runs_every_stage_to_a_feed_scored_on_held_out_days(spark, tmp_path, capsys):
    log = generate_log(LogShape(users=120, items=150, recent_days=8, old_years=3, old_share=0.3,
                                single_users=4, seed=3))
    path = log.write_csv(tmp_path / "ratings.csv", names=("userId", "movieId", "rating", "timestamp"))
    first = dt.datetime.fromtimestamp(min(r[3] for r in log.rows), dt.timezone.utc).date()
    assert (log.last_day() - first).days > 365  # a timestamp range of years
    run_date = log.last_day() - dt.timedelta(days=2)          # hold out the last three days
    sets = [f"lake.root={tmp_path / 'lake'}", "features.history_days=3"]
    args = [a for s in sets for a in ("--set", s)]

    assert foryou(["benchmark", "--run-date", str(run_date), "--path", str(path), "--columns", COLUMNS,
                   "--ts-unit", "s", "--k", "10", *args]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out
    for stage in ("clean", "impressions", "sessionize", "features", "train-embeddings",
                  "train-ranker", "build-candidates", "export", "evaluate"):
        assert f"{stage:<18}done" in out, stage
    # What is absent is said once, in one line each.
    assert out.count("no item catalogue (silver.content is empty)") == 1
    assert "ANN from ALS only" in out
    assert "history: this run's events reach back to" in out

    # The protocol's table: every list on the same users, figures in [0, 1], also in gold.metrics.
    lake_root = tmp_path / "lake"
    [table_file] = (lake_root / "_benchmark" / str(run_date)).glob("holdout-*.csv")
    page = lake_root / "_benchmark" / str(run_date) / "reports" / f"benchmark-{run_date}.html"
    assert f"  report: {page}" in out and "Hold-out nDCG@10" in page.read_text()
    table = pd.read_csv(table_file).set_index("list")
    assert list(table.index) == ["feed", "popularity", "cooccurrence", "als"]
    assert table["users"].nunique() == 1 and table["users"].iloc[0] > 20
    assert ((table.filter(like="@10") >= 0) & (table.filter(like="@10") <= 1)).all().all()
    assert table.loc["feed", "recall@10"] > 0 and table.loc["cooccurrence", "recall@10"] > 0
    main = Lake(spark, load_config(overrides=sets))
    recorded = main.read("gold.metrics").where(F.col("name").startswith("holdout.")).count()
    assert recorded == 4 * 5

    train_end = dt.datetime.combine(run_date, dt.time(), dt.timezone.utc).timestamp()
    train_rows = [r for r in log.rows if r[3] < train_end]
    sets = [f"lake.root={lake_root / '_benchmark' / str(run_date)}"]
    config = load_config(overrides=sets)
    lake = Lake(spark, config)
    # Nothing lost: every row is one view, and one like per rating of 4 or more.
    events = lake.read("silver.events")
    likes = sum(1 for r in train_rows if r[2] >= 4)
    assert events.where(F.col("event_type") == "view").count() == len(train_rows)
    assert events.where(F.col("event_type") == "like").count() == likes
    assert lake.read("bronze.quarantine").count() == 0
    # Views of unknown length are real views: nobody looks like an engagement farm.
    assert lake.read("gold.user_features", partitions=[run_date]).where("suspected_bot").count() == 0

    # The ranker trained on the history's last event dates (train, validation, test).
    examples = lake.read("gold.training_examples")
    assert examples.select("event_date").distinct().count() == 3
    assert examples.where(F.col("sampled_negative")).count() > 0
    registry.configure(config)
    assert registry.champion_version(config) is not None
    # An interaction log's pool: co-occurrence over histories, then ALS (no sessions, trends
    # or uploads to draw on); its order is the feed's (a ranker of sampled negatives scored
    # below it in bench/offline.py).
    assert "no served impressions (an interaction log)" in out
    pool = lake.read("gold.candidate_pool", partitions=[run_date])
    assert {r[0] for r in pool.select("source").distinct().collect()} <= {"covisit", "ann", "fallback"}
    assert pool.where(F.col("source") == "covisit").count() > 0
    export = lake.read("gold.user_candidates")
    assert export.select("model_version").distinct().first()[0] == "pool-order"
    assert "export: an interaction log (no served impressions)" in out

    # Every user of the train part gets a feed.
    raw = spark.createDataFrame([(u,) for u in {r[0] for r in train_rows}], ["user_id"])
    users = with_pseudonyms(raw, ["user_id"], load_key(config.privacy, spark).value)
    assert users.join(export, "user_id", "left_anti").count() == 0
    assert export.groupBy("user_id").count().agg(F.min("count")).first()[0] >= 10


KUAIRAND_SAMPLE = Path(__file__).resolve().parent / "data" / "kuairand"


@pytest.mark.slow
def test_a_kuairand_log_runs_to_a_feed_and_its_random_exposures_are_an_unbiased_test_set(
        spark, tmp_path, capsys):
    """KuaiRand's two logs (``log_standard_*``: the app's policy; ``log_random_*``: videos shown
    uniformly at random) with its user and video tables, as README "Your data" runs them."""
    run_date = "2022-05-08"
    sets = [f"lake.root={tmp_path / 'lake'}", "features.history_days=3"]
    args = [a for s in sets for a in ("--set", s)]
    assert foryou(["ingest", "--format", "kuairand", "--path", str(KUAIRAND_SAMPLE),
                   "--run-date", run_date, *args]) == 0
    assert foryou(["pipeline", "--run-date", run_date, "--from", "clean", *args]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out
    for stage in ("clean", "impressions", "features", "train-ranker", "build-candidates",
                  "export", "evaluate"):
        assert f"{stage:<18}done" in out, stage

    config = load_config(overrides=sets)
    lake = Lake(spark, config)
    # Every log row is one impression; the random log's keep their exposure to the end.
    logs = {name: pd.read_csv(KUAIRAND_SAMPLE / f"log_{name}_4_22_to_5_08_pure.csv")
            for name in ("standard", "random")}
    impressions = lake.read("silver.impressions")
    by_exposure = {r[0]: r[1] for r in impressions.groupBy("exposure").count().collect()}
    assert by_exposure == {"policy": len(logs["standard"]), "random": len(logs["random"])}
    assert lake.read("bronze.quarantine").count() == 0
    examples = lake.read("gold.training_examples")
    assert examples.where(F.col("exposure") == "random").count() > 0

    # train-ranker scores the test day's random exposures on their own, beside the same rows'
    # baselines, and records them as unbiased.*.
    assert "random exposures only (unbiased" in out
    metrics = {r.name: r.value for r in lake.read("gold.metrics")
               .where((F.col("stage") == "train-ranker") & F.col("name").startswith("unbiased."))
               .collect()}
    test_day = dt.date.fromisoformat(run_date)
    random_test_rows = logs["random"][logs["random"]["date"] == int(test_day.strftime("%Y%m%d"))]
    assert len(random_test_rows) > 0
    assert 0 <= metrics["unbiased.auc.click"] <= 1
    assert "unbiased.popularity.auc.click" in metrics

    # Every user of the log gets a feed.
    export = lake.read("gold.user_candidates")
    assert export.select("user_id").distinct().count() == logs["standard"]["user_id"].nunique()
