"""Late data: which earlier event dates a run date's clean wrote events to.

The daily run for D cleans what arrived on D. Most of it is dated D, but events also arrive
after their day: a phone offline overnight, a client retry, the views just after midnight
that complete an impression of 23:50. Cleaned, each lands in its own ``event_date``
partition of ``silver.events``, which the impressions and sessions runs of that date have
already built. Those stages rebuild the dates the arrivals reopened, so late data reaches
them instead of being lost; this module says which dates.

A run's new rows are found by their ``ingest_id`` prefix (the clean stage keeps bronze's
lineage), which Delta's file statistics prune to the files that run wrote.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from foryou.events.vocabulary import EVENT_DATE, EVENT_TS, INGEST_ID
from foryou.lake import Lake

EVENTS_TABLE = "silver.events"


def day_start(date: Column) -> Column:
    """Midnight UTC of a date column, as a timestamp (whatever the session's time zone)."""
    return F.timestamp_seconds(F.unix_date(date).cast("long") * 86400)


def reopened_dates(lake: Lake, run_date: dt.date, ingest_prefix: str,
                   lead: dt.timedelta = dt.timedelta(0)) -> list[dt.date]:
    """Event dates before ``run_date`` that the rows with ``ingest_prefix`` (the run date's
    clean) landed in, sorted; one small row per date reaches the driver.

    Args:
        lead: also reopen the day before a date whose new rows fall within ``lead`` of its
            midnight (impressions attribute outcomes up to a window after midnight).
    """
    if not lake.exists(EVENTS_TABLE):
        return []
    new = lake.read(EVENTS_TABLE).where(F.col(INGEST_ID).startswith(ingest_prefix))
    dates = new.select(F.col(EVENT_DATE).alias("d"))
    if lead > dt.timedelta(0):
        midnight = day_start(F.col(EVENT_DATE))
        early = new.where(F.col(EVENT_TS) < midnight + F.expr(
            f"INTERVAL {int(lead.total_seconds())} SECONDS"))
        dates = dates.unionByName(early.select(F.date_sub(EVENT_DATE, 1).alias("d")))
    rows = dates.where(F.col("d") < F.lit(run_date)).distinct().collect()
    return sorted(r.d for r in rows)
