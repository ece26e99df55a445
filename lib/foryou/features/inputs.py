"""The silver inputs of one feature day: the events between the previous state and as_of_date."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.features import columns as C
from foryou.lake import Lake
from foryou.lake.days import days_before


@dataclass(frozen=True)
class Window:
    """Events of ``[since, as_of)`` roll the state of ``since`` forward to ``as_of``.

    ``since`` None means no earlier state: the whole history before ``as_of`` is read (a full
    recompute). ``age`` of an event is ``as_of - event_date`` in days (>= 1).
    """

    as_of: dt.date
    since: dt.date | None = None

    def __post_init__(self):
        if self.since is not None and self.since >= self.as_of:
            raise ValueError(f"window since={self.since} must be before as_of={self.as_of}")

    @property
    def shift(self) -> int:
        """Days the previous state is rolled forward by."""
        return 0 if self.since is None else (self.as_of - self.since).days

    def dates(self) -> list[dt.date] | None:
        """The event dates read, or None for 'every date before as_of'."""
        if self.since is None:
            return None
        return days_before(self.as_of, self.shift)

    def age(self, date_col: str = C.EVENT_DATE):
        """Age in days of a row's date against as_of."""
        return F.datediff(F.lit(self.as_of), F.col(date_col))


@dataclass
class Inputs:
    """Silver frames restricted to the window (content: everything uploaded before as_of)."""

    events: DataFrame
    impressions: DataFrame
    sessions: DataFrame
    content: DataFrame


def read_inputs(lake: Lake, window: Window, session_max_days: int = 1) -> Inputs:
    """Read the window's events, impressions and sessions, and the known content.

    A session counts on the day it ends (it is only complete then), so sessions whose
    start is up to ``session_max_days`` before the window are read too.
    """
    dates = window.dates()
    before = F.col(C.EVENT_DATE) < F.lit(window.as_of)
    events = lake.read_or_empty(C.EVENTS, dates).where(before)
    impressions = lake.read_or_empty(C.IMPRESSIONS, dates).where(before)
    session_dates = None
    if dates is not None:
        session_dates = days_before(dates[0], session_max_days) + dates
    end_date = F.to_date(C.SESSION_END)
    sessions = lake.read_or_empty(C.SESSIONS, session_dates).where(end_date < F.lit(window.as_of))
    if window.since is not None:
        sessions = sessions.where(end_date >= F.lit(window.since))
    return Inputs(events, impressions, sessions, read_content(lake, window.as_of))


def read_content(lake: Lake, as_of: dt.date) -> DataFrame:
    """Content known at as_of: uploaded before it (or of unknown upload time)."""
    content = lake.read_or_empty(C.CONTENT)
    return content.where(F.col(C.UPLOAD_TS).isNull() | (F.to_date(C.UPLOAD_TS) < F.lit(as_of)))
