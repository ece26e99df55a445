"""The ``sessionize`` stage: the run date's sessions into silver.sessions, in one commit.

When the run date's clean brought events of earlier dates (late events, or a history ingested
at once; :func:`~foryou.runtime.arrivals.reopened_dates`), every day from the earliest of them
to the run date is sessionized afresh in the same pass and commit.
"""
from __future__ import annotations

import datetime as dt

from foryou.config.settings import SessionsSettings
from foryou.lake import CommitKey, Lake
from foryou.runtime.arrivals import ingest_prefix, reopened_dates
from foryou.sessions.daily import SESSIONS_TABLE, sessions_for_day
from foryou.stages import StageResult

def run(lake: Lake, settings: SessionsSettings, run_date: dt.date, key: CommitKey,
        force: bool = False) -> StageResult:
    """Compute the run date's sessions (re-stitching those open at midnight), replace their
    partitions, record the counts."""
    with StageResult() as out:  # a failure keeps what was recorded so far
        gap = settings.sessions.gap_minutes
        reopened = reopened_dates(lake, run_date, ingest_prefix(run_date, settings.clean))
        frame, plan = sessions_for_day(lake, run_date, settings.sessions,
                                       first=reopened[0] if reopened else None)
        write = lake.replace_partitions(SESSIONS_TABLE, frame, partitions=list(plan.partitions),
                                        key=key, force=force)
        out.record_write(write)
        out.record("open_sessions_restitched", plan.open_sessions, "sessions",
                   partitions=[str(p) for p in plan.partitions])
        out.record("sessions.reopened_dates", len(reopened), "dates", dates=[str(d) for d in reopened])
        out.record("gap_minutes", gap, "min")
        out.say(f"  {SESSIONS_TABLE}: {write.rows:,} sessions in {len(plan.partitions)} partition(s) "
                f"({plan.open_sessions:,} open at midnight re-stitched)"
                + (" (already committed)" if write.skipped else ""))
        return out
