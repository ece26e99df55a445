"""The ``build-candidates`` stage: the day's per-user candidate pool from every source.

Writes ``as_of_date`` = run date of gold.candidate_pool (one row per user and item, with the
sources that proposed it) and gold.cold_start_waves (the new items' exposure waves), from the
run date's features and the silver days before it (:func:`foryou.candidates.build.build_day`).
The ANN source is skipped with a warning until the embeddings exist (``train-embeddings``).
"""
from __future__ import annotations

import datetime as dt

from foryou.candidates.build import build_day
from foryou.config.settings import CandidatesSettings
from foryou.lake import CommitKey, Lake
from foryou.stages import StageResult


def run(lake: Lake, settings: CandidatesSettings, run_date: dt.date, key: CommitKey,
        force: bool = False) -> StageResult:
    """Build and write the run date's pool and waves; record rows per source."""
    with StageResult() as out:  # a failure keeps what was recorded so far
        result = build_day(lake, settings, run_date, key=key, force=force)
        if result.interaction_log:
            out.say("  no served impressions (an interaction log): co-occurrence over each user's "
                    "history, then ALS neighbours (candidates.interaction_log)")
        for name, write in result.writes.items():
            out.record_write(write)
            out.say(f"  {name}: {write.rows:,} rows" + (" (already committed)" if write.skipped else ""))
        for source, rows in result.rows_by_source.items():
            out.record(f"candidates.{source}", rows, "rows")
        out.record("candidates.users", result.users, "users")
        if result.skipped:
            out.record("candidates.skipped_sources", len(result.skipped), "sources",
                       sources=result.skipped)
        out.say(f"  users with candidates: {result.users:,}; primary source rows: "
                + ", ".join(f"{s} {n:,}" for s, n in result.rows_by_source.items() if "." not in s)
                + (f"; skipped: {', '.join(result.skipped)}" if result.skipped else ""))
        return out
