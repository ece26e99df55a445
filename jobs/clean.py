"""Clean the run date's bronze events, content and users into silver.

    foryou clean --run-date YYYY-MM-DD [--force]

Takes the bronze rows of the run date's ingests (see ``foryou.clean``), quarantines
invalid records with a reason naming the field, dedups events by event_id, pseudonymises user
ids, validates each silver batch with its Great Expectations suite and records where every
input row went (input = accepted + quarantined + duplicates) in gold.metrics.
"""
import sys

from foryou.clean import stage
from foryou.clean.stage import CountMismatch
from foryou.config.settings import CleanSettings
from foryou.quality.expectations import QualityError
from foryou.runtime import JobContext, job_main
from foryou.stages import StageResult


def run(ctx: JobContext) -> StageResult:
    return stage.run(ctx.lake, CleanSettings.of(ctx.config), ctx.run_date, ctx.key(), ctx.force)


def main(argv=None) -> int:
    return job_main("clean", run, argv, description=__doc__, errors=(QualityError, CountMismatch))


if __name__ == "__main__":
    sys.exit(main())
