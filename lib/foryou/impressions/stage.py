"""The ``impressions`` stage: the run date's silver.impressions partition, labelled.

Builds the run date's partition and the earlier ones its clean reopened (late events, outcomes
just after midnight; :mod:`foryou.runtime.arrivals`), replaces them in one commit, quarantines
impression events that cannot be keyed, and records where every impression event went.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.config.settings import ImpressionsSettings
from foryou.impressions.labels import (
    ATTRIBUTION_WINDOW, CLICK, COMPLETE, FLAG_LABELS, HAS_IMPRESSIONS, IMPRESSION, ImpressionCounts,
    impressions_for_days, quarantine_rows,
)
from foryou.lake import CommitKey, Lake
from foryou.lake.vocabulary import (
    BRONZE_QUARANTINE, EVENT_DATE, EVENT_TYPE, INGEST_ID, INTERACTION_LOG, SILVER_EVENTS,
    SILVER_IMPRESSIONS, SOURCE,
)
from foryou.runtime.arrivals import ingest_prefix, reopened_dates
from foryou.stages import StageResult


def run(lake: Lake, settings: ImpressionsSettings, run_date: dt.date, key: CommitKey,
        force: bool = False) -> StageResult:
    """Build, replace and count the run date's impressions (and the dates it reopened)."""
    with StageResult() as out:  # a failure keeps what was recorded so far
        prefix = ingest_prefix(run_date, settings.clean)
        reopened = reopened_dates(lake, run_date, prefix, lead=ATTRIBUTION_WINDOW)
        dates = [*reopened, run_date]
        rows, rejects = impressions_for_days(lake, dates)
        # Rejected impressions of a reopened date were quarantined by its own run, bar the new.
        rejects = rejects.where((F.col(EVENT_DATE) == F.lit(run_date))
                                | F.col(INGEST_ID).startswith(prefix))
        rows = rows.cache()
        try:
            write = lake.replace_partitions(SILVER_IMPRESSIONS, rows, partitions=dates,
                                            key=key, force=force)
            out.record_write(write)
            counts = _counts(lake, run_date, rows, rejects)
        finally:
            rows.unpersist()
        if counts.quarantined:
            # Never forced: a re-run of the same date does not quarantine the same events twice.
            out.record_write(lake.append(BRONZE_QUARANTINE, quarantine_rows(rejects, run_date),
                                         key=key.sub("quarantine")))
        for name in ("impression_events", "served_rows", "duplicates", "quarantined",
                     "interaction_rows", "rows_with_outcome"):
            out.record(f"impressions.{name}", getattr(counts, name), "rows")
        out.record("impressions.reopened_dates", len(reopened), "dates",
                   dates=[str(d) for d in reopened])
        c = counts
        out.say(f"  {SILVER_IMPRESSIONS}: {c.impression_events:,} impression events = "
                f"{c.served_rows:,} rows + {c.duplicates:,} duplicates + {c.quarantined:,} quarantined; "
                f"{c.interaction_rows:,} interaction rows; {c.rows_with_outcome:,} rows with an outcome"
                + (" (already committed)" if write.skipped else ""))
        return out


def _counts(lake: Lake, run_date: dt.date, rows: DataFrame, rejects: DataFrame) -> ImpressionCounts:
    """Counts of the run date's partition alone (a reopened date was counted by its run)."""
    rows = rows.where(F.col(EVENT_DATE) == F.lit(run_date))
    rejects = rejects.where(F.col(EVENT_DATE) == F.lit(run_date))
    events = lake.read(SILVER_EVENTS, partitions=[run_date])
    impressions = events.where((F.col(EVENT_TYPE) == IMPRESSION)
                               & (F.col(SOURCE) != INTERACTION_LOG)).count()
    any_outcome = (F.col(CLICK) + F.col(COMPLETE) + sum(F.col(t) for t in FLAG_LABELS)) > 0
    # bounded: four rows
    by_kind = {(r[0], r[1]): r[2] for r in rows.groupBy(HAS_IMPRESSIONS, any_outcome.alias("o"))
               .count().collect()}
    served_rows = sum(n for (kind, _), n in by_kind.items() if kind)
    quarantined = rejects.count()
    return ImpressionCounts(
        impression_events=impressions, served_rows=served_rows,
        duplicates=impressions - served_rows - quarantined, quarantined=quarantined,
        interaction_rows=sum(n for (kind, _), n in by_kind.items() if not kind),
        rows_with_outcome=sum(n for (_, o), n in by_kind.items() if o))
