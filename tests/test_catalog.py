"""Catalog mode: jobs and readers on catalog tables ``<catalog>.<layer>.<name>``.

With ``lake.catalog`` set the native backend writes catalog tables (here the session's Hive
metastore; Unity Catalog on Databricks), and every reader that does not go through Spark (the
ranker's loader, ``FeedReader``) finds a table's files through the lake, never by building
a path. Here the fed world's lake is registered in the catalog under locations of its own,
so a path built from ``lake.root`` would find nothing.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.lake import Lake
from foryou.ranking import example_files
from foryou.serving import FeedReader

from conftest import drop_catalog_tables, use_mode
from worlds import DATES


def _register(spark, path_lake: Lake, elsewhere: Path) -> None:
    """Move every table of ``path_lake`` under ``elsewhere`` and register it there as an
    external catalog table (the way a path lake is adopted into a catalog)."""
    for name in path_lake.tables():
        if not path_lake.exists(name):
            continue
        layer, short = name.split(".")
        target = elsewhere / layer / short
        shutil.move(path_lake.location(name), target)
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS spark_catalog.{layer}")
        spark.sql(f"CREATE TABLE spark_catalog.{layer}.{short} USING DELTA LOCATION '{target}'")


@pytest.mark.slow
def test_train_ranker_export_and_feed_reader_run_on_catalog_tables(spark, fed_world, tmp_path):
    config, path_lake = fed_world.copy(tmp_path / "root")
    elsewhere = tmp_path / "catalog-storage"
    for layer in ("bronze", "silver", "gold"):
        (elsewhere / layer).mkdir(parents=True)
    try:
        _register(spark, path_lake, elsewhere)
        lake = Lake(spark, use_mode(config, "catalog"))
        location = lake.location("gold.training_examples")
        assert location.startswith(str(elsewhere))
        assert all(f.startswith(str(elsewhere)) for f in example_files(lake, DATES))

        args = [*fed_world.args(Path(config.lake.root)), "--set", "lake.backend=native",
                "--set", "lake.catalog=spark_catalog"]
        run_date = str(DATES[-1])
        assert foryou(["train-ranker", "--run-date", run_date, "--force", "--baselines", "none",
                       "--set", "ranking.epochs=1", *args]) == 0
        before = lake.version("gold.user_candidates")
        assert foryou(["export", "--run-date", run_date, "--force", *args]) == 0
        assert lake.version("gold.user_candidates") == before + 1

        reader = FeedReader.from_lake(lake, refresh_interval_s=None)
        assert reader.version == before + 1 and reader.users > 0
        user = lake.read("gold.user_candidates").select("user_id").first()["user_id"]
        feed = reader.feed(user, n=5)
        assert [r["rank"] for r in feed] == list(range(1, len(feed) + 1))
        # Nothing was written at the paths lake.root would give.
        assert not (Path(config.lake.root) / "gold" / "user_candidates").exists()
        metrics = lake.read("gold.metrics").where(F.col("stage") == "export")
        assert metrics.where(F.col("name") == "seconds").count() >= 1
    finally:
        drop_catalog_tables(spark)
