"""Runs of dates: the daily partitions a job reads."""
from __future__ import annotations

import datetime as dt


def days_before(end: dt.date, days: int) -> list[dt.date]:
    """The ``days`` dates before ``end`` (``end`` excluded), oldest first: "the N days before"
    a run date, or, with ``end`` = a date + 1 day, the N days ending at that date."""
    return [end - dt.timedelta(days=i) for i in range(days, 0, -1)]


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from ``start`` to ``end``, both included."""
    if end < start:
        raise ValueError(f"{start} .. {end}: the end is before the start")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
