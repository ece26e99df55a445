"""Settings of ``foryou ingest`` (the ``ingest`` config section).

The pipeline runs ``foryou ingest --run-date D`` with nothing else, so where and what to
ingest live here; the command line's ``--path``, ``--format``, ... override them per run.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from foryou.config.section import Section


class IngestConfig(Section):
    # What to ingest when --path is not given: a world root, an events folder or a file.
    path: str | None = None
    # Which of a world root's folders batch ingest takes: drop "events" where
    # `foryou stream-ingest` lands the events from Kafka (make demo-stream does).
    tables: list[Literal["events", "content", "users"]] = Field(
        default_factory=lambda: ["events", "content", "users"], min_length=1)
    format: Literal["json", "csv", "parquet", "kuairand", "interactions"] = "json"
    # Field separator of CSV inputs ("\t" for TSV).
    sep: str = ","
    # interactions: user=COL,item=COL,ts=COL[,weight=COL], and the epoch unit of ts (null: any
    # timestamp shape is parsed).
    columns: str | None = None
    ts_unit: Literal["s", "ms"] | None = None
    # interactions: optional side tables (a file or folder each) and their role mappings,
    # item=COL[,title=COL,tags=COL,creator=COL,upload_ts=COL,duration_ms=COL] and
    # user=COL[,country=COL,language=COL,signup_ts=COL,activity=COL] (see ingest.side_tables).
    items: str | None = None
    item_columns: str | None = None
    users: str | None = None
    user_columns: str | None = None
    # KuaiRand logs have no feed requests: a user's impressions within this many seconds
    # form one synthetic request (ordered by time, then video id, for positions).
    kuairand_request_window_s: int = Field(default=60, gt=0)
    # Interaction logs with a weight column: a weight at or above this also gives a like
    # (4 of 5 stars is the usual explicit-feedback positive).
    interactions_like_weight: float = 4.0
