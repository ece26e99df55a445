"""Native Delta: the session has Delta's extension (a cluster with delta-spark, Databricks).

Writes use ``format("delta")`` with Delta's own idempotent-write options (``txnAppId`` /
``txnVersion``), ``replaceWhere`` for partition replacement and ``MERGE INTO`` for
insert-only-new-keys. The commit key is also stored as the commit's ``userMetadata`` so
that a forced re-run can find the previous attempt in the table history.
"""
from __future__ import annotations

import json

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from foryou.lake.catalog import TableSpec
from foryou.lake.errors import LakeError, TableNotFound
from foryou.lake.keys import CommitKey, TableInfo, WriteResult

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"


def _sql_literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class NativeBackend:
    """Delta tables through Spark's Delta data source."""

    name = "native"

    def __init__(self, spark: SparkSession, root: str, catalog: str | None = None):
        self.spark = spark
        self.root = root.rstrip("/")
        self.catalog = catalog

    def location(self, spec: TableSpec) -> str:
        return f"{self.root}/{spec.layer}/{spec.short_name}"

    def _ident(self, spec: TableSpec) -> str:
        if self.catalog:
            return f"{self.catalog}.{spec.layer}.{spec.short_name}"
        return f"delta.`{self.location(spec)}`"

    def exists(self, spec: TableSpec) -> bool:
        if self.catalog:
            return self.spark.catalog.tableExists(self._ident(spec))
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self.location(spec))

    def version(self, spec: TableSpec) -> int | None:
        if not self.exists(spec):
            return None
        return int(self.spark.sql(f"DESCRIBE HISTORY {self._ident(spec)} LIMIT 1").first()["version"])

    def table_schema(self, spec: TableSpec) -> StructType | None:
        return self.spark.table(self._ident(spec)).schema if self.exists(spec) else None

    def read(self, spec: TableSpec, version: int | None = None,
             partitions: dict[str, list[str]] | None = None) -> DataFrame:
        if not self.exists(spec):
            raise TableNotFound(f"{spec.name}: no Delta table at {self._ident(spec)}")
        suffix = f" VERSION AS OF {int(version)}" if version is not None else ""
        df = self.spark.sql(f"SELECT * FROM {self._ident(spec)}{suffix}")
        for col, values in (partitions or {}).items():
            df = df.where(F.col(col).cast("string").isin([str(v) for v in values]))
        return df

    def _attempts(self, spec: TableSpec, key: CommitKey) -> int:
        if not self.exists(spec):
            return 0
        rows = (self.spark.sql(f"DESCRIBE HISTORY {self._ident(spec)}")
                .where(F.col("userMetadata").contains(json.dumps(key.app_id))).count())
        return int(rows)

    def is_committed(self, spec: TableSpec, key: CommitKey) -> bool:
        return self._attempts(spec, key) > 0

    def history(self, spec: TableSpec, limit: int | None = None) -> list[dict]:
        df = self.spark.sql(f"DESCRIBE HISTORY {self._ident(spec)}")
        if limit:
            df = df.limit(limit)
        return [r.asDict(recursive=True) for r in df.collect()]

    def write(self, spec: TableSpec, df: DataFrame, mode: str, key: CommitKey | None = None,
              force: bool = False, partitions: list[str] | None = None,
              new_fields: list[StructField] = ()) -> WriteResult:
        writer = df.write.format("delta").partitionBy(*spec.partition_by)
        if key is not None:
            attempts = self._attempts(spec, key)
            if attempts and not force:
                return WriteResult(spec.name, self.version(spec), 0, 0, skipped=True)
            writer = (writer.option("txnAppId", key.app_id).option("txnVersion", attempts)
                      .option("userMetadata", json.dumps({"foryou.key": key.app_id})))
        if new_fields:
            writer = writer.option("mergeSchema", "true")
        if mode == "append":
            writer = writer.mode("append")
        elif mode == "overwrite":
            writer = writer.mode("overwrite")
        elif mode == "replace_partitions":
            col = spec.partition_by[0]
            values = partitions if partitions is not None else [
                r[0] for r in df.select(col).distinct().collect()]
            if values:
                cond = f"{col} IN ({', '.join(_sql_literal(v) for v in values)})"
                writer = writer.mode("overwrite").option("replaceWhere", cond)
            else:
                writer = writer.mode("append")
        else:
            raise LakeError(f"{spec.name}: unknown write mode {mode!r}")
        if self.catalog:
            writer.saveAsTable(self._ident(spec))
        else:
            writer.save(self.location(spec))
        return self._result(spec)

    def _result(self, spec: TableSpec) -> WriteResult:
        last = self.history(spec, 1)[0]
        metrics = last.get("operationMetrics") or {}
        rows = int(metrics.get("numOutputRows", metrics.get("numTargetRowsInserted", 0)))
        files = int(metrics.get("numFiles", metrics.get("numTargetFilesAdded", 0)))
        return WriteResult(spec.name, int(last["version"]), rows, files)

    def insert_new(self, spec: TableSpec, df: DataFrame, keys: tuple[str, ...],
                   key: CommitKey | None = None, force: bool = False) -> WriteResult:
        batch = df.dropDuplicates(list(keys))
        if not self.exists(spec):
            return self.write(spec, batch, "append", key, force)
        if key is not None and self.is_committed(spec, key) and not force:
            return WriteResult(spec.name, self.version(spec), 0, 0, skipped=True)
        view = f"foryou_insert_{spec.short_name}"
        batch.createOrReplaceTempView(view)
        cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        if spec.partition_by:
            col = spec.partition_by[0]
            values = [r[0] for r in batch.select(col).distinct().collect()]
            cond += f" AND t.{col} IN ({', '.join(_sql_literal(v) for v in values) or 'NULL'})"
        if key is not None:
            self.spark.conf.set("spark.databricks.delta.commitInfo.userMetadata",
                                json.dumps({"foryou.key": key.app_id}))
        try:
            self.spark.sql(f"MERGE INTO {self._ident(spec)} t USING {view} s ON {cond} "
                           "WHEN NOT MATCHED THEN INSERT *")
        finally:
            self.spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")
        return self._result(spec)

    def restore(self, spec: TableSpec, version: int) -> int:
        self.spark.sql(f"RESTORE TABLE {self._ident(spec)} TO VERSION AS OF {int(version)}")
        return self.version(spec)

    def delete(self, spec: TableSpec, predicate: str) -> int:
        if not self.exists(spec):
            return 0
        self.spark.sql(f"DELETE FROM {self._ident(spec)} WHERE {predicate}")
        metrics = self.history(spec, 1)[0].get("operationMetrics") or {}
        return int(metrics.get("numDeletedRows", 0))

    def vacuum(self, spec: TableSpec, retention_hours: int) -> list[str]:
        if not self.exists(spec):
            return []
        rows = self.spark.sql(f"VACUUM {self._ident(spec)} RETAIN {int(retention_hours)} HOURS")
        return [r[0] for r in rows.collect()]

    def describe(self, spec: TableSpec) -> TableInfo:
        if not self.exists(spec):
            return TableInfo(spec.name, self.location(spec), None, None, None, None, None, None)
        detail = self.spark.sql(f"DESCRIBE DETAIL {self._ident(spec)}").first()
        last = self.history(spec, 1)[0]
        rows = self.spark.table(self._ident(spec)).count()
        return TableInfo(spec.name, detail["location"], int(last["version"]), rows,
                         int(detail["sizeInBytes"]), int(detail["numFiles"]),
                         last["operation"], last["timestamp"])


def session_has_delta(spark: SparkSession) -> bool:
    """True where Delta's SQL extension is configured or the runtime is Databricks."""
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION in extensions:
        return True
    return bool(spark.conf.get("spark.databricks.clusterUsageTags.clusterId", None))
