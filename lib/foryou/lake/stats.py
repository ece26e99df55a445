"""Delta per-file statistics built from Parquet footers.

delta-rs does not compute ``AddAction.stats``; without them readers cannot skip files.
Values follow the Delta protocol: timestamps as ISO-8601 UTC truncated to milliseconds
(max rounded up so skipping stays safe), strings only when short enough not to be truncated.

Nothing here assumes a footer's value fits a Python type: a timestamp past the year 9999
(no ``datetime``), bytes that are not UTF-8 in a string column, an unexpected logical type -
any value that cannot be read or rendered leaves that column without min/max (readers then
simply do not skip on it), and the write goes on.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import pyarrow.parquet as pq

# Delta truncates string stats to this prefix length; a truncated max would be wrong.
MAX_STRING_STAT = 32


def _ms_floor(ts: dt.datetime) -> dt.datetime:
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _ms_ceil(ts: dt.datetime) -> dt.datetime:
    floor = _ms_floor(ts)
    return floor if floor == ts else floor + dt.timedelta(milliseconds=1)


def _json_value(value, is_max: bool):
    if isinstance(value, bool):
        return None  # Delta keeps only null counts for booleans
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        value = value.astimezone(dt.timezone.utc)
        value = _ms_ceil(value) if is_max else _ms_floor(value)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING_STAT else None
    return None


def file_stats(path: str, partition_columns: tuple[str, ...] = ()) -> tuple[int, str]:
    """Return ``(num_rows, stats_json)`` for one Parquet file, from its footer only."""
    meta = pq.read_metadata(path)
    schema = meta.schema.to_arrow_schema()
    mins: dict = {}
    maxs: dict = {}
    nulls: dict = {}
    top_level = {name: i for i, name in enumerate(schema.names)}
    for col_index in range(meta.num_columns):
        col_path = meta.schema.column(col_index).path
        if col_path not in top_level or col_path in partition_columns:
            continue  # nested leaves and partition columns carry no Delta stats
        lo = hi = None
        null_count = 0
        complete = True
        bounded = True
        for rg in range(meta.num_row_groups):
            st = meta.row_group(rg).column(col_index).statistics
            if st is None:
                complete = False
                break
            null_count += st.null_count if st.has_null_count else 0
            if st.has_min_max and bounded:
                try:
                    lo = st.min if lo is None else min(lo, st.min)
                    hi = st.max if hi is None else max(hi, st.max)
                except (ArithmeticError, ValueError, TypeError):  # OverflowError, UnicodeDecodeError
                    bounded, lo, hi = False, None, None
        if not complete:
            continue
        nulls[col_path] = null_count
        if lo is not None:
            jlo, jhi = _json_value(lo, False), _json_value(hi, True)
            if jlo is not None and jhi is not None:
                mins[col_path], maxs[col_path] = jlo, jhi
    stats = {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}
    return meta.num_rows, json.dumps(stats, separators=(",", ":"))
