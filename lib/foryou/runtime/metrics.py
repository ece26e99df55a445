"""Row counts, timings and quality figures of one job run, written to ``gold.metrics``."""
from __future__ import annotations

import datetime as dt
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from pyspark.sql import SparkSession

from foryou.lake import CommitKey, Lake, WriteResult, table

METRICS_TABLE = "gold.metrics"


@dataclass
class Metrics:
    """Collects a run's metrics in memory; :meth:`flush` commits them in one write."""

    run_id: str
    stage: str
    run_date: dt.date
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, name: str, value: float | int | None, unit: str = "",
               **detail: Any) -> None:
        """Record one named value (``detail`` becomes the JSON ``detail`` column)."""
        self.rows.append({
            "run_id": self.run_id, "stage": self.stage, "name": name,
            "value": None if value is None else float(value), "unit": unit,
            "detail": json.dumps(detail, default=str, sort_keys=True) if detail else None,
            "recorded_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
            "run_date": self.run_date,
        })

    def record_write(self, result: WriteResult) -> None:
        """Rows and version a lake write committed (or that it was skipped)."""
        self.record(f"rows_written.{result.table}", result.rows, "rows",
                    version=result.version, files=result.files, skipped=result.skipped)

    @contextmanager
    def timer(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(f"seconds.{name}", time.perf_counter() - start, "s")

    def value(self, name: str) -> float | None:
        for row in reversed(self.rows):
            if row["name"] == name:
                return row["value"]
        return None

    def flush(self, spark: SparkSession, lake: Lake, key: CommitKey | None,
              force: bool) -> WriteResult:
        """Commit the collected rows; with ``key``, the run counts as done for its date."""
        df = spark.createDataFrame(self.rows, table(METRICS_TABLE).schema)
        return lake.append(METRICS_TABLE, df, key=key, force=force)
