"""Cut the run date's silver events into user sessions (silver.sessions).

    foryou sessionize --run-date YYYY-MM-DD [--force]

Writes the sessions starting on the run date and re-stitches the sessions still open at its
midnight (a session crossing midnight stays one session, in the partition of its start); see
``foryou.sessions.daily``. The inactivity gap is ``sessions.gap_minutes`` (30 by default).
"""
import sys

from foryou.sessions.daily import run_sessionize
from foryou.runtime import JobContext, job_main


def run(ctx: JobContext) -> None:
    result, plan = run_sessionize(ctx)
    print(f"  silver.sessions: {result.rows:,} sessions in {len(plan.partitions)} partition(s) "
          f"({plan.open_sessions:,} open at midnight re-stitched)"
          + (" (already committed)" if result.skipped else ""))


def main(argv=None) -> int:
    return job_main("sessionize", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
