"""What the notebooks in ``notebooks/`` share: the session, the lake, and small read-only views.

A notebook starts with ``spark, lake, config, run_date = session_and_lake(globals())``. On
Databricks that finds the notebook's ``spark`` and ``dbutils``, creates the widgets ``conf``,
``set`` and ``run_date`` and reads the configuration from them; anywhere else it uses the
active (or a new local) session and the environment variables ``FORYOU_CONF``
(comma-separated YAML overlays), ``FORYOU_SET`` (``key=value`` overrides separated by ``;`` or
new lines), ``FORYOU_RUN_DATE`` and ``FORYOU_LAKE_ROOT`` (and ``FORYOU_FIGURES``: a folder to save the
figures in, since a local run has no ``display``).

The views below are aggregations computed by Spark and returned as small pandas frames (a
bounded number of rows, never a table's worth), so the notebooks hold no pipeline logic and
stay usable on a lake of 10^9 events. Plots are built from those small frames.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Any, Mapping, NamedTuple, Sequence

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from foryou.config import Config, load_config
from foryou.lake import CommitKey, Lake
from foryou.lake.vocabulary import (
    BRONZE_QUARANTINE, CONTENT_ID, EVENT_DATE, GOLD_TRAINING_EXAMPLES, SILVER_EVENTS,
    SILVER_IMPRESSIONS, SILVER_SESSIONS, USER_ID,
)
from foryou.runtime.metrics import METRICS_TABLE
from foryou.spark import get_spark

CONF_ENV = "FORYOU_CONF"
SET_ENV = "FORYOU_SET"
RUN_DATE_ENV = "FORYOU_RUN_DATE"
FIGURES_ENV = "FORYOU_FIGURES"  # local runs: save each figure shown as a PNG here
WIDGETS = {"conf": "", "set": "", "run_date": ""}


class NotebookSession(NamedTuple):
    """What a notebook works with: ``spark, lake, config, run_date = session_and_lake(...)``."""

    spark: SparkSession
    lake: Lake
    config: Config
    run_date: dt.date | None


def _split(text: str, seps: str) -> list[str]:
    for sep in seps[1:]:
        text = text.replace(sep, seps[0])
    return [part.strip() for part in text.split(seps[0]) if part.strip()]


def _parameters(namespace: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The notebook parameters: Databricks widgets when ``dbutils`` is there, else the environment."""
    dbutils = namespace.get("dbutils")
    if dbutils is not None:
        values = {}
        for name, default in WIDGETS.items():
            try:
                values[name] = dbutils.widgets.get(name)
            except Exception:  # the widget does not exist yet: create it with its default
                dbutils.widgets.text(name, default)
                values[name] = dbutils.widgets.get(name)
        return values
    return {"conf": environ.get(CONF_ENV, ""), "set": environ.get(SET_ENV, ""),
            "run_date": environ.get(RUN_DATE_ENV, "")}


def session_and_lake(namespace: Mapping[str, Any] | None = None,
                     environ: Mapping[str, str] | None = None) -> NotebookSession:
    """The session, lake, config and run date a notebook works on.

    Args:
        namespace: the notebook's ``globals()``; its ``spark`` (Databricks, or a test) is used
            when present, and its ``dbutils`` supplies the widgets.
        environ: where to read the parameters off Databricks (default ``os.environ``).
    Raises:
        foryou.config.ConfigError: a parameter names an unknown config key or a bad value.
        ValueError: ``run_date`` is not YYYY-MM-DD.
    """
    namespace = namespace or {}
    environ = os.environ if environ is None else environ
    params = _parameters(namespace, environ)
    config = load_config(_split(params["conf"], ","), _split(params["set"], ";\n"), environ)
    try:
        run_date = dt.date.fromisoformat(params["run_date"]) if params["run_date"] else None
    except ValueError:
        raise ValueError(f"run_date {params['run_date']!r}: expected YYYY-MM-DD") from None
    spark = namespace.get("spark") or get_spark(config)
    return NotebookSession(spark, Lake(spark, config), config, run_date)


