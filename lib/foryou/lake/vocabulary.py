"""The lake's vocabulary: known event types, what each needs, and table and column names.

Event types come from the product's event log (DESIGN.md). Table and column names are the
catalog's contracts (:mod:`foryou.lake.catalog`, beside this module, uses them too); code
refers to them through these constants, spelled here once. It sits in the lake layer, below every stage, so that ingest, clean, privacy and
the data-quality checks share it without importing each other.
"""
from __future__ import annotations

ENGAGEMENT = frozenset({"like", "comment", "share", "follow", "save"})
CONSUMPTION = frozenset({"impression", "view", "complete_view", "replay"})
NEGATIVE = frozenset({"skip", "hide", "report", "unfollow"})
CONTENT = frozenset({"upload"})
EVENT_TYPES = ENGAGEMENT | CONSUMPTION | NEGATIVE | CONTENT

# How much one event says the user wants more of the item's tags and creator within a session:
# gold.user_short_term's session interest and the in-session re-ranker (foryou.rerank.session).
INTEREST_WEIGHTS: dict[str, float] = {
    "like": 1.0, "comment": 1.0, "share": 2.0, "follow": 2.0, "save": 1.5,
    "complete_view": 1.0, "replay": 1.0, "view": 0.2,
    "skip": -0.5, "hide": -2.0, "report": -3.0, "unfollow": -2.0,
}

# A follow or unfollow targets a creator; it names the creator or the item it was made on.
CREATOR_TARGETED = frozenset({"follow", "unfollow"})
# Every other event is about one item and must name it.
CONTENT_TARGETED = EVENT_TYPES - CREATOR_TARGETED
# Events whose watch time is the point of the event.
WATCH_TIME_REQUIRED = frozenset({"view"})
# The source of events read from a plain interaction log (user, item, time[, weight]): its
# views carry no watch time and it has no impressions, so those rules do not apply to it.
INTERACTION_LOG = "interactions"
# How a served item was chosen: by the serving policy, or uniformly at random (KuaiRand's
# log_random, exploration traffic). Random exposures are an unbiased test set: the policy's
# choices did not select them, so a ranker's figures on them hold for any item it may score.
POLICY_EXPOSURE, RANDOM_EXPOSURE = "policy", "random"
EXPOSURES = (POLICY_EXPOSURE, RANDOM_EXPOSURE)

# Columns (catalog contracts).
EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
USER_ID = "user_id"
EVENT_TS = "event_ts"
EVENT_DATE = "event_date"
CONTENT_ID = "content_id"
CREATOR_ID = "creator_id"
REQUEST_ID = "request_id"
POSITION = "position"
WATCH_MS = "watch_ms"
EXPOSURE = "exposure"
PLATFORM = "platform"
REASON = "reason"
COMMENT_TEXT = "comment_text"
DEVICE_TYPE = "device_type"
OS = "os"
NETWORK_TYPE = "network_type"
APP_VERSION = "app_version"
COUNTRY = "country"
LANGUAGE = "language"
RECEIVED_AT = "received_at"
PAYLOAD = "payload"
INGEST_ID = "ingest_id"
SOURCE = "source"
INGESTED_AT = "ingested_at"
INGEST_DATE = "ingest_date"
RECORD_REF = "record_ref"
REJECTED_BY = "rejected_by"
QUARANTINE_REASON = "reason"  # bronze.quarantine's column (events have their own `reason`)
UPLOAD_TS = "upload_ts"
DURATION_MS = "duration_ms"
TAGS = "tags"
DESCRIPTION = "description"
UPDATED_AT = "updated_at"
SIGNUP_TS = "signup_ts"
ACTIVITY_DEGREE = "activity_degree"
FOLLOW_COUNT = "follow_count"
FOLLOWER_COUNT = "follower_count"

UNKNOWN = "unknown"

# Tables (the catalog's names, foryou.lake.catalog).
BRONZE_EVENTS = "bronze.events"
BRONZE_QUARANTINE = "bronze.quarantine"
BRONZE_INGESTED_FILES = "bronze.ingested_files"
BRONZE_CONTENT = "bronze.content"
BRONZE_USERS = "bronze.users"
SILVER_EVENTS = "silver.events"
SILVER_CONTENT = "silver.content"
SILVER_USERS = "silver.users"
SILVER_IMPRESSIONS = "silver.impressions"
SILVER_SESSIONS = "silver.sessions"
GOLD_USER_FEATURES = "gold.user_features"
GOLD_USER_AFFINITIES = "gold.user_affinities"
GOLD_ITEM_FEATURES = "gold.item_features"
GOLD_TRAINING_EXAMPLES = "gold.training_examples"
GOLD_VOCABULARIES = "gold.vocabularies"
GOLD_ITEM_EMBEDDINGS = "gold.item_embeddings"
GOLD_USER_EMBEDDINGS = "gold.user_embeddings"
GOLD_CANDIDATE_POOL = "gold.candidate_pool"
GOLD_COLD_START_WAVES = "gold.cold_start_waves"
GOLD_USER_CANDIDATES = "gold.user_candidates"
GOLD_SESSION_MODEL = "gold.session_model"
GOLD_USER_SHORT_TERM = "gold.user_short_term"
GOLD_METRICS = "gold.metrics"
