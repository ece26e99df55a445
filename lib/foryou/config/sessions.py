"""Settings of ``foryou sessionize`` (the ``sessions`` config section)."""
from __future__ import annotations

from pydantic import Field

from foryou.config.section import Section


class SessionsConfig(Section):
    # A user's events more than this far apart belong to different sessions.
    gap_minutes: int = Field(default=30, ge=1)
    # Events are cut per (user, time chunk of this length) in parallel, then chunk edges are
    # stitched: a hot user's events spread over many tasks instead of stalling one.
    chunk_minutes: int = Field(default=60, ge=1)
    # How far back a run looks for a session still open at the start of its day; a session
    # open longer than this (a bot active around the clock) is cut at the lookback edge.
    max_session_days: int = Field(default=7, ge=1)
