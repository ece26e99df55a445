"""Generate the synthetic world (raw events, content, users, ground truth) into ingest.path.

    foryou generate --run-date D [--set world.n_users=400 --set world.days=7 ...]

The world is written once per config: later runs (every date of a backfill) find it in place.
"""
import sys

from foryou.config.settings import GenerateSettings
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult
from foryou.world import stage


def run(ctx: JobContext) -> StageResult:
    return stage.run(ctx.lake, GenerateSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force)


def main(argv=None) -> int:
    return job_main("generate", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
