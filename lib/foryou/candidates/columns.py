"""Table and column names the candidate sources use (catalog contracts, named once)."""
from __future__ import annotations

from foryou.lake.vocabulary import (  # noqa: F401  (re-exported: the stage's code reads them here)
    CONTENT_ID, CREATOR_ID, EVENT_DATE, EVENT_TS, EVENT_TYPE,
    GOLD_CANDIDATE_POOL as CANDIDATE_POOL, GOLD_COLD_START_WAVES as COLD_START_WAVES,
    GOLD_ITEM_EMBEDDINGS as ITEM_EMBEDDINGS, GOLD_ITEM_FEATURES as ITEM_FEATURES,
    GOLD_USER_AFFINITIES as USER_AFFINITIES, GOLD_USER_EMBEDDINGS as USER_EMBEDDINGS,
    GOLD_USER_FEATURES as USER_FEATURES, SILVER_CONTENT as CONTENT, SILVER_EVENTS as EVENTS,
    SILVER_IMPRESSIONS as IMPRESSIONS, SILVER_USERS as USERS, USER_ID,
)

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
