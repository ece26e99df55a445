"""Event dates against run dates: what a run's ingests brought, which earlier dates late data
reopened, and where the log ends.

The daily run for D cleans what arrived on D. Most of it is dated D, but events also arrive
after their day: a phone offline overnight, a client retry, the views just after midnight
that complete an impression of 23:50. Cleaned, each lands in its own ``event_date``
partition of ``silver.events``, which the impressions and sessions runs of that date have
already built. Those stages rebuild the dates the arrivals reopened, so late data reaches
them instead of being lost; this module says which dates.

A run's new rows are found by their ``ingest_id`` prefix (the clean stage keeps bronze's
lineage), which Delta's file statistics prune to the files that run wrote.

The other direction: a historical log (a public dataset, a year of exports ingested at
once) may end long before the run date it is processed for. Windows such as "the 30 days
before the run date" then count back from :func:`window_end`, the day after the log's
latest event, instead of finding nothing.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import Column
from pyspark.sql import functions as F

from foryou.config.clean import CleanConfig
from foryou.lake import Lake
from foryou.lake.vocabulary import EVENT_DATE, EVENT_TS, INGEST_ID, SILVER_EVENTS as EVENTS_TABLE

log = logging.getLogger("foryou.arrivals")


def ingest_prefix(run_date: dt.date | str, clean: CleanConfig) -> str:
    """The ``ingest_id`` prefix of the ingests a run for ``run_date`` takes (clean reads those
    bronze rows; the later stages find what the run's clean wrote by it)."""
    return clean.ingest_id_prefix.format(run_date=run_date)


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
    # bounded: the event dates the run's ingests brought
    rows = dates.where(F.col("d") < F.lit(run_date)).distinct().collect()
    return sorted(r.d for r in rows)


def window_end(lake: Lake, as_of: dt.date) -> dt.date:
    """The day windows before ``as_of`` count back from: ``as_of`` itself when the log has
    events on the day before it (a live deployment) or none before it at all, else the day
    after the latest event date before ``as_of``. Never later than ``as_of``, so a window
    stays strictly before the run date. Reads the Delta log's partition values only."""
    if not lake.exists(EVENTS_TABLE):
        return as_of
    dates = [dt.date.fromisoformat(v)
             for v in lake.snapshot(EVENTS_TABLE).partition_values(EVENT_DATE)]
    before = [d for d in dates if d < as_of]
    if not before:
        return as_of
    end = max(before) + dt.timedelta(days=1)
    if end < as_of:
        log.info("the event log ends on %s: windows before %s count back from %s",
                 max(before), as_of, end)
    return end
