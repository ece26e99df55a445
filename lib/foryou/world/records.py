"""Render simulated rows (integer codes, epoch ms) as raw records, the way the app sends them.

The simulation emits compact numeric columns; Spark turns them into the raw record's strings
in the JVM (ids, ISO timestamps, categorical values) and applies the dirty kinds chosen in the
simulation (see ``dirty.py``). JSON lines are built with ``to_json`` (absent fields are
omitted); CSV and Parquet hold every field as a string, as received.

Raw event record (JSON field order): ``event_id, event_type, user_id, event_ts, content_id,
creator_id, request_id, position (int), watch_ms (int), platform, reason, comment_text,
device_type, os, network_type, app_version, country, language, received_at``. Timestamps are
ISO-8601 UTC with milliseconds (``2024-05-01T12:34:56.789Z``) unless a dirty kind says
otherwise. ``user_id`` of an ``upload`` is the uploading creator's account (``creator_id``).
"""
from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from foryou.world import dirty
from foryou.world.calibration import Calibration
from foryou.world.catalogue import tag_name
from foryou.world.ids import PREFIX, IdFormat
from foryou.world.vocabulary import (
    APP_VERSIONS, COMMENTS, COUNTRY_CODES, COUNTRY_LANGUAGES, DESCRIPTIONS, DEVICE_TYPES,
    EVENT_CODE, EVENT_TYPES, GENERIC_HASHTAGS, NETWORK_TYPES, OPERATING_SYSTEMS, REPORT_REASONS,
    SHARE_PLATFORMS, UNKNOWN_EVENT_TYPES,
)

ISO_PATTERN = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
DAY_MS = 86_400_000
YEAR_MS = 31_557_600_000  # 365.25 days
UTC_NAMES = ("UTC", "Etc/UTC", "Z", "+00:00", "GMT")
RAW_EVENT_FIELDS: tuple[str, ...] = (
    "event_id", "event_type", "user_id", "event_ts", "content_id", "creator_id", "request_id",
    "position", "watch_ms", "platform", "reason", "comment_text", "device_type", "os",
    "network_type", "app_version", "country", "language", "received_at",
)


def id_column(ids: IdFormat, kind: str, col: Column) -> Column:
    """The world's ids of ``kind`` (``user``, ``item``, ``creator``) for the numbers in ``col``."""
    return F.concat(F.lit(PREFIX[kind]), F.lpad(col.cast("string"), ids.width(kind), "0"))


def hex_id(col: Column) -> Column:
    """A 64-bit id as 16 lower-case hex digits (``ids.hex_ids`` in Arrow)."""
    return F.lpad(F.lower(F.hex(col)), 16, "0")


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pick(values: Sequence[str], code: str) -> Column:
    """``values[code]`` for the SQL expression ``code``, null where it is < 0.

    Built as one SQL expression: a Python ``F.array`` of literals costs one JVM call per value,
    and the renderer picks from lists of up to 69 values in a dozen places.
    """
    array = ", ".join(_sql_string(v) for v in values)
    return F.expr(f"CASE WHEN ({code}) >= 0 THEN element_at(array({array}), CAST(({code}) AS INT) + 1) END")


def utc_wall_clock(ms: Column, session_tz: str) -> Column:
    """A timestamp that ``date_format`` renders as the UTC wall clock of epoch ms.

    ``date_format`` renders in the session time zone (UTC in foryou's sessions); under another
    zone the instant is shifted so the rendering is still UTC.
    """
    ts = F.timestamp_millis(ms)
    if session_tz not in UTC_NAMES:
        ts = F.to_utc_timestamp(ts, session_tz)
    return ts


def iso(ms: Column, session_tz: str) -> Column:
    """Epoch ms as an ISO-8601 UTC string with milliseconds, whatever the session time zone."""
    return F.date_format(utc_wall_clock(ms, session_tz), ISO_PATTERN)


def utc_date(ms: Column) -> Column:
    """UTC calendar date of epoch ms (independent of the session time zone)."""
    return F.date_from_unix_date(F.floor(ms / DAY_MS).cast("int"))