def show(thing: Any, namespace: Mapping[str, Any] | None = None, rows: int = 20) -> None:
    """Display a Spark or pandas frame or a matplotlib figure: Databricks' ``display`` when
    the notebook has it, plain text otherwise (a Spark frame shows at most ``rows`` rows)."""
    display = (namespace or {}).get("display")
    if isinstance(thing, DataFrame):
        thing = thing.limit(rows)
    if display is not None:
        display(thing)
        return
    if isinstance(thing, DataFrame):
        # bounded: ``rows`` rows: limited above
        thing = thing.toPandas()
    if isinstance(thing, pd.DataFrame):
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(thing.head(rows).to_string(index=False))
    elif hasattr(thing, "savefig"):
        import matplotlib.pyplot as plt

        title = thing.axes[0].get_title() if thing.axes else "untitled"
        folder = os.environ.get(FIGURES_ENV)
        if folder:  # keep the figures of a local run as PNG files
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "".join(c if c.isalnum() else "_" for c in title) + ".png")
            thing.savefig(path)
            title = f"{title} -> {path}"
        print(f"[figure: {title}]")
        plt.close(thing)
    else:
        print(thing)


# --- 01: events and sessions --------------------------------------------------------------

def latest_date(lake: Lake, name: str) -> dt.date | None:
    """The newest partition value of a date-partitioned table (None if it is empty or absent)."""
    if not lake.exists(name):
        return None
    column = lake.spec(name).partition_by[0]
    return lake.read(name).agg(F.max(column)).first()[0]


def daily_events(lake: Lake) -> pd.DataFrame:
    """Events, users and items per event date of ``silver.events``."""
    # bounded: one row per event date
    return (lake.read(SILVER_EVENTS).groupBy(EVENT_DATE)
            .agg(F.count("*").alias("events"), F.countDistinct(USER_ID).alias("users"),
                 F.countDistinct(CONTENT_ID).alias("items"))
            .orderBy(EVENT_DATE).toPandas())


def event_mix(lake: Lake, dates: Sequence[dt.date] | None = None) -> pd.DataFrame:
    """Events per type (count and share), over ``dates`` or the whole table."""
    df = lake.read(SILVER_EVENTS, partitions=dates).groupBy("event_type").count()
    total = F.sum("count").over(Window.partitionBy())
    # bounded: one row per event type
    return (df.withColumn("share", F.col("count") / total)
            .orderBy(F.desc("count")).toPandas())


def clean_counts(lake: Lake) -> pd.DataFrame:
    """Per run date: events in, accepted, quarantined and duplicate (from ``gold.metrics``)."""
    names = ["input", "accepted", "quarantined", "duplicates"]
    wide = (lake.read(METRICS_TABLE)
            .where((F.col("stage") == "clean")
                   & F.col("name").isin([f"silver.events.{n}" for n in names]))
            .withColumn("name", F.regexp_replace("name", r"^silver\.events\.", ""))
            .groupBy("run_date").pivot("name", names).agg(F.sum("value"))
            .orderBy("run_date"))
    # bounded: one row per run date
    return wide.toPandas()


def quarantine_reasons(lake: Lake, top: int = 10) -> pd.DataFrame:
    """The most frequent reasons records were quarantined, with their source."""
    if not lake.exists(BRONZE_QUARANTINE):
        return pd.DataFrame(columns=["reason", "source", "count"])
    # bounded: the ``top`` most common reasons
    return (lake.read(BRONZE_QUARANTINE).groupBy("reason", "source").count()
            .orderBy(F.desc("count")).limit(top).toPandas())


def session_summary(lake: Lake) -> pd.DataFrame:
    """Per session date: sessions, users, and quantiles of duration and events per session."""
    q = [0.5, 0.9, 0.99]
    # bounded: one row per session date
    return (lake.read(SILVER_SESSIONS).groupBy("session_date")
            .agg(F.count("*").alias("sessions"), F.countDistinct(USER_ID).alias("users"),
                 F.percentile_approx("duration_s", q).alias("duration_s_p50_p90_p99"),
                 F.percentile_approx("events", q).alias("events_p50_p90_p99"),
                 F.avg("engagements").alias("engagements_mean"))
            .orderBy("session_date").toPandas())


def histogram(df: DataFrame, column: str, bins: int = 20,
              log: bool = False) -> pd.DataFrame:
    """Counts of ``column`` in ``bins`` equal-width bins (of log10(1+x) with ``log``), by Spark."""
    value = F.log10(F.col(column) + 1) if log else F.col(column).cast("double")
    lo, hi = df.agg(F.min(value), F.max(value)).first()
    if lo is None:
        return pd.DataFrame(columns=["low", "high", "count"])
    width = (hi - lo) / bins or 1.0
    # bounded: one row per bin
    counts = dict(df.select(F.least(F.floor((value - lo) / width), F.lit(bins - 1)).alias("b"))
                  .where(F.col("b").isNotNull()).groupBy("b").count().collect())
    edges = [lo + width * i for i in range(bins + 1)]
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:],
                         "count": [int(counts.get(float(i), counts.get(i, 0))) for i in range(bins)]})


