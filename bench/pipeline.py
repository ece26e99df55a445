"""One daily run of every stage, ingest to export, on worlds of growing size: seconds, events/s
per core, driver peak memory and Spark jobs per stage, and how each stage's time grows with
the day's events (the log-log slope between sizes).

    python bench/pipeline.py [--events 1000000 3000000 10000000] [--master local[2]] [--set k=v ...]

For each size a two-day world is generated with about ``events`` events a day (users = events /
63, the world's events per user-day; catalogue 9 items per user, as the large preset). Day 1
goes through the daily stages untimed, so day 2 has a day of history behind it (its feature
day also rebuilds as of day 1, whose late events arrive with day 2, as a production day
rebuilds yesterday). Day 2 is the measured run, each stage called as the pipeline calls it
(:func:`foryou.pipeline.run_stage`): ingest, clean, impressions and sessionize take in the
day's events, features builds the state as of that day and the day's training examples, then
train-embeddings, train-ranker, build-candidates and export. The ranker runs with
``ranking.validation_days=0`` and ``ranking.epochs=2``: it trains on day 1's examples with no
validation day to stop early on, and is tested on day 2's. A production run trains on more
days, so what this measures is its cost per epoch.

Per stage:

- ``seconds``: the stage's wall time, its metrics commit included;
- ``events_per_s_core``: the day's cleaned events / seconds / the session's cores;
- ``driver_rss_mb`` and ``jvm_rss_mb``: peak resident memory of the Python driver and of the
  JVM during the stage (``VmHWM``, reset before each stage through ``/proc/<pid>/clear_refs``);
  ``driver_added_mb``: that peak less the driver's resident memory when the stage started.
  In local mode the JVM holds the executors too, so its peak is not the driver's alone; the
  Python driver's is what a ``collect``/``toPandas`` of a growing frame would show;
- ``spark_jobs``: Spark jobs the stage ran (the stage's job group in the status tracker);
- ``slope``: d log(seconds) / d log(events) between consecutive sizes, and the least-squares
  slope over all of them. 1 is linear; the issue's target is <= 1.1 between 3M and 10M.

Then it infers, and prints apart, each stage's core-hours for ``--extrapolate`` events a day
(10^9) and the cores for a ``--window-hours`` window (:func:`extrapolate`).

``--merge bench/results/pipeline.json`` adds the sizes of an earlier run (same master and
backend) that this run does not measure, so a session can add 10M to the 1M and 3M it has.

Writes ``bench/results/pipeline.json`` and ``bench/results/pipeline.html`` (a log-log figure
and the table, drawn with the evaluation report's helpers).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

from common import RESULTS, add_overrides, save, session  # noqa: E402
from foryou.config import Config, load_config  # noqa: E402
from foryou.evaluation.report import figure_html, plt, table_html  # noqa: E402
from foryou.lake import Lake  # noqa: E402
from foryou.lake.vocabulary import EVENT_DATE, SILVER_EVENTS  # noqa: E402
from foryou.pipeline import run_pipeline, run_stage, select  # noqa: E402
from foryou.stages import STAGES  # noqa: E402

EVENTS_PER_USER_DAY = 63  # foryou.world.params: about 63 events per user-day
ITEMS_PER_USER = 9        # the large preset: 100,000 items for 11,300 users
DAILY = ("ingest", "clean", "impressions", "sessionize")
TOTAL = "daily run"
MEASURED = DAILY + ("features", "train-embeddings", "train-ranker", "build-candidates", "export")


def size_overrides(events: int, root: Path) -> list[str]:
    """Config overrides for a two-day world of about ``events`` events a day under ``root``,
    and the ranker's split and epochs for it (see the module doc)."""
    users = max(64, round(events / EVENTS_PER_USER_DAY))
    return [f"lake.root={root / 'lake'}", f"ingest.path={root / 'landing'}",
            "world.days=2", f"world.n_users={users}", "ranking.validation_days=0",
            "ranking.epochs=2",
            f"world.n_items={max(8_000, ITEMS_PER_USER * users)}",
            f"world.partitions={max(4, min(64, users // 700))}",
            f"world.users_per_block={512 if users >= 4_096 else 128}"]


