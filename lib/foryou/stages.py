"""The pipeline's stages in dependency order (names and where each runs) and what a run of
one returns (:class:`StageResult`).

A leaf module (standard library only), so that schedulers can build their task graphs from it
without importing Spark, PyTorch or the stages themselves: the Airflow DAG
(``deploy/airflow/foryou_daily.py``) parses where only Airflow and its Spark provider are
installed. ``foryou.pipeline`` runs these stages; ``foryou.deploy`` renders the schedules.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: a job that takes everything but its run date from the config.

    ``synthetic`` stages only make sense on a generated world (not scheduled in production);
    ``gpu`` stages run on GPU nodes when deployed.
    """

    name: str
    synthetic: bool = False
    gpu: bool = False

    @property
    def module(self) -> str:
        """The job's module name in ``jobs/`` (``train-ranker`` -> ``train_ranker``)."""
        return self.name.replace("-", "_")


# The data flow of DESIGN.md, in dependency order.
STAGES: tuple[Stage, ...] = (
    Stage("generate", synthetic=True),
    Stage("ingest"),
    Stage("clean"),
    Stage("impressions"),
    Stage("sessionize"),
    Stage("features"),
    Stage("train-embeddings"),
    Stage("train-ranker", gpu=True),
    Stage("build-candidates"),
    Stage("export"),
    Stage("evaluate"),
)


def stage_names() -> list[str]:
    """Every stage's name, in dependency order."""
    return [s.name for s in STAGES]


def production_stages() -> list[Stage]:
    """The stages a schedule runs: every stage but the synthetic-world ones."""
    return [s for s in STAGES if not s.synthetic]


@dataclass
class StageResult:
    """What one stage run did: the figures it records in ``gold.metrics`` and the lines it said.

    Every stage's entry, ``foryou.<stage>.stage.run(lake, settings, run_date, key, force)``,
    returns one; whoever ran it (a job, the pipeline, a notebook) commits the figures with the
    run's commit key. Lines are printed as they are said, so a long stage shows its progress.
    Used as ``with StageResult() as out:``, a failure carries what was recorded before it (the
    exception's ``stage_result``), so a failed run's metrics say how far it got (a data-quality
    suite's outcomes, the writes that were committed).
    """

    figures: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def record(self, name: str, value: float | int | None, unit: str = "", **detail: Any) -> None:
        """Record one named value (``detail`` becomes the JSON ``detail`` column)."""
        self.figures.append({
            "name": name, "value": None if value is None else float(value), "unit": unit,
            "detail": json.dumps(detail, default=str, sort_keys=True) if detail else None,
            "recorded_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
        })

    def record_write(self, write: Any) -> None:
        """Rows and version a lake write committed (or that it was skipped): a
        ``foryou.lake.WriteResult``."""
        self.record(f"rows_written.{write.table}", write.rows, "rows",
                    version=write.version, files=write.files, skipped=write.skipped)

    @contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Record the seconds the block took as ``seconds.<name>``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.record(f"seconds.{name}", time.perf_counter() - start, "s")

    def value(self, name: str) -> float | None:
        """The latest value recorded under ``name``."""
        for figure in reversed(self.figures):
            if figure["name"] == name:
                return figure["value"]
        return None

    def say(self, line: str) -> None:
        """Print one line of the run's summary and keep it."""
        print(line, flush=True)
        self.lines.append(line)

    def __enter__(self) -> "StageResult":
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        if exc is not None and getattr(exc, "stage_result", None) is None:
            with suppress(AttributeError):  # an exception type that takes no attributes
                exc.stage_result = self
        return False

    def extend(self, other: "StageResult") -> None:
        """Take another result's figures and lines (a run's metrics take its stage's result)."""
        self.figures.extend(other.figures)
        self.lines.extend(other.lines)
