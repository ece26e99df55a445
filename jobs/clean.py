"""Clean the run date's bronze events, content and users into silver.

    foryou clean --run-date YYYY-MM-DD [--force]

Takes the bronze rows of the run date's ingests (see ``foryou.clean``), quarantines
invalid records with a reason naming the field, dedups events by event_id, pseudonymises user
ids, validates each silver batch with its Great Expectations suite and records where every
input row went (input = accepted + quarantined + duplicates) in gold.metrics.
"""
import sys

from foryou.clean.run import CountMismatch, run_clean
from foryou.quality.expectations import QualityError
from foryou.runtime import JobContext, job_main


def run(ctx: JobContext) -> None:
    for c in run_clean(ctx):
        print(f"  {c.table}: {c.input:,} in = {c.accepted:,} accepted + {c.quarantined:,} "
              f"quarantined + {c.duplicates:,} duplicates")


def main(argv=None) -> int:
    try:
        return job_main("clean", run, argv, description=__doc__)
    except (QualityError, CountMismatch) as exc:
        # The run is recorded as failed in gold.metrics and nothing of it counts as done.
        print(f"foryou clean: stopped: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
