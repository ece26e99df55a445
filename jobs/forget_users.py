"""Forget users: delete their rows from every table that holds user rows, then vacuum.

    foryou forget-users --ids FILE

FILE holds raw user ids, one per line. Bronze rows are matched by raw id, silver and gold rows
by pseudonym (the key comes from FORYOU_PSEUDONYM_KEY or the configured Databricks secret;
it must be the key the tables were written with). Tables that lost rows are vacuumed with
retention 0 and their Delta logs expired (checkpoint, older entries deleted), so the bytes are
gone from data and log alike; their history then starts at the forget. The deleted count per table is printed and recorded in
gold.metrics (stage forget-users, run date today). Any number of requests may run per day.
"""
import datetime as dt
import sys
import uuid

from foryou.privacy.forget import forget_users, read_ids
from foryou.privacy.pseudonyms import load_key
from foryou.runtime import Metrics, operator_main

NAME = "forget-users"


def add_arguments(parser) -> None:
    parser.add_argument("--ids", required=True, metavar="FILE",
                        help="file of raw user ids to forget, one per line")


def run(config, spark, lake, args) -> int:
    try:
        ids = read_ids(args.ids)
    except FileNotFoundError as exc:
        print(f"foryou {NAME}: {exc}", file=sys.stderr)
        return 2
    key = load_key(config.privacy, spark)
    report = forget_users(lake, ids, key.value, config.privacy.forget_chunk_size)
    today = dt.datetime.now(dt.timezone.utc).date()
    metrics = Metrics(f"{NAME}-{today}-{uuid.uuid4().hex[:8]}", NAME, today)
    metrics.record("users", report.users, "users", key_origin=key.origin)
    print(f"foryou {NAME}: {report.users:,} user(s)")
    for name, deleted in report.deleted.items():
        files = report.files_removed.get(name, 0)
        oldest = report.oldest_version.get(name)
        metrics.record(f"rows_deleted.{name}", deleted, "rows", files_vacuumed=files,
                       oldest_version=oldest)
        since = "" if oldest is None else f", history now starts at version {oldest}"
        print(f"  {name}: {deleted:,} rows deleted, {files:,} files vacuumed{since}")
    metrics.record("rows_deleted", report.total_deleted, "rows")
    # No commit key: every erasure request is its own run, however many run per day.
    metrics.flush(spark, lake, None, False)
    return 0


def main(argv=None) -> int:
    return operator_main(NAME, run, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
