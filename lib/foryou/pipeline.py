"""``foryou pipeline``: every stage in dependency order, per run date, resumable.

Each stage is called directly, as its job calls it: ``foryou.<stage>.stage.run(lake,
settings, run_date, key, force)`` with the stage's settings (:mod:`foryou.config.settings`),
its figures committed to ``gold.metrics`` under the stage's commit key
(:func:`foryou.runtime.context.execute`). A stage whose run is already committed for that
date is skipped, so after a failure the next run resumes at the failed stage, and a backfill
is one run date after another. Stage options beyond the config (``features --full``, ...)
take their defaults.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from typing import Callable, Sequence

import foryou.candidates.stage
import foryou.clean.stage
import foryou.embeddings.stage
import foryou.evaluation.stage
import foryou.export.stage
import foryou.features.stage
import foryou.impressions.stage
import foryou.ingest.stage
import foryou.ranking.stage
import foryou.sessions.stage
import foryou.world.stage
from foryou.config import Config
from foryou.config import settings as S
from foryou.lake import CommitKey, Lake
from foryou.runtime.context import execute
from foryou.runtime.metrics import METRICS_TABLE, Metrics
from foryou.stages import Stage, StageResult, stage_names

log = logging.getLogger("foryou.pipeline")

# Each stage's entry and the settings it is given, by stage name (foryou.stages.STAGES).
ENTRIES: dict[str, tuple[Callable[..., StageResult], type]] = {
    "generate": (foryou.world.stage.run, S.GenerateSettings),
    "ingest": (foryou.ingest.stage.run, S.IngestSettings),
    "clean": (foryou.clean.stage.run, S.CleanSettings),
    "impressions": (foryou.impressions.stage.run, S.ImpressionsSettings),
    "sessionize": (foryou.sessions.stage.run, S.SessionsSettings),
    "features": (foryou.features.stage.run, S.FeaturesSettings),
    "train-embeddings": (foryou.embeddings.stage.run, S.EmbeddingsSettings),
    "train-ranker": (foryou.ranking.stage.run, S.RankingSettings),
    "build-candidates": (foryou.candidates.stage.run, S.CandidatesSettings),
    "export": (foryou.export.stage.run, S.ExportSettings),
    "evaluate": (foryou.evaluation.stage.run, S.EvaluationSettings),
}


def run_stage(lake: Lake, config: Config, stage: str, run_date: dt.date,
              force: bool = False) -> tuple[Metrics, float]:
    """Run one stage for ``run_date`` and commit its figures (see
    :func:`~foryou.runtime.context.execute`); returns its metrics and seconds."""
    entry, settings = ENTRIES[stage]
    return execute(stage, run_date, lake, force, lambda: entry(
        lake, settings.of(config), run_date, CommitKey(stage, run_date), force))


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


def run_pipeline(lake: Lake, config: Config, run_dates: Sequence[dt.date],
                 stages: Sequence[Stage], force: bool = False) -> int:
    """Run ``stages`` for each run date in order; stop at the first failure (exit code 1)."""
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
            try:
                done, seconds = run_stage(lake, config, stage.name, run_date, force)
            except Exception as exc:  # noqa: BLE001 - the table and one line; the traceback is logged
                log.error("%s failed for %s", stage.name, run_date, exc_info=True)
                seconds = time.perf_counter() - start
                print(f"  {stage.name:<18}{'FAILED':<12}{'':>12}{'':>12}{seconds:>8.1f}s")
                print(f"pipeline: {stage.name}: {one_line(exc)}")
                metrics.record(f"stage.{stage.name}", seconds, "s", status="failed")
                metrics.flush(lake.spark, lake, None, False)
                print(f"pipeline: {stage.name} failed for {run_date}; "
                      "the next run resumes at this stage")
                return 1
            figures = {name: done.value(name) for name in ("rows_in", "rows_out", "seconds")}
            print(f"  {stage.name:<18}{'done':<12}{_fmt(figures['rows_in']):>12}"
                  f"{_fmt(figures['rows_out']):>12}{seconds:>8.1f}s")
            metrics.record(f"stage.{stage.name}", seconds, "s", status="done",
                           detail=json.dumps(figures))
        metrics.flush(lake.spark, lake, CommitKey("pipeline", run_date), force)
    return 0
