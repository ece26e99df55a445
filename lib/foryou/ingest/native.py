"""The native adapter: our app's raw events, content and user records to bronze.

The raw layout is the synthetic world generator's (and a producer's) landing zone::

    <root>/events/date=YYYY-MM-DD/part-*.jsonl   one event per line
    <root>/content/*                             content uploads
    <root>/users/*                               user profiles

in JSON lines (default), CSV or Parquet. Each table's fields are declared once below with
their kind; checking and emitting are driven by those declarations, so a field is typed and
its failures named in exactly one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foryou.ingest import fields as fld
from foryou.ingest.batch import INGEST_ID, INGESTED_AT, REASON, SOURCE, Adapter
from foryou.ingest.records import PAYLOAD, json_type_of, read
from foryou.lake import table
from foryou.lake.vocabulary import (
    BRONZE_CONTENT as CONTENT, BRONZE_EVENTS as EVENTS, BRONZE_USERS as USERS, CONTENT_ID,
    CREATOR_ID, EVENT_DATE, EVENT_TS, USER_ID,
)

SOURCE_NAME = "native"
# Field kinds: how the raw string is typed and what makes it wrong.
ID, TEXT, TS, INT, LONG, TAGS = "id", "text", "timestamp", "int", "long", "tags"

EVENT_FIELDS: dict[str, str] = {
    "event_id": ID, "event_type": ID, USER_ID: ID, EVENT_TS: TS,
    CONTENT_ID: ID, CREATOR_ID: ID, "request_id": ID, "position": INT, "watch_ms": LONG,
    "exposure": TEXT, "platform": TEXT, "reason": TEXT, "comment_text": TEXT,
    "device_type": TEXT, "os": TEXT, "network_type": TEXT, "app_version": TEXT,
    "country": TEXT, "language": TEXT, "received_at": TS,
}
CONTENT_FIELDS: dict[str, str] = {
    CONTENT_ID: ID, CREATOR_ID: ID, "upload_ts": TS, "duration_ms": LONG, "tags": TAGS,
    "description": TEXT, "content_type": TEXT,
}
USER_FIELDS: dict[str, str] = {
    USER_ID: ID, "signup_ts": TS, "country": TEXT, "language": TEXT,
    "activity_degree": TEXT, "follow_count": LONG, "follower_count": LONG,
}
# The JSON types each kind accepts (JSON lines only; null always means absent). Ids and text
# must be strings: a producer sending ``true`` or ``12.5`` as a user id has a bug, and reading
# it as the text "true" would file its events under a user who does not exist.
JSON_TYPES: dict[str, tuple[str, ...]] = {
    ID: ("string",), TEXT: ("string",), TS: ("string", "number"),
    INT: ("number", "string"), LONG: ("number", "string"), TAGS: ("array", "string"),
}


def _typed(name: str) -> str:
    return f"_v_{name}"


def _parse(name: str, kind: str, col) -> fld.Parsed:
    if kind == TS:
        return fld.utc_timestamp(name, col)
    if kind == INT:
        return fld.integer(name, col, bits=32)
    if kind == LONG:
        return fld.integer(name, col)
    if kind == ID:
        return fld.scalar(name, col)
    if kind == TAGS:
        # A JSON list of tag ids becomes the comma-separated string bronze keeps.
        as_list = F.from_json(col, "array<string>")
        listed = F.trim(col).startswith("[")
        value = F.when(listed, F.array_join(as_list, ",")).otherwise(col)
        reason = F.when(listed & as_list.isNull(),
                        F.concat(F.lit(f"field '{name}': not a list of strings: "), fld.quoted(col)))
        return fld.Parsed(value, reason)
    return fld.Parsed(col, F.lit(None).cast("string"))


def check_fields(frame: DataFrame, kinds: dict[str, str], required: Sequence[str]) -> DataFrame:
    """Type every declared field into ``_v_<name>`` and set ``_reason`` to all failures
    (missing required fields first, then JSON types the kind does not take, then values that
    do not parse, in declaration order)."""
    parsed = {name: _parse(name, kind, F.col(name)) for name, kind in kinds.items()}
    typed = {name for name in kinds if json_type_of(name) in frame.columns}
    json_types = [fld.json_type(n, F.col(json_type_of(n)), F.col(n), JSON_TYPES[kinds[n]])
                  for n in kinds if n in typed]
    # Where the JSON type is known it says all an id's scalar check would.
    values = [p.reason for n, p in parsed.items() if not (n in typed and kinds[n] == ID)]
    why = fld.reasons(*[fld.required(n, F.col(n)) for n in required], *json_types, *values)
    return frame.select("*", *[p.value.alias(_typed(n)) for n, p in parsed.items()],
                        why.alias(REASON))


def emit_fields(frame: DataFrame, kinds: dict[str, str], target: str) -> DataFrame:
    """Accepted records as rows of ``target``: typed fields, payload, lineage."""
    cols = [F.col(_typed(n)).alias(n) for n in kinds]
    names = {c.name for c in table(target).columns}
    if EVENT_DATE in names:
        cols.append(fld.utc_date(F.col(_typed(EVENT_TS))).alias(EVENT_DATE))
    return frame.select(*cols, PAYLOAD, INGEST_ID, SOURCE, INGESTED_AT)


def _required(target: str, kinds: dict[str, str]) -> list[str]:
    return [c for c in table(target).required if c in kinds]


@dataclass(frozen=True)
class NativeTable:
    """One native record kind: its bronze table, world sub-folder and fields."""

    target: str
    folder: str
    kinds: dict[str, str]


NATIVE_TABLES = (
    NativeTable(EVENTS, "events", EVENT_FIELDS),
    NativeTable(CONTENT, "content", CONTENT_FIELDS),
    NativeTable(USERS, "users", USER_FIELDS),
)


def adapter(spark: SparkSession, fmt: str, native: NativeTable, sep: str = ",") -> Adapter:
    """The native adapter of one table for raw format ``fmt`` (json, csv or parquet)."""
    kinds = native.kinds
    return Adapter(
        source=SOURCE_NAME,
        target=native.target,
        read=lambda paths: read(spark, fmt, paths, list(kinds), sep),
        check=partial(check_fields, kinds=kinds, required=_required(native.target, kinds)),
        emit=partial(emit_fields, kinds=kinds, target=native.target),
    )