def label_rates_by_position(lake: Lake, labels: Sequence[str] = ("click", "long_view", "like",
                                                                   "skip")) -> pd.DataFrame:
    """Mean of each label per feed position in ``silver.impressions`` (position bias)."""
    # bounded: one row per feed position
    return (lake.read(SILVER_IMPRESSIONS).where(F.col("has_impressions"))
            .groupBy("position")
            .agg(F.count("*").alias("impressions"), *[F.avg(c).alias(c) for c in labels])
            .orderBy("position").toPandas())


def bar_figure(frame: pd.DataFrame, x: str, ys: Sequence[str], title: str, kind: str = "bar"):
    """A matplotlib figure of ``ys`` against ``x`` from a small frame."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    frame.plot(x=x, y=list(ys), kind=kind, ax=ax, title=title)
    fig.tight_layout()
    return fig


# --- 02: features -------------------------------------------------------------------------

def feature_profile(df: DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Per numeric column: null share, mean, min, p50, p99 and max, in one Spark pass."""
    numeric = ("int", "bigint", "double", "float", "smallint", "tinyint")
    names = [c for c, t in df.dtypes if t in numeric and (columns is None or c in columns)]
    if not names:
        raise ValueError(f"no numeric columns among {list(columns or [])}")
    aggs = []
    for c in names:
        aggs += [F.avg(F.col(c).isNull().cast("double")).alias(f"{c}|null_share"),
                 F.avg(c).alias(f"{c}|mean"), F.min(c).alias(f"{c}|min"),
                 F.percentile_approx(c, 0.5).alias(f"{c}|p50"),
                 F.percentile_approx(c, 0.99).alias(f"{c}|p99"), F.max(c).alias(f"{c}|max")]
    row = df.agg(*aggs).first().asDict()
    stats = ["null_share", "mean", "min", "p50", "p99", "max"]
    return pd.DataFrame([{"feature": c, **{s: row[f"{c}|{s}"] for s in stats}} for c in names])


def features_as_of(lake: Lake, name: str, as_of: dt.date | None = None) -> DataFrame:
    """One ``as_of_date`` of a feature table (the latest when ``as_of`` is None)."""
    as_of = as_of or latest_date(lake, name)
    if as_of is None:
        raise ValueError(f"{name} has no rows; run `foryou features` first")
    return lake.read(name, partitions=[as_of])


def top_interests(user_features: DataFrame, user_id: str, horizon: str = "interest_long",
                  k: int = 10) -> pd.DataFrame:
    """A user's ``k`` strongest tags in one interest map (interest_short/mid/long, tag_share)."""
    # bounded: the user's ``k`` strongest tags
    return (user_features.where(F.col(USER_ID) == user_id)
            .select(F.explode(horizon).alias("tag", "weight"))
            .orderBy(F.desc("weight")).limit(k).toPandas())


def example_balance(lake: Lake) -> pd.DataFrame:
    """Training examples per split: rows, users, date range and the positive rate of each label."""
    labels = ["click", "long_view", "complete", "like", "follow", "skip"]
    # bounded: one row per split
    return (lake.read(GOLD_TRAINING_EXAMPLES).groupBy("split")
            .agg(F.count("*").alias("examples"), F.countDistinct(USER_ID).alias("users"),
                 F.min(EVENT_DATE).alias("first_date"), F.max(EVENT_DATE).alias("last_date"),
                 F.avg(F.col("sampled_negative").cast("double")).alias("sampled_negative"),
                 *[F.avg(c).alias(c) for c in labels])
            .orderBy("first_date").toPandas())


def bot_signals(user_features: DataFrame, top: int = 10) -> pd.DataFrame:
    """The users with the highest engagement-farming score and the signals behind it."""
    # bounded: the ``top`` highest scores
    return (user_features.orderBy(F.desc("anomaly_score"))
            .select(USER_ID, "anomaly_score", "suspected_bot", "events_per_active_day",
                    "gap_cv", "blind_share", "burst_share")
            .limit(top).toPandas())


def sample_user(df: DataFrame, column: str = USER_ID, seed: int = 7) -> str:
    """One id of ``column`` that is present in ``df`` (the smallest hash, so it is stable)."""
    row = (df.select(column).where(F.col(column).isNotNull()).distinct()
           .orderBy(F.xxhash64(F.col(column), F.lit(seed))).first())
    if row is None:
        raise ValueError(f"no {column} in the frame")
    return row[0]


