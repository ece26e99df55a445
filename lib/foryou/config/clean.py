"""Settings of ``foryou clean`` (the ``clean`` config section)."""
from __future__ import annotations

import datetime as dt

from pydantic import Field

from foryou.config.section import Section


class CleanConfig(Section):
    # A clean run for date D takes the bronze rows whose ingest_id starts with this prefix
    # ({run_date} is replaced by D): the ingest job names its ingests ingest-<run date>-<source>.
    ingest_id_prefix: str = "ingest-{run_date}-"
    # watch_ms above this is absurd (a client bug or a sum over days): 24 h.
    max_watch_ms: int = Field(default=86_400_000, gt=0)
    # event_ts may run ahead of ingested_at by this much (client clock skew) before it is
    # a future timestamp.
    future_tolerance_s: int = Field(default=3600, ge=0)
    # event_ts before this date is a broken client clock (epoch 0, a GPS epoch reset). Public
    # interaction logs go back to the mid-1990s (MovieLens starts in 1995), so the default
    # lets them in; an app's own log can raise it to its launch date.
    earliest_event_date: dt.date = dt.date(1990, 1, 1)
