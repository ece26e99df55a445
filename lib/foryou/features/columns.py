"""Column names and event types the feature code refers to (catalog contracts)."""
from __future__ import annotations

from foryou.lake.vocabulary import EXPOSURE  # noqa: F401  (re-exported: examples carry it)

# Tables.
EVENTS = "silver.events"
IMPRESSIONS = "silver.impressions"
SESSIONS = "silver.sessions"
CONTENT = "silver.content"
USER_FEATURES = "gold.user_features"
USER_AFFINITIES = "gold.user_affinities"
ITEM_FEATURES = "gold.item_features"
EXAMPLES = "gold.training_examples"
VOCABULARIES = "gold.vocabularies"

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

# Silver columns.
EVENT_ID, EVENT_TYPE, USER_ID, EVENT_TS, EVENT_DATE = (
    "event_id", "event_type", "user_id", "event_ts", "event_date")
CONTENT_ID, CREATOR_ID, REQUEST_ID, POSITION, WATCH_MS = (
    "content_id", "creator_id", "request_id", "position", "watch_ms")
DEVICE_TYPE, OS, NETWORK_TYPE = "device_type", "os", "network_type"
HAS_IMPRESSIONS, WATCH_RATIO = "has_impressions", "watch_ratio"
UPLOAD_TS, DURATION_MS, TAGS, DESCRIPTION = "upload_ts", "duration_ms", "tags", "description"
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
SAMPLED_NEGATIVE = "sampled_negative"

# Vocabulary kinds and the example column each one fills.
VOCAB_KINDS = ("user", "item", "creator", "tag", "device", "os", "network")
TOKEN, INDEX, COUNT, FIRST_AS_OF = "token", "index", "count", "first_as_of_date"
OOV_INDEX = 0