# --- running a stage from a notebook ------------------------------------------------------

def run_stage(stage: str, run_date: dt.date, namespace: Mapping[str, Any] | None = None,
              force: bool = False) -> None:
    """Run one pipeline stage in this notebook's session, with the notebook's parameters, as
    ``foryou <stage> --run-date D`` runs it (:func:`foryou.pipeline.run_stage`); a committed
    stage is skipped unless ``force``."""
    from foryou.pipeline import run_stage as run

    _, lake, config, _ = session_and_lake(namespace)
    if not force and lake.is_committed(METRICS_TABLE, CommitKey(stage, run_date)):
        print(f"{stage}: already committed for run date {run_date} (force=True recomputes it)")
        return
    run(lake, config, stage, run_date, force)


# --- 03: the ranker -----------------------------------------------------------------------

class Champion(NamedTuple):
    """The registered champion ranker: its ``models:/<name>@champion`` URI and version."""

    uri: str
    version: str


def champion(config: Config) -> Champion | None:
    """The champion ranker of the configured MLflow registry, or None when there is none."""
    from foryou.ranking.registry import champion_version, configure, model_uri

    configure(config)
    version = champion_version(config)
    return None if version is None else Champion(model_uri(config), version)


def ranker_run(lake: Lake) -> pd.DataFrame:
    """The ``gold.metrics`` rows of the latest train-ranker run (what it measured on held-out days)."""
    from foryou.evaluation.history import metric_history
    from foryou.evaluation.ranker import STAGE, latest_run

    return latest_run(metric_history(lake, stages=[STAGE]))


def held_out_examples(lake: Lake, config: Config, run_date: dt.date) -> DataFrame:
    """The ranker's held-out examples for a training run date: its test dates (validation
    dates when there are none), split exactly as ``foryou train-ranker`` splits them."""
    from foryou.ranking.data import split_dates

    split = split_dates(lake, run_date, config.ranking, config.features)
    dates = split.get("test") or split.get("validation")
    if not dates:
        raise ValueError(f"no held-out dates up to {run_date}: {split}; set ranking.test_days")
    return lake.read(GOLD_TRAINING_EXAMPLES, partitions=dates)


def live_gate_health(model_uri: str, examples: DataFrame, rows: int = 2000) -> pd.DataFrame:
    """Gate entropy and expert utilisation per task of a registered ranker, measured on a
    bounded sample (``rows``) of ``examples`` brought to the driver.

    Returns one row per task: ``entropy`` (nats; log(experts) is uniform, 0 is a collapsed
    gate) and ``expert_<i>`` = the mean gate weight of expert i.
    """
    import mlflow

    from foryou.ranking.model import gate_health
    from foryou.ranking.pyfunc import frame_to_batch

    ranker = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    # bounded: ``rows`` examples
    sample = examples.limit(rows).toPandas()
    if sample.empty:
        raise ValueError("no examples to measure the gates on")
    health = gate_health(ranker.model.gate_weights(frame_to_batch(sample, ranker.spec)))
    return pd.DataFrame([{"task": task, "entropy": h["entropy"],
                          **{f"expert_{i}": w for i, w in enumerate(h["utilisation"])}}
                         for task, h in health.items()])


def calibration_bins(scored: DataFrame, label: str, probability: str,
                     bins: int = 10) -> pd.DataFrame:
    """Reliability table by Spark: per equal-width bin of ``probability``, the mean prediction,
    the observed rate of ``label`` and the count (the shape of
    :func:`foryou.ranking.metrics.calibration_table`). Rows with a null label are left out."""
    b = F.least(F.floor(F.col(probability) * bins), F.lit(bins - 1)).cast("int")
    # bounded: one row per bin
    return (scored.where(F.col(label).isNotNull()).groupBy(b.alias("bin"))
            .agg(F.avg(probability).alias("predicted"), F.avg(F.col(label).cast("double"))
                 .alias("observed"), F.count("*").alias("count"))
            .orderBy("bin").toPandas())


