"""Generate the synthetic world (raw events, content, users, ground truth) into ingest.path.

    foryou generate --run-date D [--set world.n_users=400 --set world.days=7 ...]

The world is written once per config: later runs (every date of a backfill) find it in place.
"""
import sys

from foryou.config import ConfigError
from foryou.runtime import JobContext, job_main
from foryou.world.landing import land_world


def run(ctx: JobContext) -> None:
    out = ctx.config.ingest.path
    if not out:
        raise ConfigError("ingest.path is not set: generate writes the world where ingest reads "
                          "it (e.g. --set ingest.path=./raw)")
    counts, created = land_world(ctx.spark, ctx.config.world, out)
    for name in ("events", "impressions", "users", "bots", "items", "uploads", "dirty"):
        ctx.metrics.record(f"world.{name}", counts[name], "rows", created=created)
    ctx.metrics.record("rows_out", counts["events"] if created else 0, "rows")
    state = "generated" if created else "already in place"
    print(f"  world {state} at {out}: {counts['events']:,} events, {counts['users']:,} users "
          f"({counts['bots']} bots), {counts['items']:,} items, {counts['dirty']:,} dirty records")


def main(argv=None) -> int:
    return job_main("generate", run, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
