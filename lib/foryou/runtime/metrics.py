"""Row counts, timings and quality figures of one job run, written to ``gold.metrics``."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import SparkSession

from foryou.lake import CommitKey, Lake, WriteResult, table
from foryou.lake.vocabulary import GOLD_METRICS as METRICS_TABLE
from foryou.stages import StageResult


class Metrics(StageResult):
    """A run's figures with the run they belong to; :meth:`flush` commits them in one write."""

    def __init__(self, run_id: str, stage: str, run_date: dt.date):
        super().__init__()
        self.run_id, self.stage, self.run_date = run_id, stage, run_date

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The figures as ``gold.metrics`` rows."""
        return [{"run_id": self.run_id, "stage": self.stage, "run_date": self.run_date, **f}
                for f in self.figures]

    def flush(self, spark: SparkSession, lake: Lake, key: CommitKey | None,
              force: bool) -> WriteResult:
        """Commit the collected rows; with ``key``, the run counts as done for its date."""
        df = spark.createDataFrame(self.rows, table(METRICS_TABLE).schema)
        return lake.append(METRICS_TABLE, df, key=key, force=force)
