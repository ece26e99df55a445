"""Earlier runs' metrics from ``gold.metrics``: the input of trends, KPI rules and the report.

``gold.metrics`` holds a few hundred rows per run date, so a filtered slice of it (by stage,
name prefix and a window of run dates) is small enough to bring to the driver as pandas.
When a stage ran more than once for a date (``--force``), the latest record wins.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

import pandas as pd
from pyspark.sql import Window, functions as F

from foryou.lake import Lake
from foryou.lake.vocabulary import GOLD_METRICS as METRICS

COLUMNS = ["run_date", "stage", "name", "value", "unit", "detail", "run_id", "recorded_at"]


def metric_history(lake: Lake, stages: Sequence[str] | None = None, prefix: str | None = None,
                   until: dt.date | None = None, days: int | None = None) -> pd.DataFrame:
    """Latest value per (run_date, stage, name), as pandas sorted by run_date.

    Args:
        lake: the lake.
        stages: keep only these stages (None: all).
        prefix: keep names starting with it (None: all).
        until: keep run dates up to and including it.
        days: with ``until``, keep only the ``days`` run dates ending at ``until``.
    """
    if not lake.exists(METRICS):
        return pd.DataFrame(columns=COLUMNS)
    df = lake.read(METRICS)
    if stages is not None:
        df = df.where(F.col("stage").isin(list(stages)))
    if prefix:
        df = df.where(F.col("name").startswith(prefix))
    if until is not None:
        df = df.where(F.col("run_date") <= F.lit(until))
        if days is not None:
            df = df.where(F.col("run_date") > F.lit(until - dt.timedelta(days=days)))
    latest = Window.partitionBy("run_date", "stage", "name").orderBy(F.col("recorded_at").desc())
    df = (df.withColumn("_n", F.row_number().over(latest)).where("_n = 1").select(*COLUMNS))
    # bounded: gold.metrics rows (a few hundred per run date; ``days`` limits the dates)
    pdf = df.toPandas()
    return pdf.sort_values(["run_date", "stage", "name"]).reset_index(drop=True)
