"""Does a feature day cost follow the day's activity or the user base? (issue 24, item 3)

    python bench/activity.py [--rows 1000000] [--users 20000] [--items 20000] [--active 0.1]

1. Day 1: ``--rows`` silver events and impressions of all ``--users`` users (the generators
   of ``bench/features.py``), and its feature day: the state every user then holds.
2. Two copies of that lake get day 2, the day timed: on one every user is active (``--rows``
   events again), on the other only a share ``--active`` of the same users is, each as active
   as before (``rows x active`` events, the impressions alike).
3. Day 2's feature day (``build_day``, incremental from day 1's state, examples included) runs
   on each lake, alternating, ``--repeat`` times (a re-run with ``force``), best kept.

Target (issue 24): the day with 10% of the users active costs <= 0.3x the day with all of
them. The state tables are written whole each day, so the users who did nothing still cost
their rows: the ratio says how much. Writes bench/results/activity.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import overrides, save, session, timed  # noqa: E402
from features import content, events, impressions  # noqa: E402
from foryou.config import load_config  # noqa: E402
from foryou.features.build import build_day  # noqa: E402
from foryou.lake import Lake  # noqa: E402

DAY1 = dt.date(2024, 5, 1)
DAY2 = DAY1 + dt.timedelta(days=1)
DAY3 = DAY2 + dt.timedelta(days=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="events of a day with every user active")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--active", type=float, default=0.1, help="share of the users active on the light day")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    args = parser.parse_args(argv)
    if not 0 < args.active <= 1:
        parser.error("--active must be in (0, 1]")
    work = Path(tempfile.mkdtemp(prefix="foryou-bench-activity-"))
    config, spark = session(shuffle_partitions=args.shuffle_partitions, extra=[f"lake.root={work / 'day1'}"])
    t: dict = {}
    active_users = max(1, int(args.users * args.active))
    light_rows = int(args.rows * args.active)
    try:
        day1 = Lake(spark, config)
        with timed(t, "day1_s"):
            day1.append("silver.content", content(spark, args.items, DAY1))
            day1.append("silver.events", events(spark, args.rows, args.users, args.items, DAY1))
            for day in (DAY1, DAY2):
                day1.append("silver.impressions", impressions(spark, args.rows // 4, args.users, args.items, day))
            build_day(day1, config.features, DAY2)
        print(f"day 1: {args.rows:,} events of {args.users:,} users and its feature day in {t['day1_s']:.1f}s")

        # Day 2 on two copies: every user active, or the first ``active_users`` (the generators
        # draw user ids from u0..u<users-1>, so those are a subset of day 1's users).
        lakes = {}
        for name, users, rows in (("all", args.users, args.rows), ("active", active_users, light_rows)):
            root = work / name
            shutil.copytree(work / "day1", root, ignore=shutil.ignore_patterns("_locks"))
            cfg = load_config(overrides=overrides(shuffle_partitions=args.shuffle_partitions,
                                                  extra=[f"lake.root={root}"]))
            lake = Lake(spark, cfg)
            lake.append("silver.events", events(spark, rows, users, args.items, DAY2))
            lake.append("silver.impressions", impressions(spark, rows // 4, users, args.items, DAY3))
            lakes[name] = (lake, cfg)
        print(f"day 2: all {args.users:,} users active ({args.rows:,} events), or "
              f"{active_users:,} ({args.active:.0%}; {light_rows:,} events)")

        runs: dict[str, list[float]] = {name: [] for name in lakes}
        tables: dict[str, dict] = {}
        for _ in range(args.repeat):
            for name, (lake, cfg) in lakes.items():
                into: dict = {}
                with timed(into, "s"):
                    result = build_day(lake, cfg.features, DAY3, force=True)
                runs[name].append(into["s"])
                if into["s"] == min(runs[name]):
                    tables[name] = {"seconds": {n: round(s, 2) for n, s in result.seconds.items()},
                                    "rows": {n: w.rows for n, w in result.writes.items()}}
                print(f"  {name}: {into['s']:.1f}s ({', '.join(f'{n} {s:.1f}' for n, s in result.seconds.items())})",
                      flush=True)
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    best = {name: min(v) for name, v in runs.items()}
    ratio = best["active"] / best["all"]
    print(f"\nfeature day 2, best of {args.repeat}: every user active {best['all']:.1f}s, "
          f"{args.active:.0%} active {best['active']:.1f}s: ratio {ratio:.2f} (target <= 0.3): "
          f"{'MET' if ratio <= 0.3 else 'MISSED'}")
    for name in ("all", "active"):
        print(f"  {name}: rows written {tables[name]['rows']}")
    save("activity", {"rows": args.rows, "users": args.users, "items": args.items,
                      "active_share": args.active, "active_users": active_users, "light_rows": light_rows,
                      **t, "runs_s": runs, "best_s": best, "ratio": round(ratio, 3), "target": 0.3,
                      "tables": tables})
    return 0


if __name__ == "__main__":
    sys.exit(main())
