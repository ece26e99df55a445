"""Table and column names the candidate sources use (catalog contracts, named once)."""
from __future__ import annotations

# Tables read.
EVENTS = "silver.events"
IMPRESSIONS = "silver.impressions"
CONTENT = "silver.content"
USERS = "silver.users"
USER_FEATURES = "gold.user_features"
USER_AFFINITIES = "gold.user_affinities"
ITEM_FEATURES = "gold.item_features"
ITEM_EMBEDDINGS = "gold.item_embeddings"
USER_EMBEDDINGS = "gold.user_embeddings"
# Tables written.
CANDIDATE_POOL = "gold.candidate_pool"
COLD_START_WAVES = "gold.cold_start_waves"

USER_ID, CONTENT_ID, CREATOR_ID = "user_id", "content_id", "creator_id"
EVENT_TS, EVENT_DATE, EVENT_TYPE = "event_ts", "event_date", "event_type"
UPLOAD_TS, TAGS, AS_OF_DATE = "upload_ts", "tags", "as_of_date"
SUSPECTED_BOT, FOLLOWED_CREATORS = "suspected_bot", "followed_creators"
AGE_DAYS, DURATION_BUCKET = "age_days", "duration_bucket"

# Every source yields rows of (user_id, content_id, source, score, source_rank):
# score is the source's own relevance (higher is better), source_rank is 1.. per user.
SOURCE, SCORE, SOURCE_RANK = "source", "score", "source_rank"

# Outcome labels of silver.impressions that count as positive engagement, and negative ones.
POSITIVE_LABELS = ("long_view", "like", "comment", "share", "save")
NEGATIVE_LABELS = ("hide", "report")
# silver.events types that put an item in a user's history / that say "never show it again".
ENGAGEMENT_EVENTS = ("like", "comment", "share", "save", "follow")
NEGATIVE_EVENTS = ("hide", "report")