def _status_kb(pid: int, field: str) -> int | None:
    """``field`` (``VmHWM``: peak, ``VmRSS``: now) of ``pid`` in kB (None where /proc does
    not say)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak(pid: int) -> bool:
    """Reset ``pid``'s ``VmHWM`` to its current RSS (Linux: ``5`` to ``clear_refs``)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure_stage(lake: Lake, config: Config, stage: str, run_date: dt.date, jvm_pid: int) -> dict:
    """Run one stage for ``run_date`` and return its seconds, peak memory and Spark jobs."""
    sc = lake.spark.sparkContext
    pids = {"driver_rss_mb": os.getpid(), "jvm_rss_mb": jvm_pid}
    reset = {name: _reset_peak(pid) for name, pid in pids.items()}
    before = _status_kb(os.getpid(), "VmRSS")
    group = f"bench-pipeline-{stage}-{run_date}-{id(lake)}"
    sc.setJobGroup(group, f"bench {stage}")
    try:
        metrics, seconds = run_stage(lake, config, stage, run_date, force=True)
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    row = {"stage": stage, "seconds": round(seconds, 2),
           "spark_jobs": len(sc.statusTracker().getJobIdsForGroup(group)),
           # the stage's own timers (StageResult.timer: seconds.<part>), kept in the JSON
           "parts": {f["name"].removeprefix("seconds."): round(f["value"], 2) for f in metrics.figures
                     if f["name"].startswith("seconds.") and f["value"] is not None}}
    for name, pid in pids.items():
        kb = _status_kb(pid, "VmHWM") if reset[name] else None
        row[name] = None if kb is None else round(kb / 1024, 1)
    # What the stage added to the Python driver (a process keeps memory it freed, so its peak
    # also carries what earlier stages and sizes left).
    row["driver_added_mb"] = (None if row["driver_rss_mb"] is None or before is None
                              else round(row["driver_rss_mb"] - before / 1024, 1))
    return row


