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
JSON lines also give ``_jt_<field>``, the JSON type the producer sent (string, number,
boolean, object, array, null), so a ``true`` sent as an id is refused rather than read as
the text "true".

Hostile bytes never alter a record silently: a record that is not valid UTF-8 is malformed
(the reason names the field where one can be told), and a JSON object with a repeated key is
malformed (naming the key) instead of keeping the last value. CSV headers are read per file,
so files whose columns come in another order (or with other names) map by name; quoted
newlines parse. Parquet files are read in groups of one schema, so a column typed
differently in one file is checked as text like any other input instead of failing the job.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import reduce
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructField, StructType, TimestampType

from foryou.ingest.sources import first_line

PAYLOAD = "payload"
MALFORMED = "_malformed"
BLANK = "_blank"
FILE = "_file"
BLOCK = "_block"
ROWID = "_rowid"
CORRUPT = "_corrupt_record"
LINE, ROW = "line", "row"
JSON_TYPE = "_jt_"
# What a decoder puts where it met bytes that are not UTF-8.
REPLACEMENT = "\ufffd"
NOT_UTF8 = "record is not valid UTF-8"


def json_type_of(name: str) -> str:
    """The column holding the JSON type of field ``name`` (JSON lines only)."""
    return JSON_TYPE + name


def _utf8_reason(fields: Sequence[str], parent: str = "") -> Column:
    """Why a record's text is not UTF-8, naming the first field that shows it, else null.

    A field holding U+FFFD was decoded from invalid bytes (by the CSV or JSON parser) or sent
    with the replacement character, which is as broken; the payload itself may still hold the
    raw bytes (JSON lines and Parquet keep them), which ``is_valid_utf8`` catches."""
    named = [F.when(F.col(f"{parent}`{f}`").contains(REPLACEMENT),
                    F.lit(f"field '{f}': not valid UTF-8 (undecodable bytes)")) for f in fields]
    whole = F.when(~F.is_valid_utf8(PAYLOAD), F.lit(f"{NOT_UTF8} (payload kept as base64)"))
    return F.coalesce(*named, whole) if named else whole


def _variant_path(name: str) -> str:
    return "$['" + name.replace("'", "\\'") + "']"


