"""One job run: parse the common arguments, build the context, run, record metrics.

Every job's ``main(argv)`` is a call to :func:`job_main` with the job's body, so the same
function serves ``spark-submit jobs/<name>.py``, ``foryou <name>``, a Databricks
``python_wheel_task`` and Airflow's ``SparkSubmitOperator``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Sequence

from pyspark.sql import SparkSession

from foryou import __version__
from foryou.config import Config, ConfigError, load_config
from foryou.connectors import ConnectorError
from foryou.lake import CommitKey, Lake, LakeError
from foryou.runtime.metrics import METRICS_TABLE, Metrics
from foryou.spark import get_spark
from foryou.stages import StageResult

log = logging.getLogger("foryou")


@dataclass
class JobContext:
    """What a job body gets: its run date, config, session, lake and arguments."""

    job: str
    run_date: dt.date
    config: Config
    spark: SparkSession
    lake: Lake
    force: bool
    args: argparse.Namespace

    def key(self, part: str = "") -> CommitKey:
        """The idempotency key of this job's output for this run date."""
        return CommitKey(self.job, self.run_date, part)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--run-date {text!r}: expected YYYY-MM-DD") from None


def parse_args(name: str, description: str | None, run_date: bool, add_arguments: Callable | None,
               argv: Sequence[str] | None) -> argparse.Namespace:
    """The command's arguments: ``--conf``/``--set``, with ``run_date`` also ``--run-date`` and
    ``--force``, plus what ``add_arguments(parser)`` adds."""
    parser = argparse.ArgumentParser(prog=f"foryou {name}", description=description)
    parser.add_argument("--conf", action="append", default=[], metavar="FILE",
                        help="YAML config overlay (repeatable, applied in order)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="overrides", help="override one config key, e.g. lake.root=/tmp/lake")
    if run_date:
        parser.add_argument("--run-date", type=_date,
                            default=dt.datetime.now(dt.timezone.utc).date(),
                            help="the logical date this run is for (default: today, UTC)")
        parser.add_argument("--force", action="store_true",
                            help="recompute and replace this run date's output")
    if add_arguments:
        add_arguments(parser)
    return parser.parse_args(argv)


def _setup(args) -> tuple[Config, SparkSession, Lake]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = load_config(args.conf, args.overrides)
    spark = get_spark(config)
    return config, spark, Lake(spark, config)


def config_main(name: str, body: Callable[[Config, argparse.Namespace], int],
                argv: Sequence[str] | None, add_arguments: Callable | None = None,
                description: str | None = None,
                errors: tuple[type[Exception], ...] = ()) -> int:
    """Entry point of a command that needs the config but no Spark session (``foryou broker``,
    ``foryou produce``); ``errors`` are reported in one line, exit code 1."""
    args = parse_args(name, description, False, add_arguments, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return body(load_config(args.conf, args.overrides), args)
    except ConfigError as exc:
        print(f"foryou {name}: {exc}", file=sys.stderr)
        return 2
    except (ConnectorError, *errors) as exc:
        print(f"foryou {name}: {exc}", file=sys.stderr)
        return 1


def operator_main(name: str, body: Callable[[Config, SparkSession, Lake, argparse.Namespace], int],
                  argv: Sequence[str] | None, add_arguments: Callable | None = None,
                  description: str | None = None) -> int:
    """Entry point of an operator command (no run date, no metrics): tables, history, restore."""
    args = parse_args(name, description, False, add_arguments, argv)
    try:
        config, spark, lake = _setup(args)
        return body(config, spark, lake, args)
    except (ConfigError, ConnectorError, LakeError, KeyError) as exc:
        print(f"foryou {name}: {exc}", file=sys.stderr)
        return 2


def execute(name: str, run_date: dt.date, lake: Lake, force: bool,
            body: Callable[[], StageResult]) -> tuple[Metrics, float]:
    """Run ``body`` as job ``name`` for ``run_date`` and commit what it recorded.

    The figures go to ``gold.metrics`` under the run's commit key, so the run counts as done
    for its date; a run that raises is recorded without the key (a failed run never counts as
    done), with the figures it recorded before failing, and the exception propagates. Returns
    the run's metrics and its seconds.
    """
    run_id = f"{name}-{run_date}-{uuid.uuid4().hex[:8]}"
    metrics = Metrics(run_id, name, run_date)
    start = time.perf_counter()
    try:
        metrics.extend(body())
    except Exception as exc:
        partial = getattr(exc, "stage_result", None)
        if partial is not None:
            metrics.extend(partial)
        metrics.record("seconds", time.perf_counter() - start, "s", status="failed",
                       error=f"{type(exc).__name__}: {exc}"[:2000])
        metrics.flush(lake.spark, lake, None, False)
        raise
    seconds = time.perf_counter() - start
    if metrics.value("rows_out") is None:
        metrics.record("rows_out", sum(f["value"] or 0 for f in metrics.figures
                                       if f["name"].startswith("rows_written.")), "rows")
    metrics.record("seconds", seconds, "s", status="succeeded", backend=lake.backend_name,
                   spark_master=lake.spark.sparkContext.master, version=__version__)
    metrics.flush(lake.spark, lake, CommitKey(name, run_date), force)
    return metrics, seconds


def job_main(name: str, body: Callable[[JobContext], StageResult], argv: Sequence[str] | None,
             add_arguments: Callable | None = None, description: str | None = None,
             on_committed: Callable[..., str | None] | None = None,
             errors: tuple[type[Exception], ...] = ()) -> int:
    """Run one job for one run date; returns the process exit code.

    ``body`` runs the stage (typically its ``foryou.<stage>.stage.run`` with the settings and
    options the arguments give) and returns what it recorded, which :func:`execute` commits.
    A run whose metrics are already committed for that date is skipped (the job is
    idempotent per run date); ``--force`` recomputes and replaces its output.
    ``on_committed(config, spark, lake, args)`` may then say what the skip leaves out
    (ingest: new files that arrived after the date was committed). A failure of the config,
    the lake or one of ``errors`` is reported in one line, exit code 1; others propagate.
    """
    args = parse_args(name, description, True, add_arguments, argv)
    try:
        config, spark, lake = _setup(args)
    except (ConfigError, ConnectorError, LakeError) as exc:
        print(f"foryou {name}: {exc}", file=sys.stderr)
        return 2
    if not args.force and lake.is_committed(METRICS_TABLE, CommitKey(name, args.run_date)):
        print(f"foryou {name}: already committed for run date {args.run_date}; nothing to do "
              f"(--force recomputes it)")
        note = on_committed(config, spark, lake, args) if on_committed else None
        if note:
            print(f"foryou {name}: WARNING: {note}", file=sys.stderr)
        return 0
    ctx = JobContext(name, args.run_date, config, spark, lake, args.force, args)
    try:
        metrics, seconds = execute(name, args.run_date, lake, args.force, lambda: body(ctx))
    except (ConfigError, LakeError, *errors) as exc:
        # Recorded as failed in gold.metrics: nothing of the run counts as done.
        print(f"foryou {name}: failed for run date {args.run_date}: {exc}", file=sys.stderr)
        return 1
    print(f"foryou {name}: run date {args.run_date} done in {seconds:.1f}s "
          f"(metrics in {METRICS_TABLE}, run_id {metrics.run_id})")
    return 0