def _event_ts(tz: str, fmt: str) -> Column:
    code, detail, ts = F.col("dirty"), F.col("detail"), F.col("ts")
    out = F.when(code == dirty.DIRTY_CODE["future_ts"], iso(ts + detail.cast("long") * YEAR_MS, tz))
    out = out.when((code == dirty.DIRTY_CODE["ts_format"]) & (detail == 2),
                   F.date_format(utc_wall_clock(ts, tz), "yyyy/MM/dd HH:mm:ss"))
    for i, (suffix, minutes) in enumerate(dirty.TS_OFFSETS, start=3):
        shifted = utc_wall_clock(ts + minutes * 60_000, tz)
        out = out.when((code == dirty.DIRTY_CODE["ts_format"]) & (detail == i),
                       F.concat(F.date_format(shifted, "yyyy-MM-dd'T'HH:mm:ss.SSS"), F.lit(suffix)))
    if fmt != "json":  # JSON writes epochs as numbers after serialisation
        epoch = (code == dirty.DIRTY_CODE["ts_format"]) & (detail <= 1)
        out = out.when(epoch & (detail == 0), F.floor(ts / 1000).cast("string"))
        out = out.when(epoch, ts.cast("string"))
    return out.otherwise(iso(ts, tz))


def event_fields(ids: IdFormat, tz: str, fmt: str) -> list[Column]:
    """The raw record's fields, in order, with the dirty kinds that act on single fields."""
    code, detail, etype = F.col("dirty"), F.col("detail"), F.col("etype")
    missing = lambda i: (code == dirty.DIRTY_CODE["missing_field"]) & (detail == i)  # noqa: E731
    is_upload = etype == EVENT_CODE["upload"]
    has_pos = F.col("pos") >= 0
    event_type = F.when(code == dirty.DIRTY_CODE["unknown_event_type"],
                        pick(UNKNOWN_EVENT_TYPES, "detail")).otherwise(pick(EVENT_TYPES, "etype"))
    user_id = F.when(is_upload, id_column(ids, "creator", F.col("creator"))).otherwise(
        id_column(ids, "user", F.col("user")))
    position = F.when(has_pos, F.col("pos").cast("int"))
    watch = F.when(etype == EVENT_CODE["view"], F.col("watch"))
    if fmt != "json":
        wrong = code == dirty.DIRTY_CODE["wrong_type"]
        position = F.when(wrong & (detail == 0), F.lit(dirty.WRONG_TYPE_VALUES[0])).otherwise(
            position.cast("string"))
        watch = F.when(wrong & (detail == 1), F.lit(dirty.WRONG_TYPE_VALUES[1])).otherwise(
            watch.cast("string"))
    fields = {
        "event_id": F.when(~missing(0), hex_id(F.col("eid"))),
        "event_type": F.when(~missing(1), event_type),
        "user_id": F.when(~missing(2), user_id),
        "event_ts": F.when(~missing(3), _event_ts(tz, fmt)),
        "content_id": F.when(F.col("item") >= 0, id_column(ids, "item", F.col("item"))),
        "creator_id": F.when(F.col("creator") >= 0, id_column(ids, "creator", F.col("creator"))),
        "request_id": F.when(has_pos, hex_id(F.col("req"))),
        "position": position,
        "watch_ms": watch,
        "platform": pick(SHARE_PLATFORMS, "platform"),
        "reason": pick(REPORT_REASONS, "reason"),
        "comment_text": pick(COMMENTS, "comment"),
        "device_type": pick(DEVICE_TYPES, "device"),
        "os": pick(OPERATING_SYSTEMS, "os"),
        "network_type": pick(NETWORK_TYPES, "net"),
        "app_version": pick(APP_VERSIONS, "app"),
        "country": pick(COUNTRY_CODES, "country"),
        "language": pick(COUNTRY_LANGUAGES, "country"),
        "received_at": iso(F.col("recv"), tz),
    }
    cols = [fields[name].alias(name) for name in RAW_EVENT_FIELDS]
    if fmt != "json":
        cols = [c.cast("string").alias(name) for c, name in zip(cols, RAW_EVENT_FIELDS)]
    return cols


def _json_dirt(line: Column) -> Column:
    """Apply the dirty kinds that act on the JSON text (numbers for epochs, wrong types, cuts)."""
    code, detail, ts = F.col("dirty"), F.col("detail"), F.col("ts")
    epoch = (code == dirty.DIRTY_CODE["ts_format"]) & (detail <= 1)
    epoch_text = F.concat(F.lit('"event_ts":'),
                          F.when(detail == 0, F.floor(ts / 1000)).otherwise(ts).cast("string"))
    wrong = code == dirty.DIRTY_CODE["wrong_type"]
    kept = F.floor(F.length(line) * detail / 10).cast("int")
    return (
        F.when(epoch, F.regexp_replace(line, F.lit('"event_ts":"[^"]*"'), epoch_text))
        .when(wrong & (detail == 0), F.regexp_replace(
            line, '"position":-?[0-9]+', f'"position":"{dirty.WRONG_TYPE_VALUES[0]}"'))
        .when(wrong & (detail == 1), F.regexp_replace(
            line, '"watch_ms":-?[0-9]+', f'"watch_ms":"{dirty.WRONG_TYPE_VALUES[1]}"'))
        .when(code == dirty.DIRTY_CODE["malformed_json"], F.substring(line, F.lit(1), kept))
        .otherwise(line)
    )


