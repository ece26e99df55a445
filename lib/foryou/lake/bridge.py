"""The delta-rs bridge: Spark writes Parquet, delta-rs commits it to the Delta log.

Used where the session has no Delta extension (no Delta JARs can be downloaded here).
Executors write Parquet into ``<table>/_staging/<id>/``; the driver moves the files into
place, builds per-file stats from their footers and commits them with ``deltalake``. A
writer killed before the commit leaves the table at its previous version; the next writer
removes what it left behind.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
from deltalake import DeltaTable, Field as DeltaField, Schema as DeltaSchema
from deltalake.exceptions import DeltaError
from deltalake.transaction import (
    AddAction,
    CommitProperties,
    Transaction,
    create_table_with_add_actions,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructField, StructType

from foryou.lake.catalog import TableSpec
from foryou.lake.errors import LakeError, PartitionMismatch, TableNotFound, vacuumed_version_message
from foryou.lake.expiry import (DEFAULT_RETENTION, LOG_DIR, NO_RETENTION, RETENTION_PROPERTY,
                                 entries_before)
from foryou.lake.history import KEY_FIELD, Commit, commit_from_deltars
from foryou.lake.keys import CommitKey, TableInfo, WriteResult
from foryou.lake.locks import table_lock
from foryou.lake.schema import arrow_schema
from foryou.lake.snapshot import Snapshot, SnapshotFile, partition_values_of
from foryou.lake.stats import file_stats

STAGING_DIR = "_staging"
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class StagedFile:
    rel_path: str
    size: int
    partition_values: dict[str, str | None]
    rows: int
    stats: str


class BridgeBackend:
    """Delta tables on a local filesystem, written by Spark and committed by delta-rs."""

    name = "bridge"

    def __init__(self, spark: SparkSession, root: str, lock_timeout_s: float):
        if "://" in root and not root.startswith("file://"):
            raise LakeError(
                f"lake.root={root!r}: the delta-rs bridge writes to local paths only; on a "
                "cluster with object storage enable Delta (lake.backend=native)"
            )
        self.spark = spark
        self.root = os.path.abspath(root.removeprefix("file://"))
        self.lock_timeout_s = lock_timeout_s

    # -- locations -----------------------------------------------------------------
    def location(self, spec: TableSpec) -> str:
        return os.path.join(self.root, spec.layer, spec.short_name)

    def _lock(self, spec: TableSpec):
        return table_lock(os.path.join(self.root, "_locks", f"{spec.name}.lock"), spec.name,
                          self.lock_timeout_s)

    def _load(self, spec: TableSpec, version: int | None = None) -> DeltaTable | None:
        uri = self.location(spec)
        if not DeltaTable.is_deltatable(uri):
            return None
        return DeltaTable(uri, version=version)

    def _require(self, spec: TableSpec, version: int | None = None) -> DeltaTable:
        table = self._load(spec, version)
        if table is None:
            raise TableNotFound(f"{spec.name}: no Delta table at {self.location(spec)}")
        return table

    # -- reads ---------------------------------------------------------------------
    def exists(self, spec: TableSpec) -> bool:
        return DeltaTable.is_deltatable(self.location(spec))

    def version(self, spec: TableSpec) -> int | None:
        table = self._load(spec)
        return None if table is None else table.version()

    def table_schema(self, spec: TableSpec, table: DeltaTable | None = None) -> StructType | None:
        table = table or self._load(spec)
        if table is None:
            return None
        return from_arrow_schema(pa.schema(table.schema().to_arrow()), prefer_timestamp_ntz=False)

    def read(self, spec: TableSpec, version: int | None = None,
             partitions: dict[str, list[str]] | None = None) -> DataFrame:
        table = self._require(spec, version)
        schema = self.table_schema(spec, table)
        filters = [(col, "in", [str(v) for v in values]) for col, values in (partitions or {}).items()]
        files = table.file_uris(file_pruning_predicate=filters or None)
        if not files:
            return self.spark.createDataFrame([], schema)
        return (self.spark.read.schema(schema).option("basePath", self.location(spec))
                .parquet(*files))

    def is_committed(self, spec: TableSpec, key: CommitKey) -> bool:
        table = self._load(spec)
        return table is not None and table.transaction_version(key.app_id) is not None

    def history(self, spec: TableSpec, limit: int | None = None) -> list[Commit]:
        return [commit_from_deltars(c) for c in self._require(spec).history(limit)]

    def snapshot(self, spec: TableSpec, version: int | None = None,
                 partitions: dict[str, list[str]] | None = None) -> Snapshot:
        """The data files of one version (pruned to ``partitions``), from the Delta log."""
        table = self._require(spec, version)
        filters = [(col, "in", [str(v) for v in values]) for col, values in (partitions or {}).items()]
        uris = sorted(table.file_uris(file_pruning_predicate=filters or None))
        location = self.location(spec)
        files = tuple(SnapshotFile(u, partition_values_of(os.path.relpath(u, location), spec.partition_by))
                      for u in uris)
        return Snapshot(spec.name, table.version(), location,
                        arrow_schema(self.table_schema(spec, table)), files)

    # -- writes --------------------------------------------------------------------
    def write(self, spec: TableSpec, df: DataFrame, mode: str, key: CommitKey | None = None,
              force: bool = False, partitions: list[str] | None = None,
              new_fields: list[StructField] = ()) -> WriteResult:
        """Commit ``df`` (already conformed to the table) with mode append, overwrite or
        replace_partitions, under the table's write lock."""
        with self._lock(spec):
            return self._write_locked(spec, df, mode, key, force, partitions, list(new_fields))

    def insert_new(self, spec: TableSpec, df: DataFrame, keys: tuple[str, ...],
                   key: CommitKey | None = None, force: bool = False,
                   new_fields: list[StructField] = ()) -> WriteResult:
        """Append only rows whose ``keys`` are not in the partitions the batch touches;
        ``new_fields`` (declared columns the table lacks) are added in the same commit."""
        with self._lock(spec):
            # Also when the run turns out to be committed already: a killed writer's staging
            # folder must not outlive a successful re-run.
            self._clean_orphans(spec)
            table = self._load(spec)
            if table is not None and key is not None and not force \
                    and table.transaction_version(key.app_id) is not None:
                return WriteResult(spec.name, table.version(), 0, 0, skipped=True)
            batch = df.dropDuplicates(list(keys))
            if table is not None:
                touched = None
                if spec.partition_by:
                    col = spec.partition_by[0]
                    # bounded: the partition values the batch touches
                    touched = {col: [str(r[0]) for r in batch.select(col).distinct().collect()
                                     if r[0] is not None]}
                existing = self.read(spec, partitions=touched).select(*keys)
                batch = batch.join(existing, on=list(keys), how="left_anti")
            return self._write_locked(spec, batch, "append", key, force, None, list(new_fields))

    def _write_locked(self, spec, df, mode, key, force, partitions, new_fields) -> WriteResult:
        uri = self.location(spec)
        self._clean_orphans(spec)
        table = self._load(spec)
        txn = None
        if key is not None:
            previous = table.transaction_version(key.app_id) if table is not None else None
            if previous is not None and not force:
                return WriteResult(spec.name, table.version(), 0, 0, skipped=True)
            txn = Transaction(key.app_id, 0 if previous is None else previous + 1)
        if mode == "replace_partitions" and len(spec.partition_by) != 1:
            raise LakeError(f"{spec.name}: replace_partitions needs exactly one partition column")

        staging_id = uuid.uuid4().hex
        staging = os.path.join(uri, STAGING_DIR, staging_id)
        base_version = table.version() if table is not None else -1
        staged = self._stage(spec, df, staging)
        self._check_partitions(spec, mode, staged, partitions)
        moved: list[str] = []
        try:
            with open(os.path.join(staging, MANIFEST), "w") as fh:
                json.dump({"base_version": base_version, "files": [s.rel_path for s in staged]}, fh)
            for f in staged:
                dst = os.path.join(uri, f.rel_path)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.replace(os.path.join(staging, f.rel_path), dst)
                moved.append(dst)
            version = self._commit(spec, staged, mode, partitions, txn, new_fields, staging_id)
        except Exception:
            # A failure we can see: undo the moves. A kill leaves them to _clean_orphans.
            for path in moved:
                if os.path.exists(path):
                    os.remove(path)
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(staging, ignore_errors=True)
        return WriteResult(spec.name, version, sum(f.rows for f in staged), len(staged))

    def _stage(self, spec: TableSpec, df: DataFrame, staging: str) -> list[StagedFile]:
        df = spec.laid_out(df)
        self.spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        df.write.mode("error").partitionBy(*spec.partition_by).parquet("file://" + staging)
        rel_paths = []
        for folder, dirs, names in os.walk(staging):
            dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
            for name in names:
                if name.startswith(("_", ".")) or not name.endswith(".parquet"):
                    continue
                rel_paths.append(os.path.relpath(os.path.join(folder, name), staging))

        def describe(rel: str) -> StagedFile:
            path = os.path.join(staging, rel)
            rows, stats = file_stats(path, spec.partition_by)
            return StagedFile(rel, os.path.getsize(path),
                              partition_values_of(rel, spec.partition_by), rows, stats)

        with ThreadPoolExecutor(max_workers=8) as pool:
            staged = list(pool.map(describe, sorted(rel_paths)))
        # Files with no rows add nothing but a log entry; Spark writes one for empty frames.
        for f in staged:
            if f.rows == 0:
                os.remove(os.path.join(staging, f.rel_path))
        return [f for f in staged if f.rows > 0]

    @staticmethod
    def _check_partitions(spec, mode, staged, partitions) -> None:
        if mode != "replace_partitions" or partitions is None:
            return
        allowed = {str(p) for p in partitions}
        col = spec.partition_by[0]
        outside = sorted({f.partition_values[col] for f in staged} - allowed, key=str)
        if outside:
            raise PartitionMismatch(
                f"{spec.name}: rows fall in {col}={outside}, outside the partitions being "
                f"replaced {sorted(allowed)}; the table is unchanged"
            )

    def _commit(self, spec, staged, mode, partitions, txn, new_fields, staging_id) -> int:
        uri = self.location(spec)
        actions = [
            AddAction(quote(f.rel_path, safe="/="), f.size, f.partition_values,
                      int(time.time() * 1000), True, f.stats)
            for f in staged
        ]
        props = CommitProperties(
            custom_metadata={"foryou.staging": staging_id, KEY_FIELD: txn.app_id if txn else ""},
            app_transactions=[txn] if txn else None,
        )
        # Load right before committing: an overwrite from a stale snapshot would keep rows
        # appended meanwhile (the lock keeps our own writers out; this guards the rest).
        table = self._load(spec)
        if table is None:
            schema = StructType(list(spec.schema.fields) + list(new_fields))
            create_table_with_add_actions(
                uri, DeltaSchema.from_arrow(arrow_schema(schema)), actions, mode="error",
                partition_by=list(spec.partition_by) or None, name=spec.name,
                description=spec.doc, configuration=spec.properties or None,
                commit_properties=props,
            )
            return 0
        if new_fields:
            table.alter.add_columns([DeltaField.from_arrow(arrow_schema(StructType([f])).field(0))
                                     for f in new_fields])
            table = self._load(spec)
        schema = arrow_schema(self.table_schema(spec, table))
        kwargs = dict(partition_by=list(spec.partition_by) or None, commit_properties=props)
        if mode == "append":
            table.create_write_transaction(actions, "append", schema, **kwargs)
        elif mode == "overwrite":
            table.create_write_transaction(actions, "overwrite", schema, **kwargs)
        elif mode == "replace_partitions":
            col = spec.partition_by[0]
            values = sorted({str(p) for p in partitions} if partitions is not None
                            else {f.partition_values[col] for f in staged})
            if not values:
                table.create_write_transaction(actions, "append", schema, **kwargs)
            else:
                table.create_write_transaction(actions, "overwrite", schema,
                                               partition_filters=[(col, "in", values)], **kwargs)
        else:
            raise LakeError(f"{spec.name}: unknown write mode {mode!r}")
        return self._load(spec).version()

    def _clean_orphans(self, spec: TableSpec) -> None:
        """Remove what killed writers left: staging folders, and files they moved into
        place but never committed. Called under the table lock."""
        staging_root = os.path.join(self.location(spec), STAGING_DIR)
        if not os.path.isdir(staging_root):
            return
        table = self._load(spec)
        for staging_id in os.listdir(staging_root):
            staging = os.path.join(staging_root, staging_id)
            manifest = os.path.join(staging, MANIFEST)
            if os.path.exists(manifest) and not self._committed(table, staging_id, manifest):
                with open(manifest) as fh:
                    for rel in json.load(fh)["files"]:
                        path = os.path.join(self.location(spec), rel)
                        if os.path.exists(path):
                            os.remove(path)
            shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _committed(table: DeltaTable | None, staging_id: str, manifest: str) -> bool:
        if table is None:
            return False
        with open(manifest) as fh:
            base = json.load(fh)["base_version"]
        newer = table.version() - base
        if newer <= 0:
            return False
        return any(c.get("foryou.staging") == staging_id for c in table.history(newer))

    # -- maintenance ----------------------------------------------------------------
    def restore(self, spec: TableSpec, version: int) -> int:
        with self._lock(spec):
            table = self._require(spec)
            if not 0 <= version <= table.version():
                raise LakeError(f"{spec.name}: version {version} does not exist "
                                f"(latest is {table.version()})")
            try:
                table.restore(version)
            except DeltaError as exc:
                if "missing file" not in str(exc):
                    raise
                raise LakeError(vacuumed_version_message(spec.name, version)) from None
            return self._load(spec).version()

    def delete(self, spec: TableSpec, predicate: str) -> int:
        with self._lock(spec):
            table = self._load(spec)
            if table is None:
                return 0
            metrics = table.delete(predicate)
            return int(metrics.get("num_deleted_rows", 0))

    def vacuum(self, spec: TableSpec, retention_hours: int) -> int:
        """Remove files no version within the retention needs; returns how many were removed
        (delta-rs reports every expired tombstone, also those removed before)."""
        with self._lock(spec):
            self._clean_orphans(spec)
            table = self._load(spec)
            if table is None:
                return 0
            expired = table.vacuum(retention_hours=retention_hours, dry_run=True,
                                   enforce_retention_duration=False)
            present = [p for p in (os.path.join(self.location(spec), unquote(rel)) for rel in expired)
                       if os.path.exists(p)]
            if present:
                table.vacuum(retention_hours=retention_hours, dry_run=False,
                             enforce_retention_duration=False)
            return len(present)

    def expire_log(self, spec: TableSpec) -> int:
        """Checkpoint the current version and delete every older log entry
        (:mod:`foryou.lake.expiry`); returns the version that is now the oldest."""
        with self._lock(spec):
            table = self._require(spec)
            previous = table.metadata().configuration.get(RETENTION_PROPERTY)
            table.alter.set_table_properties({RETENTION_PROPERTY: NO_RETENTION})
            table = self._load(spec)
            table.create_checkpoint()
            version = table.version()
            log_dir = os.path.join(self.location(spec), LOG_DIR)
            names = [os.path.relpath(os.path.join(d, f), log_dir)
                     for d, _, fs in os.walk(log_dir) for f in fs]
            for name in entries_before(names, version):
                os.remove(os.path.join(log_dir, name))
            self._load(spec).alter.set_table_properties(
                {RETENTION_PROPERTY: previous or DEFAULT_RETENTION})
            return version

    def describe(self, spec: TableSpec) -> TableInfo:
        location = self.location(spec)
        table = self._load(spec)
        if table is None:
            return TableInfo(spec.name, location, None, None, None, None, None, None)
        adds = pa.table(table.get_add_actions(flatten=True))
        last = table.history(1)[0]
        return TableInfo(
            spec.name, location, table.version(),
            int(pa.compute.sum(adds["num_records"]).as_py() or 0) if adds.num_rows else 0,
            int(pa.compute.sum(adds["size_bytes"]).as_py() or 0) if adds.num_rows else 0,
            adds.num_rows, last.get("operation"),
            dt.datetime.fromtimestamp(last["timestamp"] / 1000, dt.timezone.utc),
        )
