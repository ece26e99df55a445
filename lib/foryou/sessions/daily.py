"""``silver.sessions`` one run date at a time, with sessions crossing midnight kept whole.

The run for day D writes the sessions that *start* on D (partition ``session_date = D``) and
re-stitches the sessions still **open** at D's midnight:

* A session of partition X < D is *open at D* when it started before D's midnight and ended
  at most ``gap`` before it (``session_start < D 00:00`` and ``session_end >= D 00:00 - gap``).
  A user has at most one open session (a later one would start more than ``gap`` after the
  open one's end, i.e. after midnight). Its start never changes when it is extended, so it
  is found the same way on every re-run, and so is its ``session_id``.
* The run reads D's events plus, for the users with an open session, their events from the
  open session's start onwards (partitions ``date(start)`` .. D-1, pruned to those users by a
  semi-join), and sessionizes them together. The open session comes back extended by D's
  events when the first of them is within ``gap`` of its end, unchanged otherwise; every
  other session starts on D.
* The run replaces partition D and the partitions holding the open sessions, in one commit:
  an older partition keeps its other rows and gets its open session replaced by session_id.

So a session that crosses midnight (or an incremental run boundary) is one session, keyed by
its start, in the partition of its start; running D then D+1 gives the same table as
sessionizing both days at once; and re-running D recomputes the same rows.

Re-running an earlier day after a later one (a backfill out of order) never shortens a
session: a recomputed session whose stored row already ends after D (a later run extended
it) keeps the stored row. Late events that land in an already sessionized day need that day
and the following ones re-sessionized: the run for D sessionizes every day from the earliest
date its clean brought events of up to D in one pass (``first``), which gives the same table
as re-running those days in order; a history ingested at once is sessionized the same way. A
session open longer than ``sessions.max_session_days`` is not looked for further back and
is cut there (documented limit for bots active around the clock).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.config.sessions import SessionsConfig
from foryou.lake import Lake
from foryou.lake.vocabulary import SILVER_EVENTS as EVENTS_TABLE, SILVER_SESSIONS as SESSIONS_TABLE
from foryou.sessions.sessionize import (
    EVENT_TS,
    EVENT_TYPE,
    SESSION_DATE,
    SESSION_END,
    SESSION_ID,
    SESSION_START,
    USER_ID,
    WATCH_MS,
    sessionize,
)

_OPEN_START = "_open_start"


@dataclass(frozen=True)
class DayPlan:
    """What one run reads and replaces: the days ``first`` .. ``run_date`` (one day, unless
    late events reopened earlier ones) and the older partitions holding sessions open at
    ``first``'s midnight."""

    run_date: dt.date
    open_sessions: int
    # Microseconds since the epoch (not a datetime: collected timestamps are local-zone naive).
    earliest_open_us: int | None
    partitions: tuple[dt.date, ...]
    first: dt.date | None = None

    @property
    def days(self) -> list[dt.date]:
        """The days whose events are sessionized afresh."""
        start = self.first or self.run_date
        return [start + dt.timedelta(days=k) for k in range((self.run_date - start).days + 1)]


def _midnight(day: dt.date) -> dt.datetime:
    # Timezone-aware: PySpark reads a naive datetime literal in the driver's local zone.
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)


def _open_at(run_date: dt.date, gap_minutes: int) -> F.Column:
    """Whether a stored session may still be extended by ``run_date``'s events."""
    midnight = _midnight(run_date)
    return ((F.col(SESSION_START) < F.lit(midnight))
            & (F.col(SESSION_END) >= F.lit(midnight - dt.timedelta(minutes=gap_minutes))))


def open_sessions(lake: Lake, run_date: dt.date, settings: SessionsConfig) -> DataFrame | None:
    """Stored sessions still open at ``run_date``'s midnight (one per user at most), or None
    when silver.sessions does not exist yet."""
    if not lake.exists(SESSIONS_TABLE):
        return None
    lookback = [run_date - dt.timedelta(days=k) for k in range(1, settings.max_session_days + 1)]
    return (lake.read(SESSIONS_TABLE, partitions=lookback)
            .where(_open_at(run_date, settings.gap_minutes))
            .select(USER_ID, F.col(SESSION_START).alias(_OPEN_START), SESSION_DATE))


