"""Raw records out of source files, in one shape whatever the format.

Every reader returns one row per raw record with

* ``payload``: the record as received (the raw JSON line; a CSV or Parquet row as JSON),
* ``_malformed``: why the record could not be split into fields at all (else null),
* ``_blank``: the line is empty (JSON lines only; not a record, not counted),
* ``_file``, ``_block``, ``_rowid``: where it came from, to number records within a file
  cheaply (see :mod:`foryou.ingest.batch`),
* one *string* column per requested field (null when absent).

Fields stay strings here on purpose: typing is done afterwards by :mod:`foryou.ingest.fields`
so that a wrong type becomes a quarantine reason naming the field instead of a silent null.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructField, StructType, TimestampType

PAYLOAD = "payload"
MALFORMED = "_malformed"
BLANK = "_blank"
FILE = "_file"
BLOCK = "_block"
ROWID = "_rowid"
CORRUPT = "_corrupt_record"
LINE, ROW = "line", "row"


@dataclass(frozen=True)
class RawRecords:
    """Records of one batch of files and how a record is numbered in its file."""

    frame: DataFrame
    unit: str


def _located(df: DataFrame) -> list[Column]:
    return [F.col("_metadata.file_path").alias(FILE),
            F.col("_metadata.file_block_start").alias(BLOCK),
            # Consecutive within a partition, and a file block never spans partitions.
            F.monotonically_increasing_id().alias(ROWID)]


def read_json_lines(spark: SparkSession, paths: Sequence[str], fields: Sequence[str]) -> RawRecords:
    """JSON lines read as text and parsed with ``from_json`` against a string schema, so a
    malformed line is caught and kept verbatim instead of failing or vanishing."""
    text = spark.read.text(list(paths))
    located = text.select(F.col("value").alias(PAYLOAD), *_located(text))
    schema = StructType([StructField(f, StringType()) for f in fields]
                        + [StructField(CORRUPT, StringType())])
    parsed = F.from_json(PAYLOAD, schema, {"columnNameOfCorruptRecord": CORRUPT, "mode": "PERMISSIVE"})
    blank = F.trim(F.col(PAYLOAD)) == ""
    frame = (located.withColumn("_parsed", parsed)
             .select(PAYLOAD, FILE, BLOCK, ROWID,
                     blank.alias(BLANK),
                     F.when(~blank & (F.col("_parsed").isNull() | F.col(f"_parsed.{CORRUPT}").isNotNull()),
                            F.when(F.trim(F.col(PAYLOAD)).startswith("{"), F.lit("malformed JSON"))
                            .otherwise(F.lit("malformed JSON: not a JSON object"))
                            ).alias(MALFORMED),
                     *[F.col(f"_parsed.{f}").alias(f) for f in fields]))
    return RawRecords(frame, LINE)


def read_csv(spark: SparkSession, paths: Sequence[str], fields: Sequence[str] | None = None,
             sep: str = ",", header: bool = True) -> RawRecords:
    """CSV rows, every column as a string; a row with the wrong number of cells is
    malformed. ``fields=None`` keeps every column of the header."""
    reader = spark.read.option("header", header).option("sep", sep).option("multiLine", False)
    columns = reader.csv(list(paths)).columns
    schema = StructType([StructField(c, StringType()) for c in columns]
                        + [StructField(CORRUPT, StringType())])
    df = (reader.schema(schema).option("mode", "PERMISSIVE")
          .option("columnNameOfCorruptRecord", CORRUPT).csv(list(paths)))
    wanted = list(columns) if fields is None else list(fields)
    payload = F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*[F.col(c) for c in columns])))
    frame = df.select(
        payload.alias(PAYLOAD), *_located(df), F.lit(False).alias(BLANK),
        F.when(F.col(CORRUPT).isNotNull(),
               F.lit(f"malformed CSV row: expected {len(columns)} cells")).alias(MALFORMED),
        *[(F.col(f"`{f}`") if f in columns else F.lit(None).cast("string")).alias(f) for f in wanted],
    )
    return RawRecords(frame, ROW)


def _as_string(field: StructField) -> Column:
    col = F.col(f"`{field.name}`")
    if isinstance(field.dataType, TimestampType):
        # With the offset, so the instant survives whatever the session's zone is.
        return F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")
    if isinstance(field.dataType, (ArrayType, MapType, StructType)):
        return F.to_json(col)
    return col.cast("string")


def read_parquet(spark: SparkSession, paths: Sequence[str], fields: Sequence[str]) -> RawRecords:
    """Parquet rows; typed columns are turned to strings and re-checked like any input."""
    df = spark.read.parquet(*paths)
    have = {f.name: f for f in df.schema.fields}
    frame = df.select(
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])).alias(PAYLOAD),
        *_located(df), F.lit(False).alias(BLANK), F.lit(None).cast("string").alias(MALFORMED),
        *[(_as_string(have[f]) if f in have else F.lit(None).cast("string")).alias(f) for f in fields],
    )
    return RawRecords(frame, ROW)


def read(spark: SparkSession, fmt: str, paths: Sequence[str], fields: Sequence[str],
         sep: str = ",") -> RawRecords:
    """Records of ``paths`` in format ``json``, ``csv`` or ``parquet``."""
    if fmt == "json":
        return read_json_lines(spark, paths, fields)
    if fmt == "csv":
        return read_csv(spark, paths, fields, sep)
    if fmt == "parquet":
        return read_parquet(spark, paths, fields)
    raise ValueError(f"unknown raw format {fmt!r}; expected json, csv or parquet")
