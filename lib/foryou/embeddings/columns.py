"""Table and column names the embeddings job uses (catalog contracts, named once)."""
from __future__ import annotations

from foryou.lake.vocabulary import (  # noqa: F401  (re-exported: the stage's code reads them here)
    CONTENT_ID, GOLD_ITEM_EMBEDDINGS as ITEM_EMBEDDINGS, GOLD_ITEM_FEATURES as ITEM_FEATURES,
    GOLD_USER_EMBEDDINGS as USER_EMBEDDINGS, GOLD_USER_FEATURES as USER_FEATURES,
    SILVER_IMPRESSIONS as IMPRESSIONS, USER_ID, EVENT_DATE,
)

AS_OF_DATE = "as_of_date"
SUSPECTED_BOT = "suspected_bot"
VECTOR, KIND, MODEL_VERSION, TRAINED_AT = "vector", "kind", "model_version", "trained_at"
STRENGTH = "strength"

# Values of gold.item_embeddings.kind.
COLLABORATIVE, CONTENT = "collaborative", "content"
