"""``foryou pipeline``: every stage in dependency order, per run date, resumable.

Each stage is an ordinary job (``foryou <stage> --run-date D``). A stage whose run is already
committed for that date (its commit key is in ``gold.metrics``) is skipped, so after a failure
the next run resumes at the failed stage, and a backfill is one run date after another.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from typing import Sequence

from pyspark.sql import functions as F

from foryou.cli import main as run_command
from foryou.lake import CommitKey, Lake
from foryou.runtime.metrics import METRICS_TABLE, Metrics
from foryou.stages import Stage, stage_names

log = logging.getLogger("foryou.pipeline")


def select(stages: Sequence[Stage], start: str | None, until: str | None,
           synthetic: bool = True) -> list[Stage]:
    """The slice ``--from start --until until`` (inclusive) of ``stages``; without
    ``synthetic``, stages that only make sense on a generated world are left out unless
    ``--from`` names one (so a pipeline on your own logs starts at ingest)."""
    names = stage_names()
    for flag, name in (("--from", start), ("--until", until)):
        if name is not None and name not in names:
            raise ValueError(f"{flag} {name!r}: unknown stage; stages: {', '.join(names)}")
    lo = names.index(start) if start else 0
    hi = names.index(until) if until else len(names) - 1
    if lo > hi:
        raise ValueError(f"--from {start} comes after --until {until}")
    return [s for s in stages if lo <= names.index(s.name) <= hi
            and (synthetic or not s.synthetic or s.name == start)]


def _stage_figures(lake: Lake, stage: str, run_date: dt.date) -> dict[str, float | None]:
    """rows_in, rows_out and seconds of the stage's latest succeeded run for that date."""
    # bounded: a stage's few figures of one run date
    rows = (lake.read(METRICS_TABLE, partitions=[run_date])
            .where(F.col("stage") == stage)
            .where(F.col("name").isin("rows_in", "rows_out", "seconds"))
            .orderBy(F.col("recorded_at").desc())
            .select("name", "value").collect())
    figures: dict[str, float | None] = {"rows_in": None, "rows_out": None, "seconds": None}
    for row in rows:
        if figures[row["name"]] is None:
            figures[row["name"]] = row["value"]
    return figures


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (a JVM error's Java class and message, not its
    Py4J stack), at most ``limit`` characters."""
    text = str(exc).strip()
    java = re.search(r"((?:[a-z]+\.)+[A-Z]\w*(?:Exception|Error)): ([^\n]*)", text)
    line = f"{java.group(1).rsplit('.', 1)[-1]}: {java.group(2)}" if java else \
        f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
    return line[:limit]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def run_pipeline(lake: Lake, run_dates: Sequence[dt.date], stages: Sequence[Stage],
                 passthrough: Sequence[str] = (), force: bool = False) -> int:
    """Run ``stages`` for each run date in order; stop at the first failure (exit code)."""
    for run_date in run_dates:
        metrics = Metrics(f"pipeline-{run_date}-{int(time.time())}", "pipeline", run_date)
        print(f"pipeline: run date {run_date}")
        print(f"  {'stage':<18}{'status':<12}{'rows in':>12}{'rows out':>12}{'time':>9}")
        for stage in stages:
            key = CommitKey(stage.name, run_date)
            if not force and lake.is_committed(METRICS_TABLE, key):
                print(f"  {stage.name:<18}{'committed':<12}{'':>12}{'':>12}{'':>9}")
                metrics.record(f"stage.{stage.name}", 0, "s", status="skipped")
                continue
            start = time.perf_counter()
            argv = [stage.name, "--run-date", str(run_date), *passthrough]
            if force:
                argv.append("--force")
            error = None
            try:
                code = run_command(argv)
            except SystemExit as exc:  # argparse rejected the stage's arguments
                code = exc.code if isinstance(exc.code, int) else 2
            except Exception as exc:  # noqa: BLE001 - the table and one line; the traceback is logged
                log.error("%s failed for %s", stage.name, run_date, exc_info=True)
                code, error = 1, one_line(exc)
            seconds = time.perf_counter() - start
            if code != 0:
                print(f"  {stage.name:<18}{'FAILED':<12}{'':>12}{'':>12}{seconds:>8.1f}s")
                if error:
                    print(f"pipeline: {stage.name}: {error}")
                metrics.record(f"stage.{stage.name}", seconds, "s", status="failed", exit_code=code)
                metrics.flush(lake.spark, lake, None, False)
                print(f"pipeline: {stage.name} failed for {run_date} (exit {code}); "
                      "the next run resumes at this stage")
                return code
            figures = _stage_figures(lake, stage.name, run_date)
            print(f"  {stage.name:<18}{'done':<12}{_fmt(figures['rows_in']):>12}"
                  f"{_fmt(figures['rows_out']):>12}{seconds:>8.1f}s")
            metrics.record(f"stage.{stage.name}", seconds, "s", status="done",
                           detail=json.dumps(figures))
        metrics.flush(lake.spark, lake, CommitKey("pipeline", run_date), force)
    return 0
