"""A table version's data files, for readers that do not go through Spark.

The ranker's loader, ``FeedReader`` and the benches read Parquet files directly (pyarrow,
no JVM). They ask the lake for a :class:`Snapshot` instead of opening ``<root>/<layer>/<name>``
themselves, so they work on catalog tables (whose location only the catalog knows) and on
either backend.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.dataset as ds
from pyspark.sql.types import StructType

from foryou.lake.catalog import TableSpec
from foryou.lake.errors import LakeError
from foryou.lake.schema import arrow_schema

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class SnapshotFile:
    """One data file: where it is and the values of its partition columns."""

    uri: str
    partition_values: dict[str, str | None]


@dataclass(frozen=True)
class Snapshot:
    """One version of a table: its location, schema and live data files.

    ``uris`` are local paths for local tables and full URIs (``s3://...``) otherwise, as
    pyarrow's filesystems take them."""

    table: str
    version: int
    location: str
    schema: pa.Schema
    files: tuple[SnapshotFile, ...]

    @property
    def uris(self) -> list[str]:
        return [f.uri for f in self.files]

    def partition_values(self, column: str) -> list[str]:
        """The distinct non-null values of a partition column among the files, sorted."""
        return sorted({f.partition_values[column] for f in self.files
                       if f.partition_values.get(column) is not None})


def local_path(uri: str) -> str:
    """``file:/x`` and ``file:///x`` to ``/x``; other URIs unchanged."""
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if uri.startswith("file:"):
        return uri[len("file:"):]
    return uri


def partition_values_of(uri: str, partition_by: tuple[str, ...]) -> dict[str, str | None]:
    """Partition values from a file's Hive-style folders (``event_date=2024-05-01/``), the
    layout both backends write (no column mapping)."""
    found: dict[str, str | None] = {}
    for part in uri.split("/")[:-1]:
        name, sep, raw = part.partition("=")
        if sep and unquote(name) in partition_by:
            found[unquote(name)] = None if raw == HIVE_NULL else unquote(raw)
    missing = [c for c in partition_by if c not in found]
    if missing:
        raise LakeError(f"{uri}: no partition folder for {missing}")
    return found


def arrow_dataset(uris: list[str]) -> ds.Dataset:
    """One pyarrow dataset over a table's data files, with plain string and binary columns.

    A table's files need not agree on the Arrow type of a string column: delta-rs writes
    ``string_view`` when it rewrites files (a delete, a forget), while Spark and the bridge's
    appends write ``string``. A dataset takes its schema from one file: here both become
    ``string``, so every batch has one type. A filter is applied to each file's own types
    before that cast, so a filter on a string column casts the column itself.
    """
    plain = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}
    schema = ds.dataset(uris[0], format="parquet").schema
    schema = pa.schema([f.with_type(plain.get(f.type, f.type)) for f in schema])
    return ds.dataset(uris, format="parquet", schema=schema)


def snapshot_from_uris(spec: TableSpec, version: int, location: str, schema: StructType,
                       uris: list[str]) -> Snapshot:
    base = local_path(location).rstrip("/") + "/"
    files = []
    for uri in sorted({local_path(u) for u in uris}):
        relative = uri[len(base):] if uri.startswith(base) else uri
        files.append(SnapshotFile(uri, partition_values_of(relative, spec.partition_by)))
    return Snapshot(spec.name, int(version), local_path(location), arrow_schema(schema), tuple(files))
