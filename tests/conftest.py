"""Shared fixtures: one SparkSession for the whole run, a fresh lake root per test."""
from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

from foryou.config import Config, load_config  # noqa: E402
from foryou.spark import get_spark  # noqa: E402

TEST_SETTINGS = [
    "spark.master=local[2]",
    "spark.shuffle_partitions=2",
    "spark.ui=false",
    "spark.log_level=ERROR",
]


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The one SparkSession of the test run (local[2], two shuffle partitions, no UI)."""
    warehouse = tmp_path_factory.mktemp("warehouse")
    config = load_config(
        overrides=TEST_SETTINGS
        + [f"spark.conf={{spark.sql.warehouse.dir: '{warehouse}', spark.driver.memory: 2g}}"]
    )
    session = get_spark(config)
    yield session
    session.stop()


@pytest.fixture
def config(tmp_path) -> Config:
    """A test config whose lake root is a fresh temporary directory."""
    return load_config(overrides=TEST_SETTINGS + [f"lake.root={tmp_path / 'lake'}"])


@pytest.fixture(scope="session")
def gold_world(spark, tmp_path_factory):
    """A tiny synthetic world (120 users, 5 days) through features, built once per session.

    Use ``config, lake = gold_world.copy(tmp_path)`` for a private, writable copy of its lake;
    ``gold_world.truth`` holds the generator's ground truth (raw user ids).
    """
    from worlds import build

    return build(spark, tmp_path_factory.mktemp("gold_world"), TEST_SETTINGS)


@pytest.fixture(scope="session")
def fed_world(gold_world, tmp_path_factory):
    """The gold world taken on through embeddings, a short ranker training (a champion in its
    MLflow registry), candidates and the export for its last day, built once per session.

    ``config, lake = fed_world.copy(tmp_path)`` gives a private copy of its lake (the MLflow
    database is copied; the model artifacts it points to stay in the fixture's folder).
    """
    from worlds import build_fed

    return build_fed(gold_world, tmp_path_factory.mktemp("fed_world"))
