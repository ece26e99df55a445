"""Generated docs stay in step with the code that declares them."""
from pathlib import Path

from foryou.lake import CATALOG
from foryou.lake.docs import tables_markdown

REPO = Path(__file__).resolve().parents[1]


def test_tables_doc_is_generated_from_the_catalog():
    assert (REPO / "docs" / "tables.md").read_text() == tables_markdown(), "run `make docs`"


def test_catalog_holds_every_contract_table():
    contract = {
        "bronze.events", "bronze.quarantine", "bronze.content", "bronze.users",
        "silver.events", "silver.content", "silver.users", "silver.impressions", "silver.sessions",
        "gold.user_features", "gold.item_features", "gold.training_examples",
        "gold.item_embeddings", "gold.user_embeddings", "gold.user_candidates", "gold.metrics",
    }
    assert contract <= set(CATALOG)
    export = CATALOG["gold.user_candidates"].schema.fieldNames()
    # The contract's columns come first, in order; more columns are allowed after them.
    assert export[:7] == ["user_id", "rank", "content_id", "score", "source", "model_version", "generated_at"]
