"""The ``generate`` stage: a synthetic world drawn from ``world``'s parameters and landed as
raw files where ``ingest`` reads them (``ingest.path``); a world already there is kept.

Only a generated world has this stage (:data:`foryou.stages.STAGES` marks it ``synthetic``):
a pipeline over your own logs starts at ``ingest``.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from foryou.stages import StageResult
from foryou.world.landing import land_world

if TYPE_CHECKING:  # the world sits below the config and the lake; it only receives them
    from foryou.config.settings import GenerateSettings
    from foryou.lake import CommitKey, Lake


def run(lake: Lake, settings: GenerateSettings, run_date: dt.date, key: CommitKey,
        force: bool = False) -> StageResult:
    """Land the world of ``settings.world`` at ``settings.ingest.path`` unless it is there.

    A world's files are its own idempotency: the same parameters find the world in place
    whatever ``force`` says, and other parameters there are refused (ingested files are never
    read twice, so a new world needs a new folder).
    """
    with StageResult() as out:  # a failure keeps what was recorded so far
        path = settings.ingest.path
        counts, created = land_world(lake.spark, settings.world, path)
        for name in ("events", "impressions", "users", "bots", "items", "uploads", "dirty"):
            out.record(f"world.{name}", counts[name], "rows", created=created)
        out.record("rows_out", counts["events"] if created else 0, "rows")
        state = "generated" if created else "already in place"
        out.say(f"  world {state} at {path}: {counts['events']:,} events, {counts['users']:,} users "
                f"({counts['bots']} bots), {counts['items']:,} items, {counts['dirty']:,} dirty records")
        return out
