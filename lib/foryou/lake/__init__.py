"""Delta tables on any Spark: native Delta where the session has it, the delta-rs bridge otherwise."""
from foryou.lake.catalog import CATALOG, Column, TableSpec, table
from foryou.lake.errors import (
    ConcurrentWriteError,
    LakeError,
    PartitionMismatch,
    SchemaMismatch,
    TableNotFound,
)
from foryou.lake.keys import CommitKey, TableInfo, WriteResult
from foryou.lake.store import Lake

__all__ = [
    "CATALOG", "Column", "CommitKey", "ConcurrentWriteError", "Lake", "LakeError",
    "PartitionMismatch", "SchemaMismatch", "TableInfo", "TableNotFound", "TableSpec",
    "WriteResult", "table",
]
