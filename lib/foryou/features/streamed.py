"""Streamed training examples: the impressions of days the daily job has not built yet.

The stream lands events in ``silver.events`` within seconds; the daily features job turns a
day's impressions into ``gold.training_examples`` only once the day is over. Between the two,
``foryou update-ranker`` needs the hour's examples, so it writes them here, with the daily
job's own code:

- **labels**: :func:`foryou.impressions.labels.impressions_for_days`, the labelling of
  ``silver.impressions``, read straight from the streamed silver events;
- **closed rows only**: an impression is written once its outcomes can no longer arrive, i.e.
  once the horizon (the newest event time as the stream's watermark takes it, or ``until``) is
  past it by the attribution window and the session gap (its ``continued`` label needs the
  next impression); dates after the horizon (events of clocks running ahead) are left alone;
- **point-in-time features**: :func:`foryou.features.examples.build_examples` with the state
  of the latest feature day on or before the impression's date (``features_as_of``), so a
  streamed row is the batch row of the same impression computed on an older state;
- **marked** ``origin = 'stream'``. The rows are inserted by key (``request_id, position``), so
  a re-run, or a later run with a later horizon, adds only rows not written yet. When the
  daily job builds the day, its ``replace_partitions`` puts the batch rows in their place.

The user's in-session state (``gold.user_short_term``) is not a ranker input: the export scores
each list at midnight, before any session, so a ranker trained on it would serve with inputs it
never sees. The session model (:mod:`foryou.rerank.session`) learns from the same streamed
impressions, replayed session by session.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.config.features import FeaturesConfig
from foryou.features import columns as C
from foryou.features.build import read_state, state_dates
from foryou.features.examples import STREAM, build_examples
from foryou.impressions.labels import ATTRIBUTION_WINDOW, impressions_for_days
from foryou.lake import CommitKey, Lake
from foryou.lake.vocabulary import GOLD_METRICS, SILVER_EVENTS
from foryou.stream.batch import JOB as STREAM_JOB, NEWEST_QUANTILE


@dataclass
class StreamedExamples:
    """What one call wrote: per open date the state it used and the rows inserted."""

    horizon: dt.datetime | None = None
    closed_until: dt.datetime | None = None
    dates: dict[dt.date, dt.date] = field(default_factory=dict)   # event date -> features_as_of
    rows: dict[dt.date, int] = field(default_factory=dict)
    message: str = ""

    @property
    def written(self) -> int:
        return sum(self.rows.values())


def close_delay(cfg: FeaturesConfig) -> dt.timedelta:
    """How long after an impression its labels are final: the attribution window, or the
    session gap when longer (the ``continued`` label waits for the next impression)."""
    return max(ATTRIBUTION_WINDOW, dt.timedelta(minutes=cfg.session_gap_minutes))


def open_dates(lake: Lake) -> tuple[list[dt.date], list[dt.date]]:
    """(silver event dates later than the last feature day, the feature days held).

    The daily job wrote the examples of every feature day (``features`` for D writes the
    state as of D and D's examples in one run); the dates after the last one are open."""
    held = state_dates(lake, dt.date.max)
    if not lake.exists(SILVER_EVENTS):
        return [], held
    silver = sorted(dt.date.fromisoformat(d)
                    for d in lake.snapshot(SILVER_EVENTS).partition_values(C.EVENT_DATE))
    return [d for d in silver if not held or d > held[-1]], held


def newest_event(lake: Lake, dates: list[dt.date]) -> dt.datetime | None:
    """The default horizon, UTC: the newest event time as the stream takes it for its late-event
    watermark (the largest of its micro-batches' 99th percentiles of event time, in
    gold.metrics), or, on a lake no stream has written to, the same quantile of silver's events
    on ``dates``. A quantile, not the maximum: a few devices whose clocks run years ahead
    (cleaning keeps them while they are not ahead of their arrival) must not close the day."""
    seconds = None
    if lake.exists(GOLD_METRICS):
        # bounded: one row (epoch seconds: a collected timestamp would be in the driver's zone)
        seconds = (lake.read(GOLD_METRICS)
                   .where((F.col("stage") == STREAM_JOB) & (F.col("name") == "max_event_ts"))
                   .agg(F.max("value")).first()[0])
    if seconds is None:
        # bounded: one row
        seconds = (lake.read(SILVER_EVENTS, partitions=dates)
                   .agg(F.percentile_approx(F.col(C.EVENT_TS).cast("double"), NEWEST_QUANTILE, 10_000))
                   .first()[0])
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def streamed_rows(lake: Lake, cfg: FeaturesConfig, date: dt.date, closed_until: dt.datetime,
                  as_of: dt.date) -> DataFrame:
    """The examples of ``date``'s impressions at or before ``closed_until``, with the state of
    feature day ``as_of`` (see the module doc)."""
    rows, _rejects = impressions_for_days(lake, [date])  # the daily impressions job quarantines
    state = read_state(lake, as_of)
    examples = build_examples(rows, state.users, state.items, state.affinities, state.vocab,
                              date, cfg, origin=STREAM, as_of=as_of)
    return examples.where(F.col(C.EVENT_TS) <= F.lit(_utc(closed_until)))


def write_streamed(lake: Lake, cfg: FeaturesConfig, job: str, until: dt.datetime | None = None
                   ) -> StreamedExamples:
    """Insert the closed, not yet written examples of every open date (module doc).

    ``until`` is the horizon (naive: UTC; default :func:`newest_event`); each
    date's commit is keyed by ``job``, the date and the horizon, so a re-run commits nothing
    twice."""
    out = StreamedExamples()
    dates, held = open_dates(lake)
    if not dates:
        out.message = "no silver events after the last feature day"
        return out
    if not held:
        out.message = "no feature day yet: streamed examples need a daily state to join"
        return out
    out.horizon = until or newest_event(lake, dates)
    if out.horizon is None:
        out.message = "no events on the open dates"
        return out
    out.horizon = _utc(out.horizon)
    out.closed_until = out.horizon - close_delay(cfg)
    for date in dates:
        if _utc(dt.datetime.combine(date, dt.time())) > out.closed_until:
            continue
        as_of = held[-1]  # the latest feature day: the open dates all come after it
        rows = streamed_rows(lake, cfg, date, out.closed_until, as_of)
        key = CommitKey(job, date, f"streamed-examples/{out.closed_until.isoformat()}")
        write = lake.insert_new(C.EXAMPLES, rows, key=key)
        out.dates[date] = as_of
        out.rows[date] = 0 if write.skipped else int(write.rows or 0)
    return out


def _utc(ts: dt.datetime) -> dt.datetime:
    """``ts`` as an aware UTC time (a naive one is taken as UTC): PySpark reads a naive
    datetime literal in the driver's local zone."""
    return ts.replace(tzinfo=dt.timezone.utc) if ts.tzinfo is None else ts
