"""The lake: one small API over Delta tables, whichever backend the session allows."""
from __future__ import annotations

import logging
from typing import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foryou.config import Config
from foryou.lake.bridge import BridgeBackend
from foryou.lake.catalog import CATALOG, TableSpec, table
from foryou.lake.errors import LakeError
from foryou.lake.history import Commit
from foryou.lake.keys import CommitKey, TableInfo, WriteResult
from foryou.lake.native import NativeBackend, session_has_delta
from foryou.lake.schema import conform
from foryou.lake.snapshot import Snapshot

log = logging.getLogger("foryou.lake")


class Lake:
    """Read and write the catalog's Delta tables.

    Every write checks the frame against the table's schema first (a missing required
    column, a type change or an unannounced new column is refused and the table is left
    unchanged), carries an optional :class:`CommitKey` so a re-run commits nothing twice,
    and is serialised with other writers of the same table.

    Example:
        >>> lake = Lake(spark, config)                      # doctest: +SKIP
        >>> lake.replace_partitions("silver.events", df, key=CommitKey("clean", "2024-05-01"))
    """

    def __init__(self, spark: SparkSession, config: Config):
        self.spark = spark
        # Only the lake section is kept: a stage reads its own settings, not others' through here.
        self.settings = config.lake
        choice = config.lake.backend
        if choice == "auto":
            choice = "native" if session_has_delta(spark) else "bridge"
        if choice == "native":
            self.backend = NativeBackend(spark, config.lake.root, config.lake.catalog)
        else:
            self.backend = BridgeBackend(spark, config.lake.root, config.lake.lock_timeout_s)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @staticmethod
    def spec(name: str) -> TableSpec:
        return table(name)

    @staticmethod
    def tables() -> list[str]:
        return list(CATALOG)

    def location(self, name: str) -> str:
        """Where the table's files are (for a catalog table: what the catalog says)."""
        return self.backend.location(table(name))

    def _selection(self, name: str, partitions: Sequence | None) -> dict[str, list[str]] | None:
        spec = table(name)
        if partitions is None:
            return None
        if not spec.partition_by:
            raise LakeError(f"{name} is not partitioned; drop the partitions argument")
        return {spec.partition_by[0]: [str(p) for p in partitions]}

    def snapshot(self, name: str, version: int | None = None,
                 partitions: Sequence | None = None) -> Snapshot:
        """A version's data files and schema, for readers that open Parquet themselves
        (pyarrow, no Spark): the ranker's loader, benches. ``partitions`` prunes by the
        table's partition column."""
        return self.backend.snapshot(table(name), version, self._selection(name, partitions))

    def exists(self, name: str) -> bool:
        return self.backend.exists(table(name))

    def version(self, name: str) -> int | None:
        """The latest version, or None if the table does not exist yet."""
        return self.backend.version(table(name))

    def read(self, name: str, version: int | None = None,
             partitions: Sequence | None = None) -> DataFrame:
        """The table at its latest (or a given) version; ``partitions`` prunes by the
        table's partition column before any file is opened. Columns the catalog declares
        that the table (made by an older release) does not have yet read as nulls."""
        spec = table(name)
        df = self.backend.read(spec, version, self._selection(name, partitions))
        missing = [f for f in spec.schema.fields if f.name not in df.columns]
        if not missing:
            return df
        return df.select("*", *[F.lit(None).cast(f.dataType).alias(f.name) for f in missing])

    def read_or_empty(self, name: str, partitions: Sequence | None = None) -> DataFrame:
        """:meth:`read`, or an empty frame of the declared schema while the table does not
        exist yet (a first run, before anything upstream has written it)."""
        if not self.exists(name):
            log.info("%s does not exist yet: read as empty", name)
            return self.spark.createDataFrame([], table(name).schema)
        return self.read(name, partitions=partitions)

    def create(self, name: str) -> int:
        """Create the table empty with its declared schema (no-op if it exists)."""
        spec = table(name)
        if not self.backend.exists(spec):
            self.backend.write(spec, self.spark.createDataFrame([], spec.schema), "append")
        return self.backend.version(spec)

    def _write(self, name, df, mode, key, force, partitions, allow_new_columns) -> WriteResult:
        spec = table(name)
        current = self.backend.table_schema(spec) or spec.schema
        conformed, new_fields = conform(df, spec, current, allow_new_columns)
        return self.backend.write(spec, conformed, mode, key, force, partitions, new_fields)

    def append(self, name: str, df: DataFrame, key: CommitKey | None = None,
               force: bool = False, allow_new_columns: bool = False) -> WriteResult:
        """Add rows. With ``force`` and a committed key the rows are added again."""
        return self._write(name, df, "append", key, force, None, allow_new_columns)

    def overwrite(self, name: str, df: DataFrame, key: CommitKey | None = None,
                  force: bool = False, allow_new_columns: bool = False) -> WriteResult:
        """Replace the whole table's content in one commit (older versions stay readable)."""
        return self._write(name, df, "overwrite", key, force, None, allow_new_columns)

    def replace_partitions(self, name: str, df: DataFrame, partitions: Sequence | None = None,
                           key: CommitKey | None = None, force: bool = False,
                           allow_new_columns: bool = False) -> WriteResult:
        """Replace the given partitions (default: those the frame touches) with ``df``.

        Rows outside ``partitions`` are refused, so a job can never clobber a day it did
        not mean to.
        """
        parts = [str(p) for p in partitions] if partitions is not None else None
        return self._write(name, df, "replace_partitions", key, force, parts, allow_new_columns)

    def insert_new(self, name: str, df: DataFrame, key: CommitKey | None = None,
                   force: bool = False) -> WriteResult:
        """Append the rows whose table key is new (dedup); only the partitions the batch
        touches are read. ``WriteResult.rows`` is the number inserted."""
        spec = table(name)
        if not spec.key:
            raise LakeError(f"{name} declares no key; insert_new needs one")
        current = self.backend.table_schema(spec) or spec.schema
        conformed, new_fields = conform(df, spec, current)
        return self.backend.insert_new(spec, conformed, spec.key, key, force, new_fields)

    def is_committed(self, name: str, key: CommitKey) -> bool:
        """Whether ``key`` has been committed to the table (the job ran for that date)."""
        return self.backend.is_committed(table(name), key)

    def history(self, name: str, limit: int | None = None) -> list[Commit]:
        """Commits, newest first."""
        return self.backend.history(table(name), limit)

    def restore(self, name: str, version: int) -> int:
        """Make ``version``'s content the latest (a new commit); returns the new version."""
        return self.backend.restore(table(name), version)

    def delete(self, name: str, predicate: str) -> int:
        """Delete rows matching a SQL predicate; returns the number deleted."""
        return self.backend.delete(table(name), predicate)

    def vacuum(self, name: str, retention_hours: int | None = None) -> int:
        """Physically remove files no version newer than the retention needs; returns how
        many files were removed. Versions older than the retention can no longer be read."""
        hours = self.settings.vacuum_retention_hours if retention_hours is None else retention_hours
        return self.backend.vacuum(table(name), hours)

    def expire_log(self, name: str) -> int:
        """Make the current version the oldest the table's log holds: checkpoint it and
        delete every earlier log entry, with what they recorded about removed rows (file
        statistics, delete predicates). Time travel to earlier versions ends. Vacuum first:
        forget-users runs delete, vacuum 0, then this. Returns the now-oldest version."""
        return self.backend.expire_log(table(name))

    def describe(self, name: str) -> TableInfo:
        return self.backend.describe(table(name))