def plan_day(lake: Lake, run_date: dt.date, settings: SessionsConfig,
             first: dt.date | None = None) -> tuple[DayPlan, DataFrame | None]:
    """The open sessions at ``first``'s (default ``run_date``'s) midnight and the partitions
    the run replaces."""
    start = first or run_date
    days = DayPlan(run_date, 0, None, (), first).days
    opened = open_sessions(lake, start, settings)
    if opened is None:
        return DayPlan(run_date, 0, None, tuple(days), first), None
    # One small row: the count, earliest start and the (at most max_session_days) dates.
    summary = opened.agg(F.count(F.lit(1)).alias("n"),
                         F.min(F.unix_micros(_OPEN_START)).alias("first"),
                         F.collect_set(SESSION_DATE).alias("dates")).first()
    partitions = tuple(sorted(set(summary["dates"]) | set(days)))
    return DayPlan(run_date, summary["n"], summary["first"], partitions, first), opened


def day_events(lake: Lake, plan: DayPlan, opened: DataFrame | None) -> DataFrame:
    """The plan's days' events plus the events of users with an open session since its start."""
    if not lake.exists(EVENTS_TABLE):
        raise FileNotFoundError(f"{EVENTS_TABLE} does not exist: run `foryou clean` first")
    cols = [USER_ID, EVENT_TS, EVENT_TYPE, WATCH_MS]
    days = plan.days
    today = lake.read(EVENTS_TABLE, partitions=days).select(*cols)
    if opened is None or plan.earliest_open_us is None:
        return today
    first_day = plan.partitions[0]
    before = [first_day + dt.timedelta(days=k) for k in range((days[0] - first_day).days)]
    earlier = (lake.read(EVENTS_TABLE, partitions=before)
               .where(F.col(EVENT_TS) >= F.timestamp_micros(F.lit(plan.earliest_open_us)))
               .select(*cols)
               # At most one open session per user, so the join adds no rows.
               .join(opened.select(USER_ID, _OPEN_START), USER_ID)
               .where(F.col(EVENT_TS) >= F.col(_OPEN_START))
               .select(*cols))
    return today.unionByName(earlier)


def sessions_for_day(lake: Lake, run_date: dt.date, settings: SessionsConfig,
                     partitions: int | None = None,
                     first: dt.date | None = None) -> tuple[DataFrame, DayPlan]:
    """The full content of the partitions the run for ``run_date`` replaces.

    Args:
        lake: the lake holding silver.events (and silver.sessions from earlier runs).
        run_date: the day whose events are sessionized.
        settings: the ``sessions`` config section.
        partitions: tasks of the segment pass (default ``spark.sql.shuffle.partitions``).
        first: sessionize every day from ``first`` to ``run_date`` afresh, in one pass (the
            same table as running each day in order): the days late events reopened, or a
            whole history ingested at once.

    Returns:
        (frame, plan): ``frame`` holds every row of ``plan.partitions`` after the run.
    """
    plan, opened = plan_day(lake, run_date, settings, first)
    events = day_events(lake, plan, opened)
    computed = sessionize(events, settings.gap_minutes, settings.chunk_minutes, partitions)
    if opened is None:
        return computed, plan
    stored = lake.read(SESSIONS_TABLE, partitions=list(plan.partitions))
    # A stored row that ends after D was extended by a later day's run: it wins.
    day_end = _midnight(run_date + dt.timedelta(days=1))
    extended = stored.where(F.col(SESSION_END) >= F.lit(day_end))
    computed = (computed.join(extended.select(SESSION_ID), SESSION_ID, "left_anti")
                .unionByName(extended))
    # Older partitions keep their closed sessions; their open ones were recomputed above,
    # and the plan's days are recomputed whole. (Filtering ``stored`` rather than
    # anti-joining the computed ids keeps the sessionization from running twice.)
    start = plan.days[0]
    kept = stored.where((F.col(SESSION_DATE) < F.lit(start))
                        & ~_open_at(start, settings.gap_minutes))
    return computed.unionByName(kept.select(*computed.columns)), plan