def run_size(spark: SparkSession, events: int, common: list[str]) -> tuple[int, list[dict], str]:
    """The measured day of one world: (cleaned events of the day, rows per stage, backend).
    ``common``: the session's and the user's overrides (the user's win)."""
    work = Path(tempfile.mkdtemp(prefix=f"foryou-bench-pipeline-{events}-"))
    try:
        config = load_config(overrides=[*size_overrides(events, work), *common])
        lake = Lake(spark, config)
        day1 = config.world.start_date
        day2 = day1 + dt.timedelta(days=1)
        print(f"\n== {events:,} events a day: {config.world.n_users:,} users, "
              f"{config.world.n_items:,} items; day 1 ({day1}) untimed")
        code = run_pipeline(lake, config, [day1], select(STAGES, None, "features"))
        if code:
            raise RuntimeError(f"day 1 of the {events:,}-event world failed")
        jvm_pid = int(lake.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        rows = []
        for stage in MEASURED:
            row = measure_stage(lake, config, stage, day2, jvm_pid)
            rows.append(row)
            parts = ", ".join(f"{k} {v:.1f}s" for k, v in row["parts"].items())
            print(f"  {stage:<18}{row['seconds']:>9.1f}s  jobs {row['spark_jobs']:>4}  "
                  f"driver {row['driver_rss_mb']} MB ({_signed(row['driver_added_mb'])})  "
                  f"jvm {row['jvm_rss_mb']} MB" + (f"  ({parts})" if parts else ""))
        day_events = lake.read(SILVER_EVENTS).where(f"{EVENT_DATE} = DATE'{day2}'").count()
        return day_events, rows, lake.backend_name
    finally:
        shutil.rmtree(work, ignore_errors=True)


def slopes(table: pd.DataFrame) -> pd.DataFrame:
    """Per stage: the log-log slope of seconds against events between consecutive sizes
    (``slope <a>-><b>``) and the least-squares slope over every size (``slope``)."""
    out = []
    for stage, rows in table.groupby("stage", sort=False):
        rows = rows.sort_values("events")
        x, y = np.log(rows["events"].to_numpy(float)), np.log(rows["seconds"].to_numpy(float))
        entry = {"stage": stage}
        for i in range(1, len(rows)):
            name = f"slope {_short(rows['events'].iloc[i - 1])}->{_short(rows['events'].iloc[i])}"
            entry[name] = round(float((y[i] - y[i - 1]) / (x[i] - x[i - 1])), 3)
        entry["slope"] = round(float(np.polyfit(x, y, 1)[0]), 3) if len(rows) > 1 else None
        out.append(entry)
    return pd.DataFrame(out)


def extrapolate(table: pd.DataFrame, growth: pd.DataFrame, cores: int, events: float,
                hours: float) -> pd.DataFrame:
    """Inferred, not measured: per stage, core-hours for a day of ``events`` events from the
    largest measured size, growing as ``events ** max(slope, 1)`` with the slope between the
    two largest sizes (the growth nearest the target; a slope below 1 is fixed cost that a
    bigger day does not shrink), and the cores that finish it in ``hours`` if the stage scales
    out evenly. The daily run is the sum of its stages."""
    largest = table[(table["events"] == table["events"].max()) & (table["stage"] != TOTAL)]
    pairs = [c for c in growth.columns if c.startswith("slope ")]
    slope = growth.set_index("stage")[pairs[-1] if pairs else "slope"].fillna(1.0).clip(lower=1.0)
    rows = []
    for _, row in largest.iterrows():
        grows = float(slope.get(row["stage"], 1.0))
        rows.append({"stage": row["stage"], "growth": round(grows, 3),
                     "core_hours": row["seconds"] * cores * (events / row["events"]) ** grows / 3600})
    out = pd.DataFrame(rows)
    out = pd.concat([out, pd.DataFrame([{"stage": TOTAL, "growth": float("nan"),
                                         "core_hours": out["core_hours"].sum()}])], ignore_index=True)
    out[f"cores_for_{hours:g}h"] = (out["core_hours"] / hours).apply(math.ceil)
    out["core_hours"] = out["core_hours"].round(1)
    return out


def _signed(mb: float | None) -> str:
    return "-" if mb is None else f"{mb:+.1f}"


def _short(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k"


def write_html(table: pd.DataFrame, growth: pd.DataFrame, title: str) -> Path:
    """The log-log figure of seconds against events per stage, and both tables."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for stage, rows in table.groupby("stage", sort=False):
        rows = rows.sort_values("events")
        ax.plot(rows["events"], rows["seconds"], marker="o", label=stage)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("events in the day")
    ax.set_ylabel("stage seconds")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    page = (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<h1>{title}</h1>" + figure_html(fig, "Stage seconds against the day's events")
            + "<h2>Growth (log-log slope)</h2>" + table_html(growth)
            + "<h2>Per stage and size</h2>" + table_html(table) + "</body></html>")
    path = RESULTS / "pipeline.html"
    RESULTS.mkdir(exist_ok=True)
    path.write_text(page)
    return path


def earlier_rows(path: Path, master: str, backend: str, measured: set[int]) -> list[dict]:
    """The per-stage rows of an earlier run (``--merge``) for sizes this run did not measure;
    refused when that run used another master or backend (its seconds would not compare)."""
    earlier = json.loads(path.read_text())
    if (earlier["master"], earlier["backend"]) != (master, backend):
        raise SystemExit(f"--merge {path}: measured on {earlier['master']} / {earlier['backend']}, "
                         f"this run on {master} / {backend}")
    return [r for r in earlier["stages"]
            if r["stage"] != TOTAL and r["target_events"] not in measured]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--extrapolate", type=float, default=1e9,
                        help="events a day to extrapolate core-hours to (inferred, printed apart)")
    parser.add_argument("--window-hours", type=float, default=2.0)
    parser.add_argument("--merge", type=Path, default=None,
                        help="an earlier pipeline.json of the same master and backend: its sizes "
                             "that this run does not measure join the table and the slopes")
    add_overrides(parser, "a config override for every size, e.g. lake.backend=native")
    args = parser.parse_args(argv)
    master = [f"spark.master={args.master}", "spark.ui=false", "spark.log_level=ERROR",
              f"spark.shuffle_partitions={args.shuffle_partitions}", *args.overrides]
    _, spark = session(args.master, args.shuffle_partitions, extra=args.overrides)
    cores = spark.sparkContext.defaultParallelism
    rows, sizes, backend = [], {}, None
    for events in sorted(args.events):
        day_events, stage_rows, backend = run_size(spark, events, master)
        sizes[events] = day_events
        for row in stage_rows:
            row.update(target_events=events, events=day_events,
                       events_per_s_core=round(day_events / max(row["seconds"], 0.01) / cores, 1))
            rows.append(row)
    if args.merge:
        rows += earlier_rows(args.merge, spark.sparkContext.master, backend, set(sizes))
        sizes.update({r["target_events"]: r["events"] for r in rows})
    table = pd.DataFrame(rows)[["target_events", "events", "stage", "seconds", "events_per_s_core",
                                "spark_jobs", "driver_rss_mb", "driver_added_mb", "jvm_rss_mb"]]
    table = table.sort_values("target_events", kind="stable", ignore_index=True)
    totals = (table.groupby(["target_events", "events"], as_index=False)
              .agg(seconds=("seconds", "sum"), spark_jobs=("spark_jobs", "sum"),
                   driver_rss_mb=("driver_rss_mb", "max"), driver_added_mb=("driver_added_mb", "max"),
                   jvm_rss_mb=("jvm_rss_mb", "max"))
              .assign(stage=TOTAL, events_per_s_core=lambda f: (f["events"] / f["seconds"] / cores).round(1)))
    table = pd.concat([table, totals[table.columns]], ignore_index=True)
    growth = slopes(table)
    title = f"foryou daily run against the day's events ({spark.sparkContext.master}, {backend} backend)"
    print(f"\n{title}, {cores} cores")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
        print("\n" + growth.to_string(index=False))
    sizing = extrapolate(table, growth, cores, args.extrapolate, args.window_hours)
    print(f"\nInferred for {args.extrapolate:,.0f} events a day from the largest size "
          f"(core-hours grow as events ** max(slope, 1), the slope of the two largest sizes; not measured):")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(sizing.to_string(index=False))
    path = write_html(table, growth, title)
    print(f"figure and tables written to {path}")
    parts = {(r["target_events"], r["stage"]): r.get("parts") or {} for r in rows}
    records = [{**r, "parts": parts.get((r["target_events"], r["stage"]), {})}
               for r in table.to_dict("records")]
    save("pipeline", {"master": spark.sparkContext.master, "backend": backend, "cores": cores,
                      "events": sizes, "stages": records,
                      "slopes": growth.to_dict("records"),
                      "extrapolated": {"events": args.extrapolate, "window_hours": args.window_hours,
                                       "stages": sizing.to_dict("records")}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
