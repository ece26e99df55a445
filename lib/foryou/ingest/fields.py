"""Typed field parsing for raw records, as Spark SQL expressions (no Python UDFs).

Every parser here turns a string column into a typed column and pairs it with a *reason*
column that is null when the value is fine and otherwise names the field and the value,
e.g. ``field 'position': not an integer: 'abc'``. Ingest adapters collect these reasons;
a record with any reason goes to ``bronze.quarantine`` instead of bronze.

Timestamps arrive in several shapes from real producers, all parsed to the UTC instant:

* ISO-8601 with ``Z`` or an offset (``2024-05-01T12:34:56.789Z``, ``...+02:00``, ``+0200``);
* ISO-8601 without a zone, read as UTC (never as the session's zone);
* epoch seconds or epoch milliseconds, integral or fractional (``1714566896``,
  ``1714566896.789``, ``1714566896789``); a magnitude of 1e11 or more is milliseconds
  (1e11 s is the year 5138, 1e11 ms is 1973);
* ``YYYY/MM/DD HH:MM:SS`` (read as UTC).

A value with no date (``"10:00:00"``, which Spark would give today's date) is not a
timestamp, and an instant outside the years 1900-9999 is refused as out of range (an epoch in
microseconds read as milliseconds lands in the year 56000): no reader of the lake expects one.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

# A zone suffix on an ISO string: Z, UTC or an offset such as +02:00 / +0200 / -05.
_ZONE_SUFFIX = r"(?i)(z|utc|[+-][0-9]{2}(:?[0-9]{2})?)$"
_EPOCH = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
# ISO strings must start with a date: a bare time would become today's date.
_ISO_DATE = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
_SLASHED = r"^[0-9]{4}/[0-9]{1,2}/[0-9]{1,2} [0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"
# Integers as producers write them: "12", "-3", and the JSON reader's "12.0" for 12.0/1.2e1.
_INTEGRAL = r"^-?[0-9]{1,18}(\.0*)?$"
# Epoch values at or above this magnitude are milliseconds.
EPOCH_MILLIS_FROM = 1e11
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
# Plausible instants: every reader (Python's datetime, Arrow, pandas) represents these.
EARLIEST_TS, LATEST_TS = "1900-01-01T00:00:00Z", "9999-12-31T23:59:59Z"


@dataclass(frozen=True)
class Parsed:
    """A typed value and the reason it could not be parsed (null when it could)."""

    value: Column
    reason: Column


def blank(col: Column) -> Column:
    """True where a raw value is absent: null, empty or only whitespace."""
    return col.isNull() | (F.trim(col) == "")


def quoted(col: Column, limit: int = 80) -> Column:
    """The raw value quoted for a reason message, cut to ``limit`` characters."""
    text = F.when(F.length(col) > limit, F.concat(F.substring(col, 1, limit), F.lit("..."))) \
        .otherwise(col)
    return F.concat(F.lit("'"), text, F.lit("'"))


def required(name: str, col: Column) -> Column:
    """Reason for a missing required field (null, empty or blank), else null."""
    return F.when(blank(col), F.lit(f"missing required field '{name}'"))


def utc_timestamp_value(col: Column) -> Column:
    """Parse a string in any accepted timestamp shape to a UTC timestamp (null if none fits)."""
    text = F.trim(col)
    epoch = text.try_cast("double")
    epoch_micros = F.when(F.abs(epoch) >= EPOCH_MILLIS_FROM, epoch * 1e3).otherwise(epoch * 1e6)
    iso = F.when(text.rlike(_ZONE_SUFFIX), text).otherwise(F.concat(text, F.lit("Z")))
    slashed = F.regexp_replace(text, "/", "-")
    return (
        F.when(text.rlike(_EPOCH), F.timestamp_micros(F.round(epoch_micros).try_cast("long")))
        .when(text.rlike(_SLASHED), F.try_to_timestamp(F.concat(slashed, F.lit("Z"))))
        .when(text.rlike(_ISO_DATE), F.try_to_timestamp(iso))
    )


def in_range(ts: Column) -> Column:
    """True where a parsed timestamp lies within the years 1900-9999."""
    return ts.between(F.lit(EARLIEST_TS).cast("timestamp"), F.lit(LATEST_TS).cast("timestamp"))


def utc_timestamp(name: str, col: Column) -> Parsed:
    """A timestamp field: value in UTC, reason when present but unparseable or out of range."""
    parsed = utc_timestamp_value(col)
    value = F.when(in_range(parsed), parsed)
    reason = (F.when(blank(col), F.lit(None))
              .when(parsed.isNull(), F.concat(F.lit(f"field '{name}': unparseable timestamp "), quoted(col)))
              .when(value.isNull(), F.concat(F.lit(f"field '{name}': timestamp out of range "
                                                   f"(years 1900-9999) "), quoted(col))))
    return Parsed(value, reason)


def integer(name: str, col: Column, bits: int = 64) -> Parsed:
    """An integer field (``bits`` 32 or 64): value, reason when present but not an integer."""
    text = F.trim(col)
    ok = text.rlike(_INTEGRAL)
    as_long = F.regexp_replace(text, r"\.0*$", "").try_cast("long")
    if bits == 32:
        ok = ok & as_long.between(INT_MIN, INT_MAX)
        value = F.when(ok, as_long.try_cast("int"))
    else:
        value = F.when(ok, as_long)
    reason = F.when(~blank(col) & ~ok,
                    F.concat(F.lit(f"field '{name}': not an integer: "), quoted(col)))
    return Parsed(value, reason)


def scalar(name: str, col: Column) -> Parsed:
    """An id-like string field: reason when the producer sent an object or array instead."""
    value = F.when(~blank(col), col)
    # from_json renders an object or array given for a string field as its JSON text.
    reason = F.when(F.substring(F.ltrim(col), 1, 1).isin("[", "{"),
                    F.concat(F.lit(f"field '{name}': expected a scalar, got "), quoted(col)))
    return Parsed(value, reason)


def json_type(name: str, sent: Column, col: Column, allowed: tuple[str, ...]) -> Column:
    """Reason when a JSON field's type (``sent``: string, number, boolean, null, object,
    array) is not one of ``allowed``; null (absent) is always allowed."""
    article = F.when(sent.isin("object", "array"), F.lit("an ")).otherwise(F.lit("a "))
    return F.when(sent.isNotNull() & ~sent.isin("null", *allowed),
                  F.concat(F.lit(f"field '{name}': expected {' or '.join(allowed)}, got "),
                           article, sent, F.lit(" "), quoted(col)))


def utc_date(ts: Column) -> Column:
    """The UTC calendar date of a timestamp, whatever the session's time zone."""
    return F.to_date(F.to_utc_timestamp(ts, F.current_timezone()))


def reasons(*parts: Column) -> Column:
    """All non-null reasons joined by '; ' (null when there is none)."""
    joined = F.concat_ws("; ", *parts)
    return F.when(joined != "", joined)
