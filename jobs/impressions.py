"""Join the run date's served items with their outcomes into silver.impressions.

    foryou impressions --run-date YYYY-MM-DD [--force]

One row per (request_id, position) with KuaiRand's labels (click, long_view, complete,
watch_ms, watch_ratio, like, comment, share, follow, save, skip, hide, report); interaction
logs without impressions give positive rows flagged has_impressions=false. See
``foryou.impressions.labels`` for the attribution window and the label definitions.
"""
import sys

from foryou.impressions import stage
from foryou.config.settings import ImpressionsSettings
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def run(ctx: JobContext) -> StageResult:
    settings = ImpressionsSettings.of(ctx.config)
    return stage.run(ctx.lake, settings, ctx.run_date, ctx.key(), ctx.force)


def main(argv=None) -> int:
    return job_main("impressions", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
