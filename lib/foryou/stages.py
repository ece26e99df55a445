"""The pipeline's stages in dependency order: names and where each runs, nothing else.

A leaf module (standard library only), so that schedulers can build their task graphs from it
without importing Spark, PyTorch or the stages themselves: the Airflow DAG
(``deploy/airflow/foryou_daily.py``) parses where only Airflow and its Spark provider are
installed. ``foryou.pipeline`` runs these stages; ``foryou.deploy`` renders the schedules.
"""
from __future__ import annotations

from dataclasses import dataclass


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
