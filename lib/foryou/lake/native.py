"""Native Delta: the session has Delta's extension (a cluster with delta-spark, Databricks,
or a local session started with ``lake.backend: native``).

Writes use ``format("delta")`` with Delta's own idempotent-write options (``txnAppId`` /
``txnVersion``, recorded as a ``txn`` action exactly as the bridge records it), ``replaceWhere``
for partition replacement and ``MERGE INTO`` for insert-only-new-keys (with the same keys as
session confs). Delta's optimistic concurrency replaces the bridge's file lock: a write that
loses a conflict is retried on the new snapshot a few times, then refused.

Tables are path tables ``<root>/<layer>/<name>`` or, with ``lake.catalog`` set, catalog
tables ``<catalog>.<layer>.<name>``; either way a table is created with deletion vectors off
so it stays at reader 1 / writer 2, readable by delta-rs, polars and ``FeedReader``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
from typing import Iterator

from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from foryou.connectors import DELTA_EXTENSION
from foryou.lake.catalog import TableSpec
from foryou.lake.errors import (
    ConcurrentWriteError,
    LakeError,
    PartitionMismatch,
    TableNotFound,
    vacuumed_version_message,
)
from foryou.lake.expiry import LOG_DIR, NO_RETENTION, RETENTION_PROPERTY, entries_before
from foryou.lake.history import KEY_FIELD, Commit, commit_from_spark
from foryou.lake.keys import CommitKey, TableInfo, WriteResult
from foryou.lake.snapshot import Snapshot, local_path, snapshot_from_uris

# Where Delta's log classes live: open source Delta, and the Databricks runtime's own build.
DELTA_LOG_CLASSES = ("org.apache.spark.sql.delta.DeltaLog",
                     "com.databricks.sql.transaction.tahoe.DeltaLog")
# Session confs that make a SQL command (MERGE) idempotent, as the writer options do for writes.
TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
# MERGE adds the source's columns the target lacks (Delta's schema evolution for MERGE).
AUTO_MERGE = "spark.databricks.delta.schema.autoMerge.enabled"
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"
# Delta refuses a VACUUM below the table's deleted-file retention (default 7 days) unless told.
DEFAULT_RETENTION_HOURS = 168
# Every table foryou creates: no deletion vectors, so readers without them (delta-rs, polars,
# FeedReader, the ranker's loader reading Parquet files directly) see exactly the live rows.
CREATE_PROPERTIES = {"delta.enableDeletionVectors": "false"}
CONFLICT_RETRIES = 3


def _sql_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _is_conflict(exc: Exception) -> bool:
    """Delta's optimistic-concurrency failures (ConcurrentAppendException and its siblings)."""
    text = f"{type(exc).__name__} {exc}"
    return "Concurrent" in text or "DELTA_CONCURRENT" in text


