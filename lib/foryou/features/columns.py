"""Column names and event types the feature code refers to (catalog contracts)."""
from __future__ import annotations

# Silver columns and the tables, from the vocabulary (re-exported: the feature code reads them here).
from foryou.lake.vocabulary import (  # noqa: F401
    CONTENT_ID, CREATOR_ID, DESCRIPTION, DEVICE_TYPE, DURATION_MS, EVENT_DATE, EVENT_ID,
    EVENT_TS, EVENT_TYPE, EXPOSURE, GOLD_ITEM_FEATURES as ITEM_FEATURES,
    GOLD_TRAINING_EXAMPLES as EXAMPLES, GOLD_USER_AFFINITIES as USER_AFFINITIES,
    GOLD_USER_FEATURES as USER_FEATURES, GOLD_VOCABULARIES as VOCABULARIES, NETWORK_TYPE, OS,
    POSITION, REQUEST_ID, SILVER_CONTENT as CONTENT, SILVER_EVENTS as EVENTS,
    SILVER_IMPRESSIONS as IMPRESSIONS, SILVER_SESSIONS as SESSIONS, TAGS, UPLOAD_TS, USER_ID,
    WATCH_MS,
)

# Event types (DESIGN.md).
IMPRESSION, VIEW, COMPLETE_VIEW, REPLAY = "impression", "view", "complete_view", "replay"
LIKE, COMMENT, SHARE, FOLLOW, SAVE = "like", "comment", "share", "follow", "save"
SKIP, HIDE, REPORT, UNFOLLOW = "skip", "hide", "report", "unfollow"
ENGAGEMENT_TYPES = (LIKE, COMMENT, SHARE, FOLLOW, SAVE)
# Events that put an item into the user's interaction history.
INTERACTION_TYPES = (VIEW, COMPLETE_VIEW, REPLAY, LIKE, COMMENT, SHARE, SAVE, FOLLOW)
# Per-type counters of gold.user_features: column -> event type.
USER_COUNTERS = {
    "impressions": IMPRESSION, "views": VIEW, "completes": COMPLETE_VIEW, "likes": LIKE,
    "comments": COMMENT, "shares": SHARE, "follows": FOLLOW, "saves": SAVE, "skips": SKIP,
    "hides": HIDE, "reports": REPORT,
}
# Per-label counters of gold.item_features: column -> silver.impressions label.
ITEM_COUNTERS = {
    "views": "click", "long_views": "long_view", "completes": "complete", "likes": "like",
    "comments": "comment", "shares": "share", "follows": "follow", "saves": "save",
    "skips": "skip", "hides": "hide", "reports": "report",
}
# Smoothed item rates: column -> (numerator column, denominator column).
ITEM_RATES = {
    "completion_rate": "completes", "avg_watch_ratio": "watch_ratio_sum", "like_rate": "likes",
    "comment_rate": "comments", "share_rate": "shares", "follow_rate": "follows",
}

# Silver columns of the later stages.
HAS_IMPRESSIONS, WATCH_RATIO = "has_impressions", "watch_ratio"
SESSION_END, SESSION_DATE, DURATION_S = "session_end", "session_date", "duration_s"
# Optional columns of silver.content: dense vectors the fused content vector takes in.
MEDIA_VECTORS = ("visual_vector", "audio_vector")
LABEL_COLUMNS = ("click", "long_view", "complete", "watch_ms", "watch_ratio", "like", "comment",
                 "share", "follow", "save", "skip", "hide", "report", "replay")
# Derived from the day's impressions, not copied: the session went on after this impression.
CONTINUED = "continued"

# Gold columns.
AS_OF_DATE = "as_of_date"
KIND, KEY = "kind", "key"
TAG_KIND, CREATOR_KIND = "tag", "creator"
SPLIT = "split"
ORIGIN = "origin"
FEATURES_AS_OF = "features_as_of"
SAMPLED_NEGATIVE = "sampled_negative"

# Vocabulary kinds and the example column each one fills.
VOCAB_KINDS = ("user", "item", "creator", "tag", "device", "os", "network")
TOKEN, INDEX, COUNT, FIRST_AS_OF = "token", "index", "count", "first_as_of_date"
OOV_INDEX = 0
