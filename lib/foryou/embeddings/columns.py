"""Table and column names the embeddings job uses (catalog contracts, named once)."""
from __future__ import annotations

IMPRESSIONS = "silver.impressions"
USER_FEATURES = "gold.user_features"
ITEM_FEATURES = "gold.item_features"
ITEM_EMBEDDINGS = "gold.item_embeddings"
USER_EMBEDDINGS = "gold.user_embeddings"

USER_ID, CONTENT_ID = "user_id", "content_id"
EVENT_DATE, AS_OF_DATE = "event_date", "as_of_date"
SUSPECTED_BOT = "suspected_bot"
VECTOR, KIND, MODEL_VERSION, TRAINED_AT = "vector", "kind", "model_version", "trained_at"
STRENGTH = "strength"

# Values of gold.item_embeddings.kind.
COLLABORATIVE, CONTENT = "collaborative", "content"
