"""The generic interaction-log adapter: ``user, item, timestamp[, weight]`` rows to events.

For users whose only data is an implicit-feedback log (MovieLens, Last.fm, a click log):

    foryou ingest --format interactions --path FILE_OR_DIR \\
        --columns user=userId,item=movieId,ts=timestamp[,weight=rating] [--sep ,] [--ts-unit s|ms]

Each row becomes one ``view`` event of ``user`` on ``item`` at ``ts`` (``watch_ms`` stays
null: the log does not say how long). With a ``weight`` column, a row whose weight is at
least ``ingest.interactions_like_weight`` (default 4.0: 4 and 5 stars are the usual
explicit-feedback positives) also gives a ``like`` one millisecond later; the weight itself
stays in ``payload``. Rows carry ``source = "interactions"`` and no ``request_id``: the log has
no impressions, so the impressions stage marks them ``has_impressions = false`` and samples
negatives instead of reading served-but-ignored items.

Timestamps: with ``--ts-unit s`` or ``ms`` the column must be a number in that epoch unit;
without it any format :func:`foryou.ingest.fields.utc_timestamp` knows is accepted. A
mapped column absent from the file is an :class:`IngestError` naming it; a row with a
missing or unreadable value is quarantined with the field named.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from foryou.ingest import fields as fld
from foryou.ingest.batch import INGEST_ID, INGESTED_AT, REASON, SOURCE as SOURCE_COL, Adapter, IngestError
from foryou.ingest.records import PAYLOAD, RawRecords, read_csv, read_parquet
from foryou.lake.vocabulary import (
    BRONZE_EVENTS, CONTENT_ID, EVENT_DATE, EVENT_TS, INTERACTION_LOG, USER_ID,
)

SOURCE = INTERACTION_LOG
ROLES = ("user", "item", "ts", "weight")
REQUIRED_ROLES = ("user", "item", "ts")
TS_UNITS = {"s": 1_000_000, "ms": 1_000}
_TS, _WEIGHT = "_v_ts", "_v_weight"


def parse_roles(text: str, option: str, roles: Sequence[str], required: Sequence[str]) -> dict[str, str]:
    """``ROLE=COLUMN,...`` to {role: column}; an error names the option and the bad part."""
    mapped: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        role, sep, column = part.partition("=")
        role, column = role.strip(), column.strip()
        if not sep or not column:
            raise IngestError(f"{option}: {part!r} is not ROLE=COLUMN")
        if role not in roles:
            raise IngestError(f"{option}: unknown role {role!r}; roles: {', '.join(roles)}")
        mapped[role] = column
    missing = [r for r in required if r not in mapped]
    if missing:
        raise IngestError(f"{option}: role {missing[0]!r} is required (roles: {', '.join(roles)})")
    return mapped


@dataclass(frozen=True)
class ColumnMap:
    """Which source column plays which role."""

    user: str
    item: str
    ts: str
    weight: str | None = None

    @classmethod
    def parse(cls, text: str) -> "ColumnMap":
        """Parse ``user=COL,item=COL,ts=COL[,weight=COL]``; errors name the offending part."""
        return cls(**parse_roles(text, "--columns", ROLES, REQUIRED_ROLES))

    def roles(self) -> dict[str, str]:
        return {r: getattr(self, r) for r in ROLES if getattr(self, r) is not None}

    def columns(self) -> list[str]:
        return list(self.roles().values())


def _parquet(paths: Sequence[str]) -> bool:
    return all(p.endswith(".parquet") for p in paths)


def check_columns(spark: SparkSession, paths: Sequence[str], roles: dict[str, str], sep: str,
                  option: str = "--columns") -> None:
    """Raise :class:`IngestError` naming the first mapped column (``{role: column}``) the
    files lack (reads only the header or the Parquet footer)."""
    if _parquet(paths):
        have = spark.read.parquet(*paths).columns
    else:
        have = spark.read.option("header", True).option("sep", sep).csv(list(paths)).columns
    for role, column in roles.items():
        if column not in have:
            hint = " (is --sep right?)" if len(have) == 1 else ""
            raise IngestError(f"{option} {role}={column}: column {column!r} is not in "
                              f"{paths[0]}; its columns are {', '.join(have)}{hint}")


def _read(spark: SparkSession, paths: Sequence[str], mapping: ColumnMap, sep: str) -> RawRecords:
    # The mapped columns were checked by the caller (check_columns) before any file is read.
    if _parquet(paths):
        return read_parquet(spark, paths, mapping.columns())
    return read_csv(spark, paths, None, sep)


def _timestamp(col: Column, name: str, unit: str | None) -> fld.Parsed:
    if unit is None:
        return fld.utc_timestamp(name, col)
    number = F.trim(col).try_cast("double")
    ok = F.trim(col).rlike(r"^-?[0-9]+(\.[0-9]+)?$")
    value = F.when(ok, F.timestamp_micros(F.round(number * TS_UNITS[unit]).try_cast("long")))
    reason = F.when(~fld.blank(col) & ~ok,
                    F.concat(F.lit(f"field '{name}': not epoch {'seconds' if unit == 's' else 'milliseconds'}: "),
                             fld.quoted(col)))
    return fld.Parsed(value, reason)


def check(frame: DataFrame, mapping: ColumnMap, ts_unit: str | None) -> DataFrame:
    ts = _timestamp(F.col(mapping.ts), mapping.ts, ts_unit)
    why = [fld.required(mapping.user, F.col(mapping.user)),
           fld.required(mapping.item, F.col(mapping.item)),
           fld.required(mapping.ts, F.col(mapping.ts)), ts.reason]
    typed = [ts.value.alias(_TS)]
    if mapping.weight is not None:
        weight = F.col(mapping.weight)
        number = F.trim(weight).try_cast("double")
        why.append(F.when(~fld.blank(weight) & number.isNull(),
                          F.concat(F.lit(f"field '{mapping.weight}': not a number: "), fld.quoted(weight))))
        typed.append(number.alias(_WEIGHT))
    if mapping.user != USER_ID:
        # Lets quarantine rows carry the user (the forget-users job finds them by it).
        typed.append(F.col(mapping.user).alias(USER_ID))
    return frame.select("*", *typed, fld.reasons(*why).alias(REASON))


def emit(frame: DataFrame, mapping: ColumnMap, like_weight: float) -> DataFrame:
    liked = (F.col(_WEIGHT) >= like_weight) if mapping.weight is not None else F.lit(False)
    events = F.filter(F.array(
        F.struct(F.lit("view").alias("event_type"), F.lit(0).alias("offset_ms")),
        F.when(liked, F.struct(F.lit("like").alias("event_type"), F.lit(1).alias("offset_ms"))),
    ), lambda e: e.isNotNull())
    rows = frame.select("*", F.explode(events).alias("_event"))
    event_ts = F.timestamp_micros(F.unix_micros(F.col(_TS)) + F.col("_event.offset_ms") * 1000)
    event_id = F.substring(F.sha2(F.concat_ws(
        "|", F.lit(SOURCE), F.col(mapping.user), F.col(mapping.item),
        F.unix_micros(F.col(_TS)).cast("string"), F.col("_event.event_type")), 256), 1, 32)
    return rows.select(
        event_id.alias("event_id"), F.col("_event.event_type").alias("event_type"),
        F.col(mapping.user).alias(USER_ID), event_ts.alias(EVENT_TS),
        F.col(mapping.item).alias(CONTENT_ID),
        PAYLOAD, INGEST_ID, SOURCE_COL, INGESTED_AT, fld.utc_date(event_ts).alias(EVENT_DATE),
    )


def adapter(spark: SparkSession, mapping: ColumnMap, sep: str = ",", ts_unit: str | None = None,
            like_weight: float = 4.0) -> Adapter:
    """The interactions adapter for one column mapping."""
    if ts_unit is not None and ts_unit not in TS_UNITS:
        raise IngestError(f"--ts-unit {ts_unit!r}: expected one of {', '.join(TS_UNITS)}")
    return Adapter(SOURCE, BRONZE_EVENTS,
                   lambda paths: _read(spark, paths, mapping, sep),
                   lambda frame: check(frame, mapping, ts_unit),
                   lambda frame: emit(frame, mapping, like_weight), one_to_one=False)
