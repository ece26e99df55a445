"""Cut the run date's silver events into user sessions (silver.sessions).

    foryou sessionize --run-date YYYY-MM-DD [--force]

Writes the sessions starting on the run date and re-stitches the sessions still open at its
midnight (a session crossing midnight stays one session, in the partition of its start); see
``foryou.sessions.daily``. The inactivity gap is ``sessions.gap_minutes`` (30 by default).
"""
import sys

from foryou.sessions import stage
from foryou.config.settings import SessionsSettings
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def run(ctx: JobContext) -> StageResult:
    return stage.run(ctx.lake, SessionsSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force)


def main(argv=None) -> int:
    return job_main("sessionize", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
