"""Shared fixtures: one SparkSession for the whole run, a fresh lake root per test."""
from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# The shared session has Delta, where `auto` would choose native; a job a test runs through
# the CLI uses the bridge unless the test says otherwise (--set lake.backend=...).
os.environ.setdefault("FORYOU_LAKE_BACKEND", "bridge")
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
# The lake's modes: the bridge, native Delta on path tables, native Delta on catalog tables.
LAKE_MODES = ("bridge", "native", "catalog")
LAYERS = ("bronze", "silver", "gold")


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The one SparkSession of the test run (local[2], two shuffle partitions, no UI).

    It is started as ``lake.backend=native`` with ``lake.catalog`` set, so it carries Delta's
    JARs, extension and catalog and a Hive metastore in a temporary folder: one session serves
    the bridge (which never touches Delta's JVM side), the native backend and catalog mode.
    The bridge without Delta's JARs runs under spark-submit in test_cluster and test_jobs.
    """
    root = tmp_path_factory.mktemp("session")
    config = load_config(overrides=TEST_SETTINGS + [
        "lake.backend=native", "lake.catalog=spark_catalog", f"lake.root={root}",
        # A whole suite in one JVM: keep what Spark and Delta retain across tests bounded
        # (job and SQL history, the DeltaLog cache of every test's tables), and give the heap
        # room. At 2g the heap filled near the end of the suite, and an OutOfMemoryError in
        # toPandas' Arrow serving thread left the driver waiting forever.
        "spark.conf={spark.driver.memory: 4g, spark.ui.retainedJobs: '100', "
        "spark.ui.retainedStages: '100', spark.ui.retainedTasks: '2000', "
        "spark.sql.ui.retainedExecutions: '50', spark.databricks.delta.delta.log.cacheSize: '64'}"])
    session = get_spark(config)
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def _release_cached_frames():
    """After each test module, drop what it left cached in the shared session (a frame a
    test persisted and a failure kept from unpersisting would otherwise hold heap and plans
    for the rest of the run). Starts nothing: a module without Spark has nothing to drop."""
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.catalog.clearCache()


@pytest.fixture
def config(tmp_path) -> Config:
    """A test config (bridge backend) whose lake root is a fresh temporary directory."""
    return load_config(overrides=TEST_SETTINGS + [f"lake.root={tmp_path / 'lake'}"])


def use_mode(config: Config, mode: str) -> Config:
    """``config`` switched to one of :data:`LAKE_MODES` (in place; returned for chaining)."""
    config.lake.backend = "bridge" if mode == "bridge" else "native"
    config.lake.catalog = "spark_catalog" if mode == "catalog" else None
    return config


def mode_args(config: Config) -> list[str]:
    """The ``--set`` arguments a CLI run needs to use ``config``'s lake backend and catalog."""
    args = ["--set", f"lake.backend={config.lake.backend}"]
    if config.lake.catalog:
        args += ["--set", f"lake.catalog={config.lake.catalog}"]
    return args


def drop_catalog_tables(spark) -> None:
    """Drop the layers' schemas (and their tables) from the session's metastore: catalog-mode
    tests share the session's one metastore, and each starts on a fresh lake root."""
    for layer in LAYERS:
        spark.sql(f"DROP SCHEMA IF EXISTS spark_catalog.{layer} CASCADE")


@pytest.fixture(params=LAKE_MODES)
def lake_mode(request, spark, config) -> str:
    """Each lake mode in turn: ``config`` is switched to it, and catalog tables are dropped
    after the test."""
    use_mode(config, request.param)
    yield request.param
    if request.param == "catalog":
        drop_catalog_tables(spark)


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
