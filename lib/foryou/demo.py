"""``make demo``: a synthetic world through every pipeline stage, then a summary."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.config import Config, load_config
from foryou.lake import Lake
from foryou.lake.days import date_range
from foryou.lake.report import tables_text
from foryou.lake.vocabulary import (
    BRONZE_EVENTS, BRONZE_QUARANTINE, CONTENT_ID, GOLD_METRICS, GOLD_USER_CANDIDATES as EXPORT,
    GOLD_USER_FEATURES, SILVER_IMPRESSIONS, SILVER_SESSIONS, USER_ID,
)
from foryou.pipeline import run_pipeline, select
from foryou.spark import get_spark
from foryou.stages import STAGES, stage_names
from foryou.world import preset
from foryou.world.params import SIZES


def _world_overrides(size: str) -> list[str]:
    world = preset(size).model_dump(mode="json")
    world.pop("kuairand_dir")
    return [f"world.{k}={v}" for k, v in world.items()]


def _summary(lake: Lake) -> str:
    """Key figures of the run, read back from the tables and gold.metrics."""
    lines = []
    # bounded: one row per clean metric name
    clean = {r["name"]: r["value"] for r in lake.read(GOLD_METRICS)
             .where(F.col("stage") == "clean").where(F.col("name").startswith("silver.events."))
             .groupBy("name").agg(F.sum("value").alias("value")).collect()}
    if clean.get("silver.events.input"):  # none when a stream landed the events
        lines.append(
            f"events: {clean.get('silver.events.input', 0):,.0f} in = "
            f"{clean.get('silver.events.accepted', 0):,.0f} accepted + "
            f"{clean.get('silver.events.quarantined', 0):,.0f} quarantined + "
            f"{clean.get('silver.events.duplicates', 0):,.0f} duplicates")
    if lake.exists(BRONZE_QUARANTINE):
        # bounded: the three most common reasons
        top = (lake.read(BRONZE_QUARANTINE).groupBy("reason").count()
               .orderBy(F.desc("count")).limit(3).collect())
        lines += [f"quarantine: {r['count']:,} x {r['reason'][:90]}" for r in top]
    if lake.exists(SILVER_SESSIONS):
        s = lake.read(SILVER_SESSIONS).agg(F.count("*").alias("n"), F.avg("duration_s").alias("d"),
                                           F.avg("events").alias("e")).first()
        lines.append(f"sessions: {s['n']:,}, mean {s['d'] / 60:.1f} min and {s['e']:.1f} events each")
    if lake.exists(SILVER_IMPRESSIONS):
        i = lake.read(SILVER_IMPRESSIONS).agg(F.count("*").alias("n"), F.avg("click").alias("ctr"),
                                              F.avg("long_view").alias("lv"),
                                              F.avg("like").alias("like")).first()
        lines.append(f"impressions: {i['n']:,}; click rate {i['ctr']:.1%}, long view "
                     f"{i['lv']:.1%}, like {i['like']:.2%}")
    latest = (lake.read(GOLD_USER_FEATURES).agg(F.max("as_of_date")).first()[0]
              if lake.exists(GOLD_USER_FEATURES) else None)
    if latest is not None:  # None: the first feature day, with no user before it
        bots = (lake.read(GOLD_USER_FEATURES, partitions=[latest])
                .where(F.col("suspected_bot")).count())
        lines.append(f"features as of {latest}: {bots} suspected bot(s)")
    return "\n".join(lines)


def _one_feed(lake: Lake) -> str:
    """One user's feed, read back the way serving reads it (delta-rs, no JVM)."""
    if not lake.exists(EXPORT):
        return ""
    from foryou.serving import FeedReader

    reader = FeedReader.from_lake(lake, refresh_interval_s=None)
    if not reader.users:
        return "feed: the export holds no users"
    # Any user of the export: the first row of its first file (never a scan of the table).
    import pyarrow.parquet as pq

    first = lake.snapshot(EXPORT, reader.version).uris[0]
    user = pq.ParquetFile(first).read_row_group(0, columns=[USER_ID])[0][0].as_py()
    rows = reader.feed(user, n=10)
    lines = [f"feed of user {user[:16]}... (export version {reader.version}, read by "
             f"foryou.serving.FeedReader; {reader.users:,} users):"]
    lines += [f"  {r['rank']:>2}. {r[CONTENT_ID]:<14} score {r['score']:.4f}  {r['source']}"
              for r in rows]
    return "\n".join(lines)