def _json_type(variant: Column, name: str) -> Column:
    """JSON type name of one top-level field of a parsed record: string, number, boolean,
    null, object or array (null when the field is absent)."""
    kind = F.regexp_extract(F.schema_of_variant(F.variant_get(variant, _variant_path(name), "variant")),
                            "^[A-Z]+", 0)
    return (F.when(kind == "STRING", "string")
            .when(kind.isin("BIGINT", "INT", "SMALLINT", "TINYINT", "DECIMAL", "DOUBLE", "FLOAT"), "number")
            .when(kind == "BOOLEAN", "boolean").when(kind == "VOID", "null")
            .when(kind == "OBJECT", "object").when(kind == "ARRAY", "array")
            .otherwise(F.lower(kind)))


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
    malformed line is caught and kept verbatim instead of failing or vanishing. Each line is
    also parsed as a variant (``try_parse_json``, which refuses repeated keys) for the JSON
    type of every field."""
    text = spark.read.text(list(paths))
    return RawRecords(parse_json_lines(text.select(F.col("value").alias(PAYLOAD), *_located(text)),
                                       fields), LINE)


def parse_json_lines(located: DataFrame, fields: Sequence[str], keep: Sequence[str] = ()) -> DataFrame:
    """Records of a frame of raw JSON texts (``payload``, with ``_file``, ``_block`` and
    ``_rowid`` saying where each came from): a file's lines, or a Kafka topic's messages
    (:mod:`foryou.stream`). Every record gets the columns described in this module's doc;
    ``keep`` names further columns of ``located`` to carry along."""
    schema = StructType([StructField(f, StringType()) for f in fields]
                        + [StructField(CORRUPT, StringType())])
    parsed = F.from_json(PAYLOAD, schema, {"columnNameOfCorruptRecord": CORRUPT, "mode": "PERMISSIVE"})
    blank = F.trim(F.col(PAYLOAD)) == ""
    keys = F.json_object_keys(PAYLOAD)
    repeated = F.filter(keys, lambda k: F.size(F.filter(keys, lambda other: other == k)) > 1)
    broken = ~blank & (F.col("_parsed").isNull() | F.col(f"_parsed.{CORRUPT}").isNotNull())
    malformed = (
        F.when(blank, F.lit(None))
        .when(~F.is_valid_utf8(PAYLOAD), _utf8_reason(fields, "_parsed."))
        .when(broken, F.when(F.trim(F.col(PAYLOAD)).startswith("{"), F.lit("malformed JSON"))
              .otherwise(F.lit("malformed JSON: not a JSON object")))
        .when(F.size(repeated) > 0,
              F.concat(F.lit("malformed JSON: key '"), repeated[0], F.lit("' appears more than once")))
        .otherwise(_utf8_reason(fields, "_parsed.")))
    return (located.withColumn("_parsed", parsed)
            .withColumn("_variant", F.try_parse_json(PAYLOAD))
            .select(PAYLOAD, FILE, BLOCK, ROWID, *keep,
                    blank.alias(BLANK), malformed.alias(MALFORMED),
                    *[F.col(f"_parsed.`{f}`").alias(f) for f in fields],
                    *[_json_type(F.col("_variant"), f).alias(json_type_of(f)) for f in fields]))


def csv_header(spark: SparkSession, path: str, sep: str) -> tuple[str, ...]:
    """The column names in the first line of one CSV file (a BOM dropped, names trimmed)."""
    line = first_line(spark, path).lstrip("\ufeff")
    return tuple(c.strip() for c in next(csv.reader([line], delimiter=sep), []))


def _csv_group(spark: SparkSession, paths: Sequence[str], header: tuple[str, ...],
               wanted: Sequence[str], sep: str, has_header: bool) -> DataFrame:
    """Files sharing one header, each column named by that header."""
    # Unique names to read with: a header may repeat a name (the record is then malformed).
    names = [f"_c{i}" for i in range(len(header))]
    schema = StructType([StructField(n, StringType()) for n in names]
                        + [StructField(CORRUPT, StringType())])
    df = (spark.read.option("header", has_header).option("sep", sep).option("multiLine", True)
          .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT)
          .option("enforceSchema", True).schema(schema).csv(list(paths)))
    repeated = sorted({c for c in header if header.count(c) > 1})
    position = {c: names[i] for i, c in reversed(list(enumerate(header)))}
    payload = F.to_json(F.struct(*[F.col(n).alias(c) for n, c in zip(names, header)]))
    malformed = (F.lit(f"malformed CSV header: column '{repeated[0]}' appears more than once")
                 if repeated else
                 F.when(F.col(CORRUPT).isNotNull(),
                        F.lit(f"malformed CSV row: expected {len(header)} cells")))
    return df.select(
        F.coalesce(F.col(CORRUPT), payload).alias(PAYLOAD), *_located(df), F.lit(False).alias(BLANK),
        malformed.alias(MALFORMED),
        *[(F.col(position[f]) if f in position else F.lit(None).cast("string")).alias(f)
          for f in wanted])


def read_csv(spark: SparkSession, paths: Sequence[str], fields: Sequence[str] | None = None,
             sep: str = ",", header: bool = True) -> RawRecords:
    """CSV rows, every column as a string; a row with the wrong number of cells is
    malformed. Each file's own header names its columns (files are read in groups of one
    header); ``fields=None`` keeps every column any header names. Without a header, columns
    are named ``_c0, _c1, ...`` by position as Spark does."""
    if header:
        headers = {p: csv_header(spark, p, sep) for p in paths}
    else:
        width = len(spark.read.option("sep", sep).csv(list(paths)).columns)
        headers = {p: tuple(f"_c{i}" for i in range(width)) for p in paths}
    groups: dict[tuple[str, ...], list[str]] = {}
    for p in paths:
        groups.setdefault(headers[p], []).append(p)
    wanted = list(fields) if fields is not None else list(dict.fromkeys(
        c for h in groups for c in h if c))
    frames = [_csv_group(spark, group, h, wanted, sep, header) for h, group in groups.items()]
    frame = reduce(DataFrame.unionByName, frames)
    frame = frame.withColumn(MALFORMED, F.coalesce(F.col(MALFORMED), _utf8_reason(wanted)))
    return RawRecords(frame, ROW)


def _as_string(field: StructField) -> Column:
    col = F.col(f"`{field.name}`")
    if isinstance(field.dataType, TimestampType):
        # With the offset, so the instant survives whatever the session's zone is.
        return F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")
    if isinstance(field.dataType, (ArrayType, MapType, StructType)):
        return F.to_json(col)
    return col.cast("string")


def _parquet_group(spark: SparkSession, paths: Sequence[str], fields: Sequence[str]) -> DataFrame:
    df = spark.read.parquet(*paths)
    have = {f.name: f for f in df.schema.fields}
    return df.select(
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])).alias(PAYLOAD),
        *_located(df), F.lit(False).alias(BLANK), F.lit(None).cast("string").alias(MALFORMED),
        *[(_as_string(have[f]) if f in have else F.lit(None).cast("string")).alias(f) for f in fields],
    )


def read_parquet(spark: SparkSession, paths: Sequence[str], fields: Sequence[str]) -> RawRecords:
    """Parquet rows; typed columns are turned to strings and re-checked like any input.

    Files are grouped by their own schema (one footer read each) and each group read on its
    own: Spark reads a folder with the first file's schema and fails on a file that types a
    column differently."""
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(spark.read.parquet(p).schema.json(), []).append(p)
    frame = reduce(DataFrame.unionByName, [_parquet_group(spark, g, fields) for g in groups.values()])
    frame = frame.withColumn(MALFORMED, F.coalesce(F.col(MALFORMED), _utf8_reason(fields)))
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
