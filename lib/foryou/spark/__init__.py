"""The Spark session: reuse what the launcher made, otherwise start local mode with sane defaults."""
from __future__ import annotations

import os
import sys

from pyspark import SparkConf, SparkContext, StorageLevel
from pyspark.sql import DataFrame, SparkSession

from foryou.config import Config
from foryou.connectors import DELTA_EXTENSION, SESSION_CONFS, SESSION_JARS, ConnectorError, jars

# Confs the lake layer and the jobs rely on. They are defaults: a value set by
# spark-submit, a cluster policy or a notebook always wins.
def _defaults(config: Config, launcher: SparkConf | None = None) -> dict[str, str]:
    spark = config.spark
    return {
        "spark.master": spark.master,
        "spark.app.name": spark.app_name,
        "spark.sql.session.timeZone": "UTC",
        # The Delta bridge reads Parquet footers; INT96 timestamps have no usable stats.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.skewJoin.enabled": "true",
        "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
        "spark.ui.enabled": str(spark.ui).lower(),
        "spark.ui.showConsoleProgress": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.memory": "4g",
        # HotSpot never JIT-compiles a method over 8,000 bytes of bytecode, and Spark keeps
        # whole-stage code up to 65,535 by default, so a wide stage (the training examples' 60
        # columns and map lookups) ran in the JVM's bytecode interpreter. At 8000 Spark runs
        # such a stage without whole-stage codegen, as its tuning guide advises on HotSpot after
        # measuring. Measured: the examples of a 10M-event feature day took 92 s against 184 s,
        # the whole day 359 s against 451 s, the other tables unchanged (bench/features.py).
        "spark.sql.codegen.hugeMethodLimit": "8000",
        # Compiled code is cached by its source; the default 100 entries are fewer than one
        # feature day's stages, so each day compiled much of its code again (a quarter of a warm feature
        # day's time on the tests' tiny worlds; nothing at scale, where data dominates).
        "spark.sql.codegen.cache.maxEntries": "2000",
        **_delta_defaults(config, launcher),
        **_metastore_defaults(config),
        **spark.conf,
    }


def _with_session_jars(confs: dict[str, str], launcher: SparkConf | None) -> dict[str, str]:
    """``confs`` with the fetched :data:`~foryou.connectors.SESSION_JARS` (Spark's Kafka
    source) added to ``spark.jars``, so any session foryou starts can run ``foryou
    stream-ingest``. A launcher brings its own (``submit-args delta kafka``)."""
    if launcher is not None:
        return confs
    extra = [j for name in SESSION_JARS for j in jars(name)]
    if not extra:
        return confs
    listed = [j for j in confs.get("spark.jars", "").split(",") if j]
    return {**confs, "spark.jars": ",".join(listed + extra)}


def _delta_defaults(config: Config, launcher: SparkConf | None) -> dict[str, str]:
    """Delta's JARs, extension and catalog for ``lake.backend: native`` (``auto`` and
    ``bridge`` add nothing: a laptop session stays as plain as Spark's own). A launcher that
    set Delta's extension brought its JARs too (``--packages``) and is left alone."""
    if config.lake.backend != "native":
        return {}
    parallelism = str(config.spark.shuffle_partitions)
    tuning = {
        # Delta rebuilds a table's state from its log in this many tasks (default 50) and
        # VACUUM lists directories in parallelPartitionDiscovery tasks (default 10000): right
        # for a big cluster, minutes of empty tasks for each small table in local mode.
        "spark.databricks.delta.snapshotPartitions": parallelism,
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": parallelism,
    }
    if launcher is not None:
        if DELTA_EXTENSION in launcher.get("spark.sql.extensions", ""):
            return tuning
        # The driver JVM is already running: JARs named now would reach executors only.
        raise ConnectorError(
            "lake.backend=native under spark-submit needs Delta on its command line: "
            "$(python -m foryou.connectors submit-args delta), or --packages "
            "io.delta:delta-spark_4.2_2.13:4.4.0 with Delta's extension and catalog confs")
    found = jars("delta")
    if not found:
        raise ConnectorError(
            "lake.backend=native needs Delta's JARs, which are not fetched: run `make setup` "
            "(it fetches them from Maven Central), or launch with spark-submit --packages "
            "io.delta:delta-spark_4.2_2.13:4.4.0 and Delta's extension and catalog")
    return {"spark.jars": ",".join(found), **SESSION_CONFS["delta"], **tuning}


def _metastore_defaults(config: Config) -> dict[str, str]:
    """A local Hive metastore (Derby, under the lake root) for catalog mode (``lake.catalog``
    set): catalog tables outlive the session, so the next job finds them. Clusters and
    Databricks keep theirs: a launcher's settings win."""
    if not config.lake.catalog or "://" in config.lake.root.removeprefix("file://"):
        return {}
    root = os.path.abspath(config.lake.root.removeprefix("file://"))
    metastore = os.path.join(root, "_metastore")
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={metastore}/metastore_db;create=true",
        "spark.sql.warehouse.dir": os.path.join(root, "_warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={metastore}",
    }


def get_spark(config: Config | None = None) -> SparkSession:
    """Return the active SparkSession, or start one configured from ``config``.

    Under spark-submit, Databricks or a notebook the launcher's session (or its confs) are
    used unchanged: a key the launcher set is never overridden.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    config = config or Config()
    # Executors must run the same interpreter as the driver (the venv holding foryou).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder
    launched_by_spark_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    if launched_by_spark_submit:
        # Connect to spark-submit's JVM first so SparkConf sees what it set.
        SparkContext._ensure_initialized()
    launcher = SparkConf() if launched_by_spark_submit else None
    for key, value in _with_session_jars(_defaults(config, launcher), launcher).items():
        if launcher is None or not launcher.contains(key):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(config.spark.log_level)
    return spark


def keep_on_disk(df: DataFrame) -> DataFrame:
    """``df`` persisted on the executors' local disk, for a batch read several times that can
    hold the whole history (a first ingest or clean takes every record landed so far).

    Not the heap: 10^7 records cached ``MEMORY_AND_DISK`` ran a 4 GB driver out of memory,
    as Spark reads a spilled block back into the heap whole. The caller unpersists it.
    """
    return df.persist(StorageLevel.DISK_ONLY)
