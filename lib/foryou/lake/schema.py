"""Check a frame against a table's schema before anything is written."""
from __future__ import annotations

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import NullType, StructField, StructType

from foryou.lake.catalog import TableSpec
from foryou.lake.errors import SchemaMismatch


def arrow_schema(schema: StructType) -> pa.Schema:
    """Spark schema to the Arrow schema Delta stores (timestamps as UTC microseconds)."""
    return to_arrow_schema(schema, timezone="UTC")


def _same_type(a, b) -> bool:
    if type(a) is not type(b):
        return False
    return a.simpleString() == b.simpleString()


def conform(
    df: DataFrame,
    spec: TableSpec,
    table_schema: StructType,
    allow_new_columns: bool = False,
) -> tuple[DataFrame, list[StructField]]:
    """Return ``df`` with the table's columns in table order, plus any new columns.

    ``table_schema`` is the table's current schema (the declared one, or wider after an
    opted-in schema evolution). A missing required column, a type change, or a new column
    without ``allow_new_columns`` raises :class:`SchemaMismatch` naming the column.
    Missing optional columns are added as nulls. A column the catalog declares but the table
    lacks (a table created by an older release) is added like Delta's ``mergeSchema``: the
    rows written before it read as null.
    """
    have = {f.name: f for f in df.schema.fields}
    table_fields = {f.name: f for f in table_schema.fields}
    cols = []
    for field in table_schema.fields:
        if field.name not in have:
            if field.name in spec.required:
                raise SchemaMismatch(
                    f"{spec.name}: required column '{field.name}' ({field.dataType.simpleString()}) "
                    f"is missing from the frame"
                )
            cols.append(F.lit(None).cast(field.dataType).alias(field.name))
            continue
        got = have[field.name].dataType
        if isinstance(got, NullType):
            cols.append(F.col(field.name).cast(field.dataType).alias(field.name))
        elif not _same_type(got, field.dataType):
            raise SchemaMismatch(
                f"{spec.name}: column '{field.name}' has type {got.simpleString()}, the table "
                f"declares {field.dataType.simpleString()}; type changes are refused"
            )
        else:
            cols.append(F.col(field.name))
    extra = [f for f in df.schema.fields if f.name not in table_fields]
    declared = set(spec.schema.fieldNames())
    undeclared = [f for f in extra if f.name not in declared]
    if undeclared and not allow_new_columns:
        names = ", ".join(f"'{f.name}'" for f in undeclared)
        raise SchemaMismatch(
            f"{spec.name}: column(s) {names} are not in the table schema; pass "
            f"allow_new_columns=True to add them"
        )
    for f in extra:
        want = spec.schema[f.name].dataType if f.name in declared else None
        if want is not None and not _same_type(f.dataType, want):
            raise SchemaMismatch(
                f"{spec.name}: column '{f.name}' has type {f.dataType.simpleString()}, the "
                f"catalog declares {want.simpleString()}; type changes are refused")
        if isinstance(f.dataType, NullType):
            raise SchemaMismatch(f"{spec.name}: new column '{f.name}' has no type (all nulls); cast it")
        cols.append(F.col(f.name))
    new_fields = [StructField(f.name, f.dataType, True) for f in extra]
    return df.select(*cols), new_fields
