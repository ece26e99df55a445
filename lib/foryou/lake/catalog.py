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

from foryou.lake.vocabulary import (
    BRONZE_CONTENT, BRONZE_EVENTS, BRONZE_INGESTED_FILES, BRONZE_QUARANTINE, BRONZE_USERS,
    CONTENT_ID, CREATOR_ID, EVENT_DATE, EVENT_TS, GOLD_CANDIDATE_POOL, GOLD_COLD_START_WAVES,
    GOLD_ITEM_EMBEDDINGS, GOLD_ITEM_FEATURES, GOLD_METRICS, GOLD_TRAINING_EXAMPLES,
    GOLD_SESSION_MODEL, GOLD_USER_AFFINITIES, GOLD_USER_CANDIDATES, GOLD_USER_EMBEDDINGS,
    GOLD_USER_FEATURES, GOLD_USER_SHORT_TERM, GOLD_VOCABULARIES, SILVER_CONTENT, SILVER_EVENTS,
    SILVER_IMPRESSIONS, SILVER_SESSIONS, SILVER_USERS, USER_ID,
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

    def laid_out(self, df):
        """``df`` range-partitioned and sorted by ``sort_by``, so each written file holds a
        sorted run of lookup keys (unchanged for a table without ``sort_by``)."""
        if not self.sort_by:
            return df
        return df.repartitionByRange(*self.sort_by).sortWithinPartitions(*self.sort_by)


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

EXPOSURE_DOC = ("how the item was chosen: 'random' (uniformly at random, e.g. KuaiRand's "
                "log_random: an unbiased test set) or 'policy' (by the serving policy); "
                "null: not stated, read as policy")

# Optional event fields, present as the event type needs them.
EVENT_FIELDS = (
    _c(CONTENT_ID, S, "the item the event is about"),
    _c(CREATOR_ID, S, "the item's creator (follow/unfollow target)"),
    _c("request_id", S, "feed request that served the item"),
    _c("position", I, "0-based position in the served feed"),
    _c("watch_ms", L, "watch time in milliseconds (view events)"),
    _c("exposure", S, EXPOSURE_DOC),
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

# Point-in-time features (issue #4). A feature row for as_of_date D uses only events
# strictly before D; the additive columns (counts, sums, decayed sums) are also the state
# the next day's run rolls forward, so each day reads one day of events, not the history.
USER_FEATURES = (
    _c(USER_ID, S, "pseudonymised user id", True),
    _c("events", L, "events of any type before as_of_date"),
    _c("impressions", L, "impression events"),
    _c("views", L, "view events"),
    _c("completes", L, "complete_view events"),
    _c("likes", L, "like events"),
    _c("comments", L, "comment events"),
    _c("shares", L, "share events"),
    _c("follows", L, "follow events"),
    _c("saves", L, "save events"),
    _c("skips", L, "skip events"),
    _c("hides", L, "hide events"),
    _c("reports", L, "report events"),
    _c("watch_ms", L, "total watch time of view events"),
    _c("engagement", D, "engagement: events weighted by features.engagement_weights"),
    _c("engagement_decayed", D, "engagement weighted by exp(-decay_per_day * age in days)"),
    _c("active_days", L, "days with at least one event"),
    _c("last_event_ts", TS, "latest event before as_of_date"),
    _c("sessions", L, "sessions that ended before as_of_date"),
    _c("session_seconds", D, "total duration of those sessions"),
    _c("session_views", L, "view events in those sessions"),
    _c("avg_session_s", D, "session_seconds / sessions"),
    _c("contents_per_session", D, "session_views / sessions"),
    _c("skip_rate", D, "skips per exposure (impressions, else views+skips+hides+reports)"),
    _c("hide_rate", D, "hides per exposure"),
    _c("report_rate", D, "reports per exposure"),
    _c("recent_content_ids", ArrayType(S), "last N items interacted with, newest first"),
    _c("recent_event_ts", ArrayType(TS), "time of each recent_content_ids interaction"),
    _c("recent_content_tags", ArrayType(ArrayType(S)), "tags of each of recent_content_ids"),
    _c("recent_tags", ArrayType(S), "distinct tags of recent_content_ids, newest first"),
    _c("tag_share", MapType(S, D), "share of engagement per tag (top features.max_tags)"),
    _c("interest_short", MapType(S, D), "tag interest of the last day (L1-normalised)"),
    _c("interest_mid", MapType(S, D), "tag interest, decayed with a mid_term_days time constant"),
    _c("interest_long", MapType(S, D), "tag interest, decayed with a long_term_days time constant"),
    _c("top_tag_days", MapType(S, D), "days since the last interaction with each top tag"),
    _c("top_creator_days", MapType(S, D), "days since the last interaction with each top creator"),
    _c("followed_creators", ArrayType(S), "creators followed at as_of_date"),
    _c("tag_impressions", MapType(S, L),
       "served impressions per tag (the features.max_tags most served tags)"),
    _c("tag_views", MapType(S, L), "valid plays per tag, same tags as tag_impressions"),
    _c("view_rate", D, "valid plays per served impression (creator affinity rows: each item once)"),
    _c("gaps", L, "inter-event gaps of at most features.bots.max_gap_s (the pace of activity)"),
    _c("gap_sum_s", D, "sum of those gaps in seconds"),
    _c("gap_sumsq_s", D, "sum of their squares"),
    _c("blind_engagements", L, "likes/follows on an item without a real view that day"),
    _c("burst_engagements", L, "engagements inside a coordinated burst on the same item"),
    _c("events_per_active_day", D, "bot signal: event rate"),
    _c("gap_cv", D, "bot signal: coefficient of variation of inter-event gaps"),
    _c("blind_share", D, "bot signal: blind_engagements / (likes + follows)"),
    _c("burst_share", D, "bot signal: burst_engagements / engagement events"),
    _c("anomaly_score", D, "engagement-farming score in [0, 1]"),
    _c("suspected_bot", B, "anomaly_score >= features.bots.threshold"),
    _c("as_of_date", DT, "features use events strictly before this date", True),
)

USER_AFFINITIES = (
    _c(USER_ID, S, "pseudonymised user id", True),
    _c("kind", S, "tag or creator", True),
    _c("key", S, "the tag or creator id", True),
    _c("weight", D, "weighted engagement with it before as_of_date"),
    _c("decayed_mid", D, "weight decayed with the mid-term time constant"),
    _c("decayed_long", D, "weight decayed with the long-term time constant"),
    _c("last_day", D, "weight on the day before as_of_date"),
    _c("impressions", L, "served impressions of its items before as_of_date"),
    _c("views", L, "valid plays (click label) among them"),
    _c("last_ts", TS, "latest interaction"),
    _c("followed", B, "creator: followed at as_of_date (latest follow/unfollow wins)"),
    _c("follow_ts", TS, "creator: time of the latest follow or unfollow"),
    _c("as_of_date", DT, "uses events strictly before this date", True),
)

ITEM_FEATURES = (
    _c(CONTENT_ID, S, "item id", True),
    _c(CREATOR_ID, S, "the item's creator"),
    _c("impressions", L, "served impressions before as_of_date"),
    _c("views", L, "valid plays (click label)"),
    _c("long_views", L, "long views"),
    _c("completes", L, "complete plays"),
    _c("watch_ms", L, "total watch time"),
    _c("watch_ratio_sum", D, "sum of watch_ratio over views"),
    _c("likes", L, "likes"),
    _c("comments", L, "comments"),
    _c("shares", L, "shares"),
    _c("follows", L, "follows made on the item"),
    _c("saves", L, "saves"),
    _c("skips", L, "skips"),
    _c("hides", L, "hides"),
    _c("reports", L, "reports"),
    _c("view_rate", D, "views / impressions, smoothed toward the global rate"),
    _c("completion_rate", D, "completes / views, smoothed toward the global mean"),
    _c("avg_watch_ratio", D, "watch ratio per view, smoothed"),
    _c("like_rate", D, "likes / views, smoothed"),
    _c("comment_rate", D, "comments / views, smoothed"),
    _c("share_rate", D, "shares / views, smoothed"),
    _c("follow_rate", D, "follows / views, smoothed"),
    _c("daily_views", ArrayType(L), "views per day, newest (as_of_date - 1) first"),
    _c("views_window", L, "views in the last growth_window_days"),
    _c("views_prev_window", L, "views in the window before that"),
    _c("growth_rate", D, "(views_window + 1) / (views_prev_window + 1) - 1"),
    _c("upload_ts", TS, "upload time"),
    _c("age_days", D, "days from upload to as_of_date"),
    _c("duration_ms", L, "video duration"),
    _c("duration_bucket", I, "0 unknown, 1.. by features.duration_buckets_s"),
    _c("creator_followers", L, "the creator's followers at as_of_date (from follow events)"),
    _c("creator_items", L, "the creator's items with features"),
    _c("creator_avg_like_rate", D, "mean like_rate of the creator's items"),
    _c("creator_avg_completion_rate", D, "mean completion_rate of the creator's items"),
    _c("creator_avg_watch_ratio", D, "mean avg_watch_ratio of the creator's items"),
    _c("tags", ArrayType(S), "tag ids"),
    _c("hashtags", ArrayType(S), "hashtags of the description, lower case"),
    _c("hashtag_count", I, "number of hashtags"),
    _c("hashtag_popularity", D, "mean log(1 + items carrying the hashtag)"),
    _c("text_vector", ArrayType(F), "TF-IDF of description words and hashtags (hashed)"),
    _c("content_vector", ArrayType(F), "fused text, tag (and visual/audio) vector, unit length"),
    _c("as_of_date", DT, "features use events strictly before this date", True),
)


def _prefixed(prefix: str, columns: tuple[Column, ...], names: tuple[str, ...]) -> tuple[Column, ...]:
    """Copies of the named feature columns, renamed ``<prefix><name>``, for the examples."""
    by_name = {c.name: c for c in columns}
    return tuple(Column(prefix + n, by_name[n].dtype, by_name[n].doc) for n in names)


# The user and item features carried onto every training example (as of its event_date).
EXAMPLE_USER_FEATURES = (
    "events", "views", "likes", "engagement", "engagement_decayed", "active_days",
    "avg_session_s", "contents_per_session", "skip_rate", "hide_rate", "report_rate",
    "events_per_active_day", "anomaly_score", "suspected_bot", "view_rate",
)
EXAMPLE_ITEM_FEATURES = (
    "impressions", "views", "view_rate", "completion_rate", "avg_watch_ratio", "like_rate",
    "comment_rate", "share_rate", "follow_rate", "growth_rate", "age_days", "duration_ms",
    "duration_bucket", "creator_followers", "creator_avg_like_rate",
    "creator_avg_completion_rate", "hashtag_count", "hashtag_popularity", "content_vector",
)

TRAINING_EXAMPLES = (
    _c("request_id", S, "feed request (sampled negatives: <request_id>#neg<k>)", True),
    _c("position", I, "position in the served feed", True),
    _c(USER_ID, S, "pseudonymised user id", True),
    _c(CONTENT_ID, S, "served item", True),
    _c(CREATOR_ID, S, "the item's creator"),
    _c(EVENT_TS, TS, "impression time", True),
    *LABELS,
    _c("replay", I, "replayed"),
    _c("continued", I, "the user's next impression of the day came within features."
                       "session_gap_minutes (null: a log without impressions)"),
    _c("has_impressions", B, "false: from a log without impressions"),
    _c("sampled_negative", B, "true: a negative drawn by popularity for such a log"),
    _c("exposure", S, EXPOSURE_DOC + " (sampled negatives: null)"),
    _c("user_index", I, "vocabulary index (0 = out of vocabulary)"),
    _c("item_index", I, "vocabulary index"),
    _c("creator_index", I, "vocabulary index"),
    _c("device_index", I, "vocabulary index of device_type"),
    _c("os_index", I, "vocabulary index of os"),
    _c("network_index", I, "vocabulary index of network_type"),
    _c("tag_indices", ArrayType(I), "vocabulary indices of the item's tags"),
    _c("recent_item_indices", ArrayType(I), "vocabulary indices of the user's recent items"),
    _c("hour_sin", D, "sin(2 pi hour / 24), hour with minutes as a fraction"),
    _c("hour_cos", D, "cos(2 pi hour / 24)"),
    _c("dow_sin", D, "sin(2 pi day-of-week / 7), Monday = 0"),
    _c("dow_cos", D, "cos(2 pi day-of-week / 7)"),
    *_prefixed("user_", USER_FEATURES, EXAMPLE_USER_FEATURES),
    *_prefixed("item_", ITEM_FEATURES, EXAMPLE_ITEM_FEATURES),
    _c("interest_match_short", D, "sum of the user's short-term interest over the item's tags"),
    _c("interest_match_mid", D, "same, mid-term interest"),
    _c("interest_match_long", D, "same, long-term interest"),
    _c("creator_affinity", D, "the user's long-term decayed weight on the item's creator"),
    _c("tag_impressions", D, "the user's served impressions summed over the item's tags"),
    _c("tag_view_rate", D, "the user's valid plays per impression on the item's tags, "
       "smoothed by features.rate_prior impressions at user_view_rate"),
    _c("creator_view_rate", D, "the same rate on the item's creator"),
    _c("tag_exposure_lift", D, "mean over the item's tags of log(the user's share of served tag "
       "mentions / all users' share), smoothed by features.rate_prior mentions at the mix"),
    _c("follows_creator", B, "the user follows the item's creator"),
    _c("split", S, "train, validation or test"),
    _c("origin", S, "batch: written by the daily features job; stream: written by update-ranker "
       "from the streamed silver events of a day the daily job has not built yet (the batch "
       "rows replace them when it does)"),
    _c("features_as_of", DT, "as_of_date of the state the user and item features come from: the "
       "event date for batch rows, the latest earlier feature day for streamed rows"),
    _c(EVENT_DATE, DT, "UTC date of the impression", True),
)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        BRONZE_EVENTS,
        (
            _c("event_id", S, "producer-assigned event id", True),
            _c("event_type", S, "event type as received", True),
            _c(USER_ID, S, "raw user id (bronze only: silver holds pseudonyms)", True),
            _c(EVENT_TS, TS, "event time parsed to UTC", True),
            *EVENT_FIELDS,
            *CONTEXT,
            _c("received_at", TS, "when the producer says it sent the event"),
            _c("payload", S, "the raw record as received"),
            *INGEST,
            _c(EVENT_DATE, DT, "UTC date of event_ts", True),
        ),
        "One raw event as received, plus ingest lineage.",
        partition_by=(EVENT_DATE,),
    ),
    TableSpec(
        BRONZE_QUARANTINE,
        (
            _c("payload", S, "the raw record exactly as received", True),
            _c("reason", S, "why it was rejected; names the field", True),
            _c("record_ref", S, "file and line (or row) of the record"),
            *INGEST,
            _c("ingest_date", DT, "UTC date of the ingest run", True),
            _c(USER_ID, S, "raw user id when the record had one (lets forget-users find it)"),
            _c("rejected_by", S, "job that rejected the record: ingest (unparseable) or clean"),
            _c("payload_encoding", S, "how payload holds the record: utf-8 (the text as received; "
                                      "also when null, in rows older than this column) or base64 "
                                      "(the raw bytes, which were not valid UTF-8)"),
        ),
        "One rejected record with the reason it was rejected.",
        partition_by=("ingest_date",),
    ),
    TableSpec(
        BRONZE_INGESTED_FILES,
        (
            _c("file_identity", S, "sha256 of adapter, target table, path, size and mtime", True),
            _c("file_path", S, "the source file", True),
            _c("file_size", L, "size in bytes when ingested"),
            _c("file_modified", TS, "modification time when ingested (UTC)"),
            _c("target_table", S, "bronze table the file was ingested into", True),
            _c("records", L, "records read (blank lines excluded)"),
            _c("accepted", L, "records accepted into target_table"),
            _c("quarantined", L, "records sent to bronze.quarantine"),
            *INGEST,
            _c("ingest_date", DT, "UTC date of the ingest run", True),
        ),
        "Manifest of ingested source files: a file version listed here is never ingested again.",
        key=("file_identity",),
    ),
    TableSpec(
        BRONZE_CONTENT,
        (
            _c(CONTENT_ID, S, "item id", True),
            _c(CREATOR_ID, S, "creator id"),
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
        BRONZE_USERS,
        (
            _c(USER_ID, S, "raw user id", True),
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
        SILVER_EVENTS,
        (
            _c("event_id", S, "unique event id", True),
            _c("event_type", S, "one of the known event types", True),
            _c(USER_ID, S, "pseudonymised user id (HMAC-SHA256 hex)", True),
            _c(EVENT_TS, TS, "event time (UTC)", True),
            *EVENT_FIELDS,
            *CONTEXT,
            _c("ingest_id", S, "lineage to bronze", True),
            _c("source", S, "adapter that produced the row", True),
            _c(EVENT_DATE, DT, "UTC date of event_ts", True),
        ),
        "One cleaned, typed event; event_id is unique.",
        partition_by=(EVENT_DATE,),
        key=("event_id",),
    ),
    TableSpec(
        SILVER_CONTENT,
        (
            _c(CONTENT_ID, S, "item id", True),
            _c(CREATOR_ID, S, "creator id"),
            _c("upload_ts", TS, "upload time (UTC)"),
            _c("duration_ms", L, "video duration in milliseconds"),
            _c("tags", ArrayType(S), "tag ids"),
            _c("description", S, "description text"),
            _c("updated_at", TS, "ingest time of the latest version", True),
        ),
        "One row per content_id, its latest version.",
        key=(CONTENT_ID,),
    ),
    TableSpec(
        SILVER_USERS,
        (
            _c(USER_ID, S, "pseudonymised user id", True),
            _c("signup_ts", TS, "registration time (UTC)"),
            _c("country", S, "ISO country code"),
            _c("language", S, "ISO language code"),
            _c("activity_degree", S, "activity level"),
            _c("follow_count", L, "accounts the user follows"),
            _c("follower_count", L, "accounts following the user"),
            _c("updated_at", TS, "ingest time of the latest version", True),
        ),
        "One row per user_id, its latest version.",
        key=(USER_ID,),
    ),
    TableSpec(
        SILVER_IMPRESSIONS,
        (
            _c("request_id", S, "feed request", True),
            _c("position", I, "position in the served feed", True),
            _c(USER_ID, S, "pseudonymised user id", True),
            _c(CONTENT_ID, S, "served item", True),
            _c(CREATOR_ID, S, "the item's creator"),
            _c(EVENT_TS, TS, "impression time (UTC)", True),
            *(c for c in LABELS),
            _c("has_impressions", B, "false for logs without impression events (sampled later)"),
            _c("exposure", S, EXPOSURE_DOC),
            *CONTEXT[:3],
            _c(EVENT_DATE, DT, "UTC date of the impression", True),
            _c("replay", I, "replayed"),
            _c("duration_ms", L, "the item's duration from silver.content (null if unknown)"),
            _c("source", S, "adapter of the impression (or of the interaction) row"),
        ),
        "One served item with its outcome labels (foryou.impressions documents the labels).",
        partition_by=(EVENT_DATE,),
        key=("request_id", "position"),
    ),
    TableSpec(
        SILVER_SESSIONS,
        (
            _c("session_id", S, "deterministic id: user and start time", True),
            _c(USER_ID, S, "pseudonymised user id", True),
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
        GOLD_USER_FEATURES,
        USER_FEATURES,
        "One row per user per as_of_date: history, interests, behaviour, bot signals.",
        partition_by=("as_of_date",),
        key=(USER_ID, "as_of_date"),
    ),
    TableSpec(
        GOLD_USER_AFFINITIES,
        USER_AFFINITIES,
        "One row per user, tag or creator, and as_of_date: the user's engagement with it.",
        partition_by=("as_of_date",),
        key=(USER_ID, "kind", "key", "as_of_date"),
    ),
    TableSpec(
        GOLD_ITEM_FEATURES,
        ITEM_FEATURES,
        "One row per item per as_of_date: smoothed performance, growth, creator, text.",
        partition_by=("as_of_date",),
        key=(CONTENT_ID, "as_of_date"),
    ),
    TableSpec(
        GOLD_TRAINING_EXAMPLES,
        TRAINING_EXAMPLES,
        "One impression (or sampled negative) with point-in-time features, context and labels.",
        partition_by=(EVENT_DATE,),
        key=("request_id", "position"),
    ),
    TableSpec(
        GOLD_VOCABULARIES,
        (
            _c("kind", S, "user, item, creator, tag, device, os or network", True),
            _c("token", S, "the id or value", True),
            _c("index", I, "1.. once count reaches the threshold (never changes); null below it"),
            _c("count", L, "occurrences before as_of_date"),
            _c("first_as_of_date", DT, "first as_of_date the token had an index"),
            _c("as_of_date", DT, "the vocabulary version: events strictly before this date", True),
        ),
        "Categorical vocabularies, one version per as_of_date; index 0 is out-of-vocabulary.",
        partition_by=("as_of_date",),
        key=("kind", "token", "as_of_date"),
    ),
    TableSpec(
        GOLD_ITEM_EMBEDDINGS,
        (
            _c(CONTENT_ID, S, "item id", True),
            _c("vector", ArrayType(F), "embedding", True),
            _c("kind", S, "collaborative or content"),
            _c("model_version", S, "embedding model version", True),
            _c("trained_at", TS, "when the version was trained (UTC; null: before the column)"),
        ),
        "One vector per item per model_version.",
        key=(CONTENT_ID, "model_version"),
        sort_by=(CONTENT_ID,),
    ),
    TableSpec(
        GOLD_USER_EMBEDDINGS,
        (
            _c(USER_ID, S, "pseudonymised user id", True),
            _c("vector", ArrayType(F), "embedding", True),
            _c("model_version", S, "embedding model version", True),
            _c("trained_at", TS, "when the version was trained (UTC; null: before the column)"),
        ),
        "One vector per user per model_version.",
        key=(USER_ID, "model_version"),
        sort_by=(USER_ID,),
    ),
    TableSpec(
        GOLD_CANDIDATE_POOL,
        (
            _c(USER_ID, S, "pseudonymised user id", True),
            _c(CONTENT_ID, S, "candidate item", True),
            _c(CREATOR_ID, S, "the item's creator"),
            _c("sources", ArrayType(S), "every source that proposed the item (sorted)", True),
            _c("source", S, "primary source: the one that ranked it best (ann, interest, covisit, "
                            "followed, trending, cold_start, fallback)", True),
            _c("source_score", D, "the primary source's score (higher is better; scales differ by source)"),
            _c("source_scores", MapType(S, D), "score of each proposing source"),
            _c("source_rank", I, "the item's rank (1..) in its primary source's list for the user"),
            _c("pool_rank", I, "1.. order of the pool by source rank, then source priority"),
            _c("tags", ArrayType(S), "the item's tag ids"),
            _c("cold_start_wave", I, "the item's cold-start wave (null: not in cold start)"),
            _c("as_of_date", DT, "the run date: built from events strictly before it", True),
        ),
        "Per-user candidates merged from every source, filtered and cut to the source quotas.",
        partition_by=("as_of_date",),
        key=(USER_ID, CONTENT_ID, "as_of_date"),
        sort_by=(USER_ID, "pool_rank"),
    ),
    TableSpec(
        GOLD_COLD_START_WAVES,
        (
            _c(CONTENT_ID, S, "item in cold start (younger than candidates.cold_start.max_age_days)", True),
            _c(CREATOR_ID, S, "the item's creator"),
            _c("age_days", D, "days from upload to as_of_date"),
            _c("duration_bucket", I, "duration bucket of the baseline"),
            _c("impressions", L, "served impressions by non-bot users so far"),
            _c("engaged", L, "impressions with a long view, like, comment, share or save"),
            _c("expected", D, "engaged impressions expected at the baseline of its age and duration"),
            _c("performance", D, "(engaged + prior) / (expected + prior)"),
            _c("wave", I, "exposure wave (0 first); widens by one when performance beats the threshold", True),
            _c("status", S, "exploring, dropped (performed below the threshold) or graduated", True),
            _c("cohort_size", I, "users the item is shown to this run (0 unless exploring)"),
            _c("as_of_date", DT, "the run date", True),
        ),
        "Cold-start state per new item and run date: its wave, evidence and cohort size.",
        partition_by=("as_of_date",),
        key=(CONTENT_ID, "as_of_date"),
    ),
    TableSpec(
        GOLD_USER_CANDIDATES,
        (
            _c(USER_ID, S, "pseudonymised user id", True),
            _c("rank", I, "1..N, 1 is shown first", True),
            _c(CONTENT_ID, S, "recommended item", True),
            _c("score", D, "final feed score", True),
            _c("source", S, "candidate source (ann, collaborative, trending, ...)", True),
            _c("model_version", S, "ranker model version", True),
            _c("generated_at", TS, "when the list was generated (UTC)", True),
            _c("as_of_date", DT, "the run date the list was built for (features before it)"),
            _c(CREATOR_ID, S, "the item's creator (in-session re-ranking at read time)"),
            _c("tags", ArrayType(S), "the item's tags (in-session re-ranking at read time)"),
        ),
        "Export: the ranked feed per user, laid out for lookups by user_id (docs/contract.md).",
        key=(USER_ID, "rank"),
        sort_by=(USER_ID, "rank"),
    ),
    TableSpec(
        GOLD_SESSION_MODEL,
        (
            _c("run_date", DT, "the export run that learned it", True),
            _c("model", S, "foryou.rerank.session.SessionModel as JSON: weights per feature, "
                           "examples, auc_gain", True),
            _c("examples", L, "logged impressions it was learned from"),
            _c("auc_gain", D, "held-out AUC with the session features minus without"),
            _c("trained_at", TS, "when it was learned (UTC)", True),
        ),
        "The in-session re-ranker's weights, one row per export run: the reader re-orders a "
        "user's exported list with the latest row (foryou.rerank.session).",
        key=("run_date",),
    ),
    TableSpec(
        GOLD_USER_SHORT_TERM,
        (
            _c(USER_ID, S, "pseudonymised user id", True),
            _c("user_bucket", I, "pmod(xxhash64(user_id), stream.short_term_buckets): the "
                                 "partition a micro-batch rewrites for its users", True),
            _c("last_items", ArrayType(StructType([
                StructField(EVENT_TS, TS), StructField(CONTENT_ID, S),
                StructField(CREATOR_ID, S), StructField("event_type", S)])),
               "the user's last N events about an item, oldest first"),
            _c("session_start", TS, "first event of the user's current session (UTC)", True),
            _c("session_events", L, "events in the current session"),
            _c("session_tag_interest", MapType(S, D),
               "tag -> engagement weight in the current session (likes, shares, completes up; "
               "skips, hides, reports down)"),
            _c("session_creator_interest", MapType(S, D),
               "creator_id -> engagement weight in the current session"),
            _c("last_active", TS, "the user's latest event_ts", True),
            _c("recent_event_ts", ArrayType(TS), "event times within stream.recent_window_s "
                                                 "of last_active"),
            _c("events_last_hour", I, "events within stream.recent_window_s (default one "
                                      "hour) of last_active"),
            _c("updated_at", TS, "when the stream last changed the row (the micro-batch's "
                                 "ingested_at)", True),
            _c("ingest_id", S, "the micro-batch that last changed the row", True),
        ),
        "One row per user, updated by foryou stream-ingest each micro-batch: what the user "
        "did in the last minutes, for scoring that reacts within the session.",
        partition_by=("user_bucket",),
        key=(USER_ID,),
    ),
    TableSpec(
        GOLD_METRICS,
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