def calibration_figure(curves: Mapping[str, pd.DataFrame], title: str = "calibration"):
    """Reliability diagram: observed rate against mean prediction per bin, one line per task."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for task, table in curves.items():
        if len(table):
            ax.plot(table["predicted"], table["observed"], marker="o", label=task)
    ax.set(xlabel="mean predicted probability", ylabel="observed rate", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def gate_figure(utilisation: Mapping[str, Sequence[float]], title: str = "expert utilisation"):
    """Heat map of the mean gate weight of each expert (columns) for each task (rows)."""
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = list(utilisation)
    if not tasks:
        raise ValueError("no gate utilisation recorded (gate_utilisation.<task> in gold.metrics)")
    width = max(len(w) for w in utilisation.values())
    grid = np.full((len(tasks), width), np.nan)
    for i, task in enumerate(tasks):
        grid[i, :len(utilisation[task])] = utilisation[task]
    fig, ax = plt.subplots(figsize=(1 + 0.6 * width, 0.8 + 0.4 * len(tasks)))
    image = ax.imshow(grid, cmap="viridis", vmin=0, aspect="auto")
    ax.set(xticks=range(width), yticks=range(len(tasks)), yticklabels=tasks, xlabel="expert",
           title=title)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


# --- 04: one user's candidates ------------------------------------------------------------

def explain_feed(scored_pool: DataFrame, export: DataFrame) -> pd.DataFrame:
    """Why each candidate of a (small) scored pool is where it is.

    One row per candidate: its sources and primary source's score and rank, the ranker's
    ``relevance`` and the rank that relevance alone gives (``relevance_rank``), the final
    ``feed_rank`` after guards and rerank (null: not exported: a guard dropped it or the list
    was full) and ``moved`` = relevance_rank - feed_rank (positive: the rerank lifted it for
    diversity, exploration or novelty).
    """
    order = Window.partitionBy(USER_ID).orderBy(F.desc_nulls_last("relevance"), CONTENT_ID)
    fed = export.select(USER_ID, CONTENT_ID, F.col("rank").alias("feed_rank"),
                        F.col("score").alias("feed_score"))
    # bounded: one user's (small) scored pool, as the docstring asks
    return (scored_pool.withColumn("relevance_rank", F.row_number().over(order))
            .join(fed, [USER_ID, CONTENT_ID], "left")
            .withColumn("moved", F.col("relevance_rank") - F.col("feed_rank"))
            .select(CONTENT_ID, "source", "sources", "source_score", "source_rank", "pool_rank",
                    "relevance", "relevance_rank", "feed_rank", "feed_score", "moved")
            .orderBy(F.asc_nulls_last("feed_rank"), "relevance_rank").toPandas())


def source_mix(frame: DataFrame) -> pd.DataFrame:
    """Rows and share per ``source`` of a candidate pool or an export."""
    # bounded: one row per source
    return (frame.groupBy("source").count()
            .withColumn("share", F.col("count") / F.sum("count").over(Window.partitionBy()))
            .orderBy(F.desc("count")).toPandas())


# --- running a notebook outside Databricks ------------------------------------------------

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"


def cells(path: str | os.PathLike) -> list[str]:
    """The Python cells of a Databricks source-format notebook, in order (``# MAGIC`` cells,
    i.e. markdown and magics, are left out).

    Raises:
        ValueError: the file does not start with ``# Databricks notebook source``.
    """
    text = open(path, encoding="utf-8").read()
    if not text.startswith(HEADER + "\n"):
        raise ValueError(f"{path}: not a Databricks source notebook (first line must be {HEADER!r})")
    out = []
    for cell in text[len(HEADER) + 1:].split(SEPARATOR):
        lines = [line for line in cell.splitlines() if line.strip()]
        if lines and not all(line.startswith("# MAGIC") for line in lines):
            out.append(cell)
    return out


def run_notebook(path: str | os.PathLike, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute a notebook's Python cells in one namespace, as Databricks does; a cell that
    raises stops the run, and its traceback names ``<notebook>[cell N]``.

    ``namespace`` may hold ``spark`` (and ``dbutils``/``display``); returns the namespace.
    """
    namespace = {"__name__": "__main__", **(namespace or {})}
    name = os.path.basename(os.fspath(path))
    for index, cell in enumerate(cells(path), 1):
        exec(compile(cell, f"{name}[cell {index}]", "exec"), namespace)  # noqa: S102
    return namespace


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m foryou.notebook NOTEBOOK.py [--conf F] [--set k=v] [--run-date D]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m foryou.notebook",
                                     description="Run a notebook of notebooks/ locally.")
    parser.add_argument("notebook")
    parser.add_argument("--conf", action="append", default=[])
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--run-date", default="")
    args = parser.parse_args(argv)
    os.environ[CONF_ENV] = ",".join(args.conf)
    os.environ[SET_ENV] = ";".join(args.overrides)
    os.environ[RUN_DATE_ENV] = args.run_date
    os.environ.setdefault("MPLBACKEND", "Agg")
    run_notebook(args.notebook)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