def raw_events(sim: DataFrame, ids: IdFormat, tz: str, fmt: str) -> DataFrame:
    """Raw event records with their arrival ``date``, in arrival order within each task.

    JSON gives columns ``date, value`` (one line per record); CSV and Parquet give ``date`` and
    the record's fields as strings.
    """
    ordered = sim.sortWithinPartitions(utc_date(F.col("recv")).alias("date"), "recv")
    if fmt == "json":
        line = F.to_json(F.struct(*event_fields(ids, tz, "json")))
        staged = ordered.withColumn("line_", line)
        return staged.select(utc_date(F.col("recv")).alias("date"),
                             _json_dirt(F.col("line_")).alias("value"))
    return ordered.select(utc_date(F.col("recv")).alias("date"), *event_fields(ids, tz, fmt))


def raw_users(profiles: DataFrame, ids: IdFormat, cal: Calibration, tz: str) -> DataFrame:
    """User profiles as the account service exports them."""
    cols = [
        id_column(ids, "user", F.col("user")).alias("user_id"),
        iso(F.col("signup_ms"), tz).alias("signup_ts"),
        pick(COUNTRY_CODES, "country").alias("country"),
        pick(COUNTRY_LANGUAGES, "country").alias("language"),
        pick(DEVICE_TYPES, "device").alias("device_type"),
        pick(OPERATING_SYSTEMS, "os").alias("os"),
        pick(APP_VERSIONS, "app").alias("app_version"),
        pick(cal.activity_degrees, "activity").alias("activity_degree"),
        F.col("follow_count"), F.col("follower_count"),
    ]
    return profiles.select(*cols)


def truth_users(profiles: DataFrame, ids: IdFormat, cal: Calibration) -> DataFrame:
    """Per user: bot flag, activity degree, initial interest vector (index = truth/tags.index)."""
    return profiles.select(
        id_column(ids, "user", F.col("user")).alias("user_id"),
        F.col("is_bot"),
        pick(cal.activity_degrees, "activity").alias("activity_degree"),
        F.col("interest"),
        F.col("propensity"),
    )


def raw_content(content: DataFrame, ids: IdFormat, tz: str, fmt: str, tag_ids: Sequence[str]
                ) -> DataFrame:
    """One record per video as the content service exports it (tags comma-joined in CSV).

    ``tags`` lists KuaiRand tag ids as strings; ``description`` is a caption followed by the
    tags' #hashtags and, for most videos, a generic one (#fyp).
    """
    tag_cols = sorted(c for c in content.columns if c.startswith("tag"))
    names = [tag_name(t) for t in tag_ids]
    tags = F.array_compact(F.array(*[pick(tag_ids, c) for c in tag_cols]))
    caption = F.replace(pick(DESCRIPTIONS, "caption"), F.lit("{n}"), F.col("number").cast("string"))
    hashtags = [F.concat(F.lit("#"), pick(names, c)) for c in tag_cols]
    generic = F.concat(F.lit("#"), pick(GENERIC_HASHTAGS, "generic"))
    return content.select(
        id_column(ids, "item", F.col("item")).alias("content_id"),
        id_column(ids, "creator", F.col("creator")).alias("creator_id"),
        iso(F.col("upload_ms"), tz).alias("upload_ts"),
        F.col("duration_ms"),
        (F.concat_ws(",", tags) if fmt == "csv" else tags).alias("tags"),
        F.concat_ws(" ", caption, *hashtags, generic).alias("description"),
    )


def truth_items(content: DataFrame, ids: IdFormat) -> DataFrame:
    """Latent item quality and whether the item is bad (spam and the like)."""
    return content.select(
        id_column(ids, "item", F.col("item")).alias("content_id"),
        id_column(ids, "creator", F.col("creator")).alias("creator_id"),
        F.timestamp_millis(F.col("upload_ms")).alias("upload_ts"),
        F.col("quality"), F.col("is_bad"),
    )