def _forget_one_user(lake: Lake, common: list[str]) -> int:
    """Erasure on the demo's lake: one user of the world forgotten with ``foryou forget-users``
    (rows deleted from every table, files vacuumed), as a privacy request would be served."""
    if not lake.exists(BRONZE_EVENTS):
        return 0
    # bounded: one row
    first = (lake.read(BRONZE_EVENTS).where(F.col(USER_ID).isNotNull())
             .select(USER_ID).limit(1).collect())
    if not first:
        return 0
    print("\nforget-users: one user of the world asks to be forgotten")
    # The id file lives outside the lake: nothing under the lake root may keep the raw id.
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as ids:
        ids.write(first[0][USER_ID] + "\n")
        ids.flush()
        return foryou(["forget-users", "--ids", ids.name, *common])


@dataclass(frozen=True)
class DemoRun:
    """A demo's world size, config, the ``--conf``/``--set`` arguments every command it runs
    gets, and the raw world's landing folder."""

    size: str
    config: Config
    common: list[str]
    landing: str


def parse_demo(argv: list[str] | None, description: str, folder: str = "",
               extra: Callable[[Config], list[str]] = lambda _: []) -> DemoRun:
    """``--size``, ``--conf`` and ``--set`` of a demo: the world preset of that size, landing
    in ``<lake root's parent>/landing/<folder><size>`` unless ``ingest.path`` is set, plus
    ``extra(base config)`` overrides (the user's ``--set`` win)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--conf", action="append", default=[])
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args(argv)
    base = load_config(args.conf, args.overrides)
    landing = base.ingest.path or os.path.join(
        os.path.dirname(os.path.abspath(base.lake.root)), "landing", folder + args.size)
    overrides = (_world_overrides(args.size) + [f"ingest.path={landing}", *extra(base)]
                 + args.overrides)
    common = [a for c in args.conf for a in ("--conf", c)] + [a for s in overrides for a in ("--set", s)]
    return DemoRun(args.size, load_config(args.conf, overrides), common, landing)


def main(argv: list[str] | None = None) -> int:
    run = parse_demo(argv, __doc__)
    config, common, landing = run.config, run.common, run.landing

    started = time.perf_counter()
    stages = stage_names()
    world = config.world
    print(f"foryou demo: a {run.size} synthetic world ({world.n_users:,} users, {world.days} days "
          f"from {world.start_date}) through every stage: {', '.join(stages)}")
    # Every day of the world through the daily stages (the feature store day by day, so the
    # ranker has examples of every day), then the model and feed stages once, the day after
    # the world ends: features as of that day see every event.
    feed_day = world.end_date + dt.timedelta(days=1)
    lake = Lake(get_spark(config), config)
    daily = stages[:stages.index("features") + 1]
    code = run_pipeline(lake, config, date_range(world.start_date, feed_day),
                        select(STAGES, None, daily[-1]))
    later = [n for n in stages if n not in daily]
    if code == 0 and later:
        code = run_pipeline(lake, config, [feed_day], select(STAGES, later[0], None))
    if code:
        print(f"foryou demo: the pipeline failed (exit {code}); re-run `make demo` to resume")
        return code

    print("\n" + tables_text(lake))
    print("\n" + _summary(lake))
    feed = _one_feed(lake)
    if feed:
        print("\n" + feed)
    code = _forget_one_user(lake, common)
    if code:
        print(f"foryou demo: forget-users failed (exit {code})")
        return code
    print(f"\nDemo finished in {time.perf_counter() - started:.0f}s.")
    root = os.path.abspath(config.lake.root)
    print(f"Delta tables:      {root}")
    print(f"Raw world + truth: {landing}")
    reports = sorted(Path(root, "reports").glob("report-*.html"))
    if reports:
        print(f"Evaluation report: {reports[-1]}")
    if os.path.exists(os.path.join(root, "mlflow.db")):
        print(f"MLflow UI:         .venv/bin/mlflow ui --backend-store-uri sqlite:///{root}/mlflow.db")
    print("Inspect:           .venv/bin/foryou tables | .venv/bin/foryou history silver.events")
    return 0


def stop_session() -> None:
    """Stop the demo's session before the interpreter exits. Left to the JVM's shutdown, a
    standalone (local-cluster) master sees its executors die mid-shutdown and its workers try
    to relaunch them, which prints a wall of errors after a run that succeeded."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def run_demo(main: Callable[[], int]) -> None:
    """Run a demo's ``main`` and exit with its code, stopping the session first."""
    code = 1
    try:
        code = main()
    finally:
        stop_session()
    sys.exit(code)


if __name__ == "__main__":
    run_demo(main)
