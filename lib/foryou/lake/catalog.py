"""The table catalog: every table's schema, partitioning and key, declared once.

Table names are contracts (see DESIGN.md). A table ``<layer>.<name>`` lives at
``<lake.root>/<layer>/<name>``; ``docs/tables.md`` is generated from these declarations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


@dataclass(frozen=True)
class Column:
    """One declared column: name, Spark type, whether a writer must provide it, and its meaning."""

    name: str
    dtype: DataType
    doc: str
    required: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A table's contract: its columns, partitioning, unique key and grain."""

    name: str
    columns: tuple[Column, ...]
    doc: str
    partition_by: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    # Columns a reader looks rows up by; writers sort files by them.
    sort_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def short_name(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def schema(self) -> StructType:
        # Delta columns stay nullable; `required` is enforced by the layer on write.
        return StructType([StructField(c.name, c.dtype, True) for c in self.columns])

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _c(name: str, dtype: DataType, doc: str, required: bool = False) -> Column:
    return Column(name, dtype, doc, required)


S, L, I, D, F, B, TS, DT = (
    StringType(), LongType(), IntegerType(), DoubleType(), FloatType(), BooleanType(),
    TimestampType(), DateType(),
)

# Context columns every event can carry.
CONTEXT = (
    _c("device_type", S, "phone, tablet, ..."),
    _c("os", S, "android, ios, ..."),
    _c("network_type", S, "wifi, 4g, 5g, ..."),
    _c("app_version", S, "client app version"),
    _c("country", S, "ISO country code"),
    _c("language", S, "ISO language code"),
)

# Optional event fields, present as the event type needs them.
EVENT_FIELDS = (
    _c("content_id", S, "the item the event is about"),
    _c("creator_id", S, "the item's creator (follow/unfollow target)"),
    _c("request_id", S, "feed request that served the item"),
    _c("position", I, "0-based position in the served feed"),
    _c("watch_ms", L, "watch time in milliseconds (view events)"),
    _c("platform", S, "share target platform"),
    _c("reason", S, "report/hide reason"),
    _c("comment_text", S, "comment body"),
)

INGEST = (
    _c("ingest_id", S, "id of the ingest run and source file", True),
    _c("source", S, "adapter that produced the row: native, kuairand, interactions", True),
    _c("ingested_at", TS, "when the row was ingested (UTC)", True),
)

LABELS = (
    _c("click", I, "valid play (KuaiRand is_click)"),
    _c("long_view", I, "watched long enough to count as a long view"),
    _c("complete", I, "watched to the end"),
    _c("watch_ms", L, "total watch time in milliseconds"),
    _c("watch_ratio", D, "watch_ms / duration_ms"),
    _c("like", I, "liked"),
    _c("comment", I, "commented"),
    _c("share", I, "shared"),
    _c("follow", I, "followed the creator"),
    _c("save", I, "saved"),
    _c("skip", I, "skipped"),
    _c("hide", I, "hid"),
    _c("report", I, "reported"),
)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "bronze.events",
        (
            _c("event_id", S, "producer-assigned event id", True),
            _c("event_type", S, "event type as received", True),
            _c("user_id", S, "raw user id (bronze only: silver holds pseudonyms)", True),
            _c("event_ts", TS, "event time parsed to UTC", True),
            *EVENT_FIELDS,
            *CONTEXT,
            _c("received_at", TS, "when the producer says it sent the event"),
            _c("payload", S, "the raw record as received"),
            *INGEST,
            _c("event_date", DT, "UTC date of event_ts", True),
        ),
        "One raw event as received, plus ingest lineage.",
        partition_by=("event_date",),
    ),
    TableSpec(
        "bronze.quarantine",
        (
            _c("payload", S, "the raw record exactly as received", True),
            _c("reason", S, "why it was rejected; names the field", True),
            _c("record_ref", S, "file and line (or row) of the record"),
            *INGEST,
            _c("ingest_date", DT, "UTC date of the ingest run", True),
        ),
        "One rejected record with the reason it was rejected.",
        partition_by=("ingest_date",),
    ),
    TableSpec(
        "bronze.content",
        (
            _c("content_id", S, "item id", True),
            _c("creator_id", S, "creator id"),
            _c("upload_ts", TS, "upload time (UTC)"),
            _c("duration_ms", L, "video duration in milliseconds"),
            _c("tags", S, "comma-separated tag ids as received"),
            _c("description", S, "description text with hashtags"),
            _c("content_type", S, "video type as received"),
            _c("payload", S, "the raw record as received"),
            *INGEST,
        ),
        "Content uploads as received.",
    ),
    TableSpec(
        "bronze.users",
        (
            _c("user_id", S, "raw user id", True),
            _c("signup_ts", TS, "registration time (UTC)"),
            _c("country", S, "ISO country code"),
            _c("language", S, "ISO language code"),
            _c("activity_degree", S, "activity level as received"),
            _c("follow_count", L, "accounts the user follows"),
            _c("follower_count", L, "accounts following the user"),
            _c("payload", S, "the raw record as received"),
            *INGEST,
        ),
        "User profiles as received.",
    ),
    TableSpec(
        "silver.events",
        (
            _c("event_id", S, "unique event id", True),
            _c("event_type", S, "one of the known event types", True),
            _c("user_id", S, "pseudonymised user id (HMAC-SHA256 hex)", True),
            _c("event_ts", TS, "event time (UTC)", True),
            *EVENT_FIELDS,
            *CONTEXT,
            _c("ingest_id", S, "lineage to bronze", True),
            _c("source", S, "adapter that produced the row", True),
            _c("event_date", DT, "UTC date of event_ts", True),
        ),
        "One cleaned, typed event; event_id is unique.",
        partition_by=("event_date",),
        key=("event_id",),
    ),
    TableSpec(
        "silver.content",
        (
            _c("content_id", S, "item id", True),
            _c("creator_id", S, "creator id"),
            _c("upload_ts", TS, "upload time (UTC)"),
            _c("duration_ms", L, "video duration in milliseconds"),
            _c("tags", ArrayType(S), "tag ids"),
            _c("description", S, "description text"),
            _c("updated_at", TS, "ingest time of the latest version", True),
        ),
        "One row per content_id, its latest version.",
        key=("content_id",),
    ),
    TableSpec(
        "silver.users",
        (
            _c("user_id", S, "pseudonymised user id", True),
            _c("signup_ts", TS, "registration time (UTC)"),
            _c("country", S, "ISO country code"),
            _c("language", S, "ISO language code"),
            _c("activity_degree", S, "activity level"),
            _c("follow_count", L, "accounts the user follows"),
            _c("follower_count", L, "accounts following the user"),
            _c("updated_at", TS, "ingest time of the latest version", True),
        ),
        "One row per user_id, its latest version.",
        key=("user_id",),
    ),
    TableSpec(
        "silver.impressions",
        (
            _c("request_id", S, "feed request", True),
            _c("position", I, "position in the served feed", True),
            _c("user_id", S, "pseudonymised user id", True),
            _c("content_id", S, "served item", True),
            _c("creator_id", S, "the item's creator"),
            _c("event_ts", TS, "impression time (UTC)", True),
            *(c for c in LABELS),
            _c("has_impressions", B, "false for logs without impression events (sampled later)"),
            *CONTEXT[:3],
            _c("event_date", DT, "UTC date of the impression", True),
        ),
        "One served item with its outcome labels.",
        partition_by=("event_date",),
        key=("request_id", "position"),
    ),
    TableSpec(
        "silver.sessions",
        (
            _c("session_id", S, "deterministic id: user and start time", True),
            _c("user_id", S, "pseudonymised user id", True),
            _c("session_start", TS, "first event (UTC)", True),
            _c("session_end", TS, "last event (UTC)", True),
            _c("duration_s", D, "session_end - session_start in seconds"),
            _c("events", L, "events in the session"),
            _c("views", L, "view events"),
            _c("watch_ms", L, "total watch time"),
            _c("engagements", L, "likes, comments, shares, follows, saves"),
            _c("session_date", DT, "UTC date of session_start", True),
        ),
        "One user session: events separated by less than the inactivity gap.",
        partition_by=("session_date",),
        key=("session_id",),
    ),
    TableSpec(
        "gold.user_features",
        (
            _c("user_id", S, "pseudonymised user id", True),
            _c("features", MapType(S, D), "named numeric features"),
            _c("as_of_date", DT, "features use events strictly before this date", True),
        ),
        "One row per user per as_of_date.",
        partition_by=("as_of_date",),
        key=("user_id", "as_of_date"),
    ),
    TableSpec(
        "gold.item_features",
        (
            _c("content_id", S, "item id", True),
            _c("features", MapType(S, D), "named numeric features"),
            _c("as_of_date", DT, "features use events strictly before this date", True),
        ),
        "One row per item per as_of_date.",
        partition_by=("as_of_date",),
        key=("content_id", "as_of_date"),
    ),
    TableSpec(
        "gold.training_examples",
        (
            _c("request_id", S, "feed request", True),
            _c("position", I, "position in the served feed", True),
            _c("user_id", S, "pseudonymised user id", True),
            _c("content_id", S, "served item", True),
            _c("event_ts", TS, "impression time", True),
            *LABELS,
            _c("split", S, "train, validation or test"),
            _c("event_date", DT, "UTC date of the impression", True),
        ),
        "One impression with point-in-time features and labels.",
        partition_by=("event_date",),
        key=("request_id", "position"),
    ),
    TableSpec(
        "gold.item_embeddings",
        (
            _c("content_id", S, "item id", True),
            _c("vector", ArrayType(F), "embedding", True),
            _c("kind", S, "collaborative or content"),
            _c("model_version", S, "embedding model version", True),
        ),
        "One vector per item per model_version.",
        key=("content_id", "model_version"),
        sort_by=("content_id",),
    ),
    TableSpec(
        "gold.user_embeddings",
        (
            _c("user_id", S, "pseudonymised user id", True),
            _c("vector", ArrayType(F), "embedding", True),
            _c("model_version", S, "embedding model version", True),
        ),
        "One vector per user per model_version.",
        key=("user_id", "model_version"),
        sort_by=("user_id",),
    ),
    TableSpec(
        "gold.user_candidates",
        (
            _c("user_id", S, "pseudonymised user id", True),
            _c("rank", I, "1..N, 1 is shown first", True),
            _c("content_id", S, "recommended item", True),
            _c("score", D, "final feed score", True),
            _c("source", S, "candidate source (ann, collaborative, trending, ...)", True),
            _c("model_version", S, "ranker model version", True),
            _c("generated_at", TS, "when the list was generated (UTC)", True),
        ),
        "Export: the ranked feed per user, laid out for lookups by user_id.",
        key=("user_id", "rank"),
        sort_by=("user_id", "rank"),
    ),
    TableSpec(
        "gold.metrics",
        (
            _c("run_id", S, "one id per job run", True),
            _c("stage", S, "job or pipeline stage", True),
            _c("name", S, "metric name", True),
            _c("value", D, "metric value"),
            _c("unit", S, "unit: rows, s, ratio, ..."),
            _c("detail", S, "JSON with labels or context"),
            _c("recorded_at", TS, "when it was recorded (UTC)", True),
            _c("run_date", DT, "the run date the job ran for", True),
        ),
        "One metric value per run, stage and name.",
        partition_by=("run_date",),
        key=("run_id", "stage", "name"),
    ),
)

CATALOG: dict[str, TableSpec] = {t.name: t for t in TABLES}


def table(name: str) -> TableSpec:
    """Look a table up by its contract name, e.g. ``"silver.events"``."""
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown table {name!r}; known tables: {known}") from None
