"""A user's own interaction log, with nothing else, from ingest to a feed.

The log (user, item, rating, timestamp; no text, tags, creators, impressions or sessions)
has users with one interaction, items seen once and a few events years before the rest, and
it ends two days before the run date, as a historical export does. One ingest and one
pipeline run from clean must reach gold.user_candidates for every user of the log and
evaluate, each stage that lacks an input saying so in one line.
"""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.config import load_config
from foryou.lake import Lake
from foryou.privacy.pseudonyms import load_key, with_pseudonyms
from foryou.world.interaction_log import LogShape, generate_log

COLUMNS = "user=userId,item=movieId,ts=timestamp,weight=rating"


@pytest.mark.slow
def test_an_interaction_log_runs_every_stage_to_a_feed_for_every_user(spark, tmp_path, capsys):
    log = generate_log(LogShape(users=120, items=150, recent_days=8, old_years=3, old_share=0.3,
                                single_users=4, seed=3))
    path = log.write_csv(tmp_path / "ratings.csv", names=("userId", "movieId", "rating", "timestamp"))
    first = dt.datetime.fromtimestamp(min(r[3] for r in log.rows), dt.timezone.utc).date()
    assert (log.last_day() - first).days > 365  # a timestamp range of years
    run_date = log.last_day() + dt.timedelta(days=2)
    sets = [f"lake.root={tmp_path / 'lake'}", "features.history_days=3"]
    args = [a for s in sets for a in ("--set", s)]

    assert foryou(["ingest", "--format", "interactions", "--path", str(path), "--columns", COLUMNS,
                   "--ts-unit", "s", "--run-date", str(run_date), *args]) == 0
    assert foryou(["pipeline", "--run-date", str(run_date), "--from", "clean", *args]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out
    for stage in ("clean", "impressions", "sessionize", "features", "train-embeddings",
                  "train-ranker", "build-candidates", "export", "evaluate"):
        assert f"{stage:<18}done" in out, stage
    # What is absent is said once, in one line each.
    assert out.count("no item catalogue (silver.content is empty)") == 1
    assert "ANN from ALS only" in out
    assert "history: this run's events reach back to" in out

    config = load_config(overrides=sets)
    lake = Lake(spark, config)
    # Nothing lost: every row is one view, and one like per rating of 4 or more.
    events = lake.read("silver.events")
    likes = sum(1 for r in log.rows if r[2] >= 4)
    assert events.where(F.col("event_type") == "view").count() == len(log.rows)
    assert events.where(F.col("event_type") == "like").count() == likes
    assert lake.read("bronze.quarantine").count() == 0
    # Views of unknown length are real views: nobody looks like an engagement farm.
    assert lake.read("gold.user_features", partitions=[run_date]).where("suspected_bot").count() == 0

    # The ranker trained on the history's last event dates (train, validation, test).
    examples = lake.read("gold.training_examples")
    assert examples.select("event_date").distinct().count() == 3
    assert examples.where(F.col("sampled_negative")).count() > 0
    export = lake.read("gold.user_candidates")
    assert export.select("model_version").distinct().first()[0] != "pool-order"

    # Every user of the log gets a feed.
    raw = spark.createDataFrame([(u,) for u in log.user_cluster], ["user_id"])
    users = with_pseudonyms(raw, ["user_id"], load_key(config, spark).value)
    assert users.join(export, "user_id", "left_anti").count() == 0
    assert export.groupBy("user_id").count().agg(F.min("count")).first()[0] >= 10
