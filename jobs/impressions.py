"""Join the run date's served items with their outcomes into silver.impressions.

    foryou impressions --run-date YYYY-MM-DD [--force]

One row per (request_id, position) with KuaiRand's labels (click, long_view, complete,
watch_ms, watch_ratio, like, comment, share, follow, save, skip, hide, report); interaction
logs without impressions give positive rows flagged has_impressions=false. See
``foryou.impressions.labels`` for the attribution window and the label definitions.
"""
import sys

from foryou.impressions.labels import run_impressions
from foryou.runtime import JobContext, job_main


def run(ctx: JobContext) -> None:
    result, c = run_impressions(ctx)
    print(f"  silver.impressions: {c.impression_events:,} impression events = {c.served_rows:,} rows "
          f"+ {c.duplicates:,} duplicates + {c.quarantined:,} quarantined; "
          f"{c.interaction_rows:,} interaction rows; {c.rows_with_outcome:,} rows with an outcome"
          + (" (already committed)" if result.skipped else ""))


def main(argv=None) -> int:
    return job_main("impressions", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
