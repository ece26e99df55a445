"""The ``train-embeddings`` stage: one run date's item and user embeddings.

Spark ML ALS with implicit preferences on the engagement strength of the impressions before
the run date, plus content vectors from gold.item_features mapped into the same space, so new
items without interactions still get a vector (:mod:`foryou.embeddings.train`). Appends
gold.item_embeddings (kind collaborative | content) and gold.user_embeddings under one
model_version ``als-<run date>-<hash>``.
"""
from __future__ import annotations

import datetime as dt

from foryou.config.settings import EmbeddingsSettings
from foryou.embeddings.train import train_embeddings, write_embeddings
from foryou.lake import CommitKey, Lake
from foryou.stages import StageResult


def run(lake: Lake, settings: EmbeddingsSettings, run_date: dt.date, key: CommitKey,
        force: bool = False) -> StageResult:
    """Train and append the run date's embeddings; record pairs, content items and writes."""
    with StageResult() as out:  # a failure keeps what was recorded so far
        with out.timer("train"):
            result = train_embeddings(lake, settings.embeddings, run_date)
            writes = write_embeddings(lake, result, key=key, force=force)
        out.say(f"  model_version {result.model_version}: {result.pairs:,} interaction pairs, "
                f"{result.content_items:,} items with content vectors")
        if result.fallback:
            out.say(f"  fallback: {result.fallback}")
        out.record("interaction_pairs", result.pairs, "rows", model_version=result.model_version)
        out.record("content_items", result.content_items, "rows",
                   model_version=result.model_version, fallback=result.fallback)
        for name, write in writes.items():
            out.record_write(write)
            out.say(f"  {name}: {write.rows:,} rows" + (" (already committed)" if write.skipped else ""))
        return out