class NativeBackend:
    """Delta tables through Spark's Delta data source."""

    name = "native"

    def __init__(self, spark: SparkSession, root: str, catalog: str | None = None):
        if not session_has_delta(spark):
            raise LakeError(
                "lake.backend=native, but this Spark session has no Delta: its "
                f"spark.sql.extensions lacks {DELTA_EXTENSION}. Start foryou's own session "
                "with lake.backend=native (after `make setup`), or launch with Delta's package, "
                "extension and catalog; or use lake.backend=bridge")
        self.spark = spark
        self.root = _absolute(spark, root).rstrip("/")
        self.catalog = catalog

    # -- names and locations -----------------------------------------------------------
    def _path(self, spec: TableSpec) -> str:
        return f"{self.root}/{spec.layer}/{spec.short_name}"

    def _ident(self, spec: TableSpec) -> str:
        if self.catalog:
            return ".".join(_quote(p) for p in (self.catalog, spec.layer, spec.short_name))
        return f"delta.{_quote(self._path(spec))}"

    def location(self, spec: TableSpec) -> str:
        """Where the table's files are: its path, or for a catalog table what the catalog says."""
        if self.catalog and self.exists(spec):
            return local_path(self.spark.sql(f"DESCRIBE DETAIL {self._ident(spec)}").first()["location"])
        return self._path(spec)

    def exists(self, spec: TableSpec) -> bool:
        if self.catalog:
            return self.spark.catalog.tableExists(
                f"{self.catalog}.{spec.layer}.{spec.short_name}")
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self._path(spec))

    def _ensure_schema(self, spec: TableSpec) -> None:
        """Catalog mode: the layer's schema. In the session catalog (a Hive metastore) it is
        placed at ``<root>/<layer>`` so tables keep the lake's layout; in another catalog
        (Unity Catalog) the catalog's managed storage decides."""
        if not self.catalog:
            return
        schema = f"{_quote(self.catalog)}.{_quote(spec.layer)}"
        where = (f" LOCATION {_sql_literal(f'{self.root}/{spec.layer}')}"
                 if self.catalog == "spark_catalog" else "")
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}{where}")

    # -- reads -----------------------------------------------------------------------
    def version(self, spec: TableSpec) -> int | None:
        if not self.exists(spec):
            return None
        return int(self._log_snapshot(spec).version())

    def table_schema(self, spec: TableSpec) -> StructType | None:
        return self.spark.table(self._ident(spec)).schema if self.exists(spec) else None

    def _require(self, spec: TableSpec) -> None:
        if not self.exists(spec):
            raise TableNotFound(f"{spec.name}: no Delta table at {self._ident(spec)}")

    def read(self, spec: TableSpec, version: int | None = None,
             partitions: dict[str, list[str]] | None = None) -> DataFrame:
        self._require(spec)
        if version is not None:
            self._check_version(spec, version)
        suffix = f" VERSION AS OF {int(version)}" if version is not None else ""
        df = self.spark.sql(f"SELECT * FROM {self._ident(spec)}{suffix}")
        for col, values in (partitions or {}).items():
            df = df.where(F.col(col).cast("string").isin([str(v) for v in values]))
        return df

    def _check_version(self, spec: TableSpec, version: int) -> None:
        latest = self.version(spec)
        if not 0 <= version <= latest:
            raise LakeError(f"{spec.name}: version {version} does not exist (latest is {latest})")

    def snapshot(self, spec: TableSpec, version: int | None = None,
                 partitions: dict[str, list[str]] | None = None) -> Snapshot:
        """The files of one version (pruned to ``partitions``), as Delta's own scan planning
        lists them: the files a Spark query of those partitions would open, nothing more."""
        self._require(spec)
        version = self.version(spec) if version is None else version
        df = self.read(spec, version, partitions)
        return snapshot_from_uris(spec, version, self.location(spec), df.schema, df.inputFiles())

    def _delta_log(self, spec: TableSpec):
        """The table's ``DeltaLog`` on the JVM side (open source Delta's or Databricks')."""
        jvm, last_error = self.spark._jvm, None
        for name in DELTA_LOG_CLASSES:
            try:
                cls = jvm
                for part in name.split("."):
                    cls = getattr(cls, part)
                return cls.forTable(self.spark._jsparkSession, self.location(spec))
            except Exception as exc:  # noqa: BLE001 - the next runtime's class may work
                last_error = exc
        raise LakeError(f"{spec.name}: cannot read Delta's log ({last_error})")

    def _log_snapshot(self, spec: TableSpec, log=None):
        """The table's latest snapshot from Delta's log on the JVM side. Its version costs no
        Spark job (``DESCRIBE HISTORY`` runs one), and its ``txn`` ids are the Delta log's
        SetTransaction actions, kept across checkpoints unlike commit history."""
        log = log or self._delta_log(spec)
        # Scala default arguments are methods named update$default$N on the JVM side.
        return log.update(*(getattr(log, f"update$default${i}")() for i in (1, 2, 3)))

    def _txn_version(self, spec: TableSpec, app_id: str, snapshot=None) -> int | None:
        """The latest ``txn`` version recorded for ``app_id`` (None: never committed)."""
        if snapshot is None:
            if not self.exists(spec):
                return None
            snapshot = self._log_snapshot(spec)
        found = snapshot.transactions().get(app_id)
        return int(found.get()) if found.isDefined() else None

    def is_committed(self, spec: TableSpec, key: CommitKey) -> bool:
        return self._txn_version(spec, key.app_id) is not None

    def history(self, spec: TableSpec, limit: int | None = None) -> list[Commit]:
        self._require(spec)
        df = self.spark.sql(f"DESCRIBE HISTORY {self._ident(spec)}"
                            + (f" LIMIT {int(limit)}" if limit else ""))
        # bounded: one row per table version (LIMIT when given)
        return [commit_from_spark(r.asDict(recursive=True)) for r in df.collect()]

    # -- writes ------------------------------------------------------------------------
    def write(self, spec: TableSpec, df: DataFrame, mode: str, key: CommitKey | None = None,
              force: bool = False, partitions: list[str] | None = None,
              new_fields: list[StructField] = ()) -> WriteResult:
        """Commit ``df`` (already conformed) with mode append, overwrite or replace_partitions."""
        if mode not in ("append", "overwrite", "replace_partitions"):
            raise LakeError(f"{spec.name}: unknown write mode {mode!r}")
        if mode == "replace_partitions" and len(spec.partition_by) != 1:
            raise LakeError(f"{spec.name}: replace_partitions needs exactly one partition column")
        df = spec.laid_out(df)

        def attempt(txn_version: int | None) -> None:
            writer = df.write.format("delta").partitionBy(*spec.partition_by)
            if key is not None:
                writer = (writer.option("txnAppId", key.app_id).option("txnVersion", txn_version)
                          .option("userMetadata", json.dumps({KEY_FIELD: key.app_id})))
            if new_fields:
                writer = writer.option("mergeSchema", "true")
            if not self.exists(spec):
                for prop, value in {**CREATE_PROPERTIES, **spec.properties}.items():
                    writer = writer.option(prop, value)
            if mode == "append" or (mode == "replace_partitions" and partitions == []):
                writer = writer.mode("append")
            elif mode == "overwrite":
                writer = writer.mode("overwrite")
            elif partitions is None:
                # The partitions the rows fall in, found while writing (no pass to list them).
                writer = writer.mode("overwrite").option("partitionOverwriteMode", "dynamic")
            else:
                col = spec.partition_by[0]
                cond = f"{_quote(col)} IN ({', '.join(_sql_literal(v) for v in partitions)})"
                writer = writer.mode("overwrite").option("replaceWhere", cond)
            try:
                if self.catalog:
                    self._ensure_schema(spec)
                    writer.saveAsTable(self._ident(spec))
                else:
                    writer.save(self._path(spec))
            except AnalysisException as exc:
                if mode == "replace_partitions" and "replaceWhere" in str(exc) or \
                        "DELTA_REPLACE_WHERE_MISMATCH" in str(exc):
                    raise PartitionMismatch(
                        f"{spec.name}: rows fall outside the partitions being replaced "
                        f"{sorted(partitions)}; the table is unchanged ({str(exc)[:300]})") from None
                raise

        return self._committed(spec, key, force, attempt)

    def insert_new(self, spec: TableSpec, df: DataFrame, keys: tuple[str, ...],
                   key: CommitKey | None = None, force: bool = False,
                   new_fields: list[StructField] = ()) -> WriteResult:
        """``MERGE INTO ... WHEN NOT MATCHED THEN INSERT *`` on the table key, with the
        target restricted to the partitions the batch touches; ``new_fields`` (declared
        columns the table lacks) are added by the MERGE's own schema evolution."""
        batch = df.dropDuplicates(list(keys))
        if not self.exists(spec):
            return self.write(spec, batch, "append", key, force, None, new_fields)
        view = f"foryou_insert_{spec.layer}_{spec.short_name}"
        cond = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in keys)
        if spec.partition_by:
            col = spec.partition_by[0]
            # bounded: the partition values the batch touches
            values = [str(r[0]) for r in batch.select(col).distinct().collect() if r[0] is not None]
            listed = ", ".join(_sql_literal(v) for v in values) or "NULL"
            cond += f" AND CAST(t.{_quote(col)} AS STRING) IN ({listed})"

        # The frame's own session: a streaming micro-batch's frame lives in a clone of the
        # session, where its temporary view (and the MERGE reading it) must be.
        session = batch.sparkSession

        def attempt(txn_version: int | None) -> None:
            batch.createOrReplaceTempView(view)
            confs = {AUTO_MERGE: "true"} if new_fields else {}
            if key is not None:
                confs.update({TXN_APP_ID: key.app_id, TXN_VERSION: str(txn_version),
                              USER_METADATA: json.dumps({KEY_FIELD: key.app_id})})
            try:
                with self._session_confs(confs, session):
                    session.sql(f"MERGE INTO {self._ident(spec)} t USING {view} s ON {cond} "
                                "WHEN NOT MATCHED THEN INSERT *")
            finally:
                session.catalog.dropTempView(view)

        return self._committed(spec, key, force, attempt)

    def _committed(self, spec: TableSpec, key: CommitKey | None, force: bool, attempt) -> WriteResult:
        """Run ``attempt(txn_version)`` under the commit key's rules, retrying lost conflicts.

        A key already recorded is skipped unless forced; a forced re-run commits as the next
        txn version. Delta itself refuses a txn version it has seen, so two concurrent runs of
        one job commit once."""
        for retry in range(CONFLICT_RETRIES + 1):
            snapshot = self._log_snapshot(spec) if self.exists(spec) else None
            before = None if snapshot is None else int(snapshot.version())
            txn_version = None
            if key is not None:
                previous = None if snapshot is None else self._txn_version(spec, key.app_id, snapshot)
                if previous is not None and not force:
                    return WriteResult(spec.name, before, 0, 0, skipped=True)
                txn_version = 0 if previous is None else previous + 1
            try:
                attempt(txn_version)
            except PySparkException as exc:
                if not _is_conflict(exc):
                    raise
                if retry == CONFLICT_RETRIES:
                    raise ConcurrentWriteError(
                        f"{spec.name}: lost {CONFLICT_RETRIES + 1} commit conflicts with other "
                        f"writers; the table is unchanged by this write ({str(exc)[:200]})") from None
                time.sleep(0.2 * (retry + 1))
                continue
            return self._result(spec, before)
        raise AssertionError("unreachable")

    def _result(self, spec: TableSpec, before: int | None) -> WriteResult:
        last = self.history(spec, 1)[0]
        if before is not None and last.version == before:
            # Delta skipped the write: its txn id was committed by a concurrent run.
            return WriteResult(spec.name, before, 0, 0, skipped=True)
        metrics = last.metrics
        rows = int(metrics.get("numOutputRows", metrics.get("numTargetRowsInserted", 0)))
        files = int(metrics.get("numFiles", metrics.get("numTargetFilesAdded", 0)))
        return WriteResult(spec.name, last.version, rows, files)

    @contextlib.contextmanager
    def _session_confs(self, confs: dict[str, str], session: SparkSession | None = None) -> Iterator[None]:
        """Set session confs for one command and put the previous values back."""
        conf = (session or self.spark).conf
        previous = {k: conf.get(k, None) for k in confs}
        for k, v in confs.items():
            conf.set(k, v)
        try:
            yield
        finally:
            for k, v in previous.items():
                if v is None:
                    conf.unset(k)
                else:
                    conf.set(k, v)

    # -- maintenance ------------------------------------------------------------------
    def restore(self, spec: TableSpec, version: int) -> int:
        self._require(spec)
        self._check_version(spec, version)
        try:
            self.spark.sql(f"RESTORE TABLE {self._ident(spec)} TO VERSION AS OF {int(version)}")
        except PySparkException as exc:
            if "Not all files" in str(exc) or "DELTA_" in str(exc) and "missing" in str(exc).lower():
                raise LakeError(vacuumed_version_message(spec.name, version)) from None
            raise
        return self.version(spec)

    def delete(self, spec: TableSpec, predicate: str) -> int:
        if not self.exists(spec):
            return 0
        before = self.version(spec)
        self.spark.sql(f"DELETE FROM {self._ident(spec)} WHERE {predicate}")
        last = self.history(spec, 1)[0]
        return 0 if last.version == before else int(last.metrics.get("numDeletedRows", 0))

    def vacuum(self, spec: TableSpec, retention_hours: int) -> int:
        """Remove files no version within the retention needs; returns how many were removed
        (from the VACUUM END commit Delta logs; a DRY RUN listing first would cost a second
        listing of the whole table)."""
        if not self.exists(spec):
            return 0
        confs = {VACUUM_LOGGING: "true"}
        if retention_hours < DEFAULT_RETENTION_HOURS:
            confs[RETENTION_CHECK] = "false"
        with self._session_confs(confs):
            # bounded: VACUUM's summary row
            self.spark.sql(f"VACUUM {self._ident(spec)} RETAIN {int(retention_hours)} HOURS").collect()
        last = self.history(spec, 1)[0]
        return int(last.metrics.get("numDeletedFiles", 0)) if last.operation == "VACUUM END" else 0

    def expire_log(self, spec: TableSpec) -> int:
        """Checkpoint the current version and delete every older log entry
        (:mod:`foryou.lake.expiry`); returns the version that is now the oldest."""
        ident = self._ident(spec)
        # bounded: the table's properties
        props = {r["key"]: r["value"] for r in self.spark.sql(f"SHOW TBLPROPERTIES {ident}").collect()}
        previous = props.get(RETENTION_PROPERTY)
        self.spark.sql(f"ALTER TABLE {ident} SET TBLPROPERTIES "
                       f"('{RETENTION_PROPERTY}' = '{NO_RETENTION}')")
        log = self._delta_log(spec)
        snapshot = self._log_snapshot(spec, log)
        version = int(snapshot.version())
        log.checkpoint(snapshot, self.spark._jvm.scala.Option.apply(None))
        jvm = self.spark._jvm
        root = jvm.org.apache.hadoop.fs.Path(self.location(spec).rstrip("/") + "/" + LOG_DIR)
        fs = root.getFileSystem(self.spark._jsc.hadoopConfiguration())
        prefix, names, found = root.toUri().getPath().rstrip("/") + "/", {}, fs.listFiles(root, True)
        while found.hasNext():
            path = found.next().getPath()
            names[path.toUri().getPath()[len(prefix):]] = path
        for name in entries_before(names, version):
            fs.delete(names[name], False)
        if previous is None:
            self.spark.sql(f"ALTER TABLE {ident} UNSET TBLPROPERTIES ('{RETENTION_PROPERTY}')")
        else:
            self.spark.sql(f"ALTER TABLE {ident} SET TBLPROPERTIES ('{RETENTION_PROPERTY}' = '{previous}')")
        return version

    def describe(self, spec: TableSpec) -> TableInfo:
        if not self.exists(spec):
            return TableInfo(spec.name, self._path(spec), None, None, None, None, None, None)
        detail = self.spark.sql(f"DESCRIBE DETAIL {self._ident(spec)}").first()
        last = self.history(spec, 1)[0]
        rows = self.spark.table(self._ident(spec)).count()
        return TableInfo(spec.name, detail["location"], last.version, rows,
                         int(detail["sizeInBytes"]), int(detail["numFiles"]),
                         last.operation, last.timestamp)


def _absolute(spark: SparkSession, root: str) -> str:
    """``root`` qualified against the default file system when it is a relative path
    (``./lakehouse``, the demo's default): Delta resolves ``delta.`path``` identifiers only for
    absolute paths, and a relative one reads as a missing table. Absolute paths and URIs are
    kept as written."""
    if root.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", root):
        return root
    conf = spark._jsc.hadoopConfiguration()
    if conf.get("fs.defaultFS", "file:///").startswith("file:"):
        return os.path.abspath(root)  # the process's directory, as the bridge resolves it
    path = spark._jvm.org.apache.hadoop.fs.Path(root)
    return path.getFileSystem(conf).makeQualified(path).toString()


def session_has_delta(spark: SparkSession) -> bool:
    """True where Delta's SQL extension is configured or the runtime is Databricks."""
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION in extensions:
        return True
    return bool(spark.conf.get("spark.databricks.clusterUsageTags.clusterId", None))
