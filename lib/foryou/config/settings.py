"""What each stage is given: the config sections it reads, and nothing else.

A stage's entry, ``foryou.<stage>.stage.run(lake, settings, run_date, key, force)``, takes one
of these, not the whole :class:`~foryou.config.model.Config`: what a stage may read is written
down once, here, and a stage cannot quietly come to depend on another's settings. Only the
entry points (``runtime``, ``jobs/``, the pipeline) hold the whole config; they build a
stage's settings with ``<Settings>.of(config)``.

Each field is named as its section is in the config file (``settings.clean`` is the ``clean:``
section), so code reads ``settings.mlflow.experiment`` whichever stage it runs in.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol, TypeVar

from foryou.config.candidates import CandidatesConfig
from foryou.config.clean import CleanConfig
from foryou.config.embeddings import EmbeddingsConfig
from foryou.config.evaluation import EvaluationConfig
from foryou.config.features import FeaturesConfig
from foryou.config.ingest import IngestConfig
from foryou.config.loader import ConfigError
from foryou.config.model import Config, LakeConfig, MlflowConfig
from foryou.config.privacy import PrivacyConfig
from foryou.config.quality import QualityConfig
from foryou.config.ranking import RankingConfig
from foryou.config.rerank import RerankConfig
from foryou.config.sessions import SessionsConfig
from foryou.config.stream import StreamConfig
from foryou.world.params import WorldConfig

S = TypeVar("S", bound="_Sections")


class _Sections:
    """Base of the settings bundles: built from the whole config by field name."""

    @classmethod
    def of(cls: type[S], config: Config | _Sections) -> S:
        """The sections of ``config`` (the whole config, or a larger bundle) this stage reads."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls)})  # type: ignore[arg-type]


class Tracking(Protocol):
    """What the model registry reads: MLflow's settings and the lake root (the default
    tracking store and artifacts live beside the lake)."""

    @property
    def mlflow(self) -> MlflowConfig: ...

    @property
    def lake(self) -> LakeConfig: ...


@dataclass(frozen=True)
class GenerateSettings(_Sections):
    """``generate``: the world to draw, landed where ``ingest.path`` reads it."""

    world: WorldConfig
    ingest: IngestConfig

    def __post_init__(self) -> None:
        if not self.ingest.path:
            raise ConfigError("ingest.path is not set: generate writes the world where ingest "
                              "reads it (e.g. --set ingest.path=./raw)")


@dataclass(frozen=True)
class IngestSettings(_Sections):
    """``ingest``: the source (path, format, columns) and the bronze tables."""

    ingest: IngestConfig


@dataclass(frozen=True)
class CleanSettings(_Sections):
    """``clean``: field rules, the pseudonym key and the data-quality suites."""

    clean: CleanConfig
    privacy: PrivacyConfig
    quality: QualityConfig


@dataclass(frozen=True)
class ImpressionsSettings(_Sections):
    """``impressions``: which ingests are the run date's (``clean.ingest_id_prefix``)."""

    clean: CleanConfig


@dataclass(frozen=True)
class SessionsSettings(_Sections):
    """``sessionize``: the session gap, and which ingests are the run date's."""

    clean: CleanConfig
    sessions: SessionsConfig


@dataclass(frozen=True)
class FeaturesSettings(_Sections):
    """``features``: the feature store's windows, which ingests are the run date's, and the
    pseudonym key (to join a world's truth, which holds raw ids)."""

    features: FeaturesConfig
    clean: CleanConfig
    privacy: PrivacyConfig


@dataclass(frozen=True)
class EmbeddingsSettings(_Sections):
    """``train-embeddings``: ALS and the content vectors."""

    embeddings: EmbeddingsConfig


@dataclass(frozen=True)
class RankingSettings(_Sections):
    """``train-ranker``: the ranker, the feature spec's inputs, the registry, and where a
    generated world's truth lies (``ingest.path``) for the oracle."""

    ranking: RankingConfig
    features: FeaturesConfig
    mlflow: MlflowConfig
    lake: LakeConfig
    ingest: IngestConfig


@dataclass(frozen=True)
class CandidatesSettings(_Sections):
    """``build-candidates``: the sources and their quotas, and the ANN index's settings."""

    candidates: CandidatesConfig
    embeddings: EmbeddingsConfig


@dataclass(frozen=True)
class ExportSettings(_Sections):
    """``export``: the rerank, the champion (registry) and the features it scores with,
    whether the pool came from an interaction log (``candidates``), and the session gap the
    in-session re-ranker learns over (``sessions``)."""

    rerank: RerankConfig
    features: FeaturesConfig
    candidates: CandidatesConfig
    sessions: SessionsConfig
    mlflow: MlflowConfig
    lake: LakeConfig


@dataclass(frozen=True)
class StreamSettings(_Sections):
    """``stream-ingest``: the Kafka source and micro-batches, cleaned as ``clean`` cleans
    (field rules, pseudonym key), the session gap for the short-term state, and the lake root
    (the default checkpoint lives beside the lake)."""

    stream: StreamConfig
    clean: CleanConfig
    sessions: SessionsConfig
    privacy: PrivacyConfig
    lake: LakeConfig


@dataclass(frozen=True)
class EvaluationSettings(_Sections):
    """``evaluate``: its own section (monitoring, report, simulator), the world and its truth
    for the simulator, the pseudonym key to join that truth, and what the export reads to
    build the simulator's reference feeds."""

    evaluation: EvaluationConfig
    world: WorldConfig
    ingest: IngestConfig
    privacy: PrivacyConfig
    rerank: RerankConfig
    features: FeaturesConfig
    candidates: CandidatesConfig
    embeddings: EmbeddingsConfig
    sessions: SessionsConfig
    mlflow: MlflowConfig
    lake: LakeConfig

    @property
    def export(self) -> ExportSettings:
        """What the export reads, to rebuild its feeds for the simulator's reference policies."""
        return ExportSettings.of(self)

    @property
    def retrieval(self) -> CandidatesSettings:
        """What ``build-candidates`` reads, to build the multi-day simulation's deeper pool."""
        return CandidatesSettings.of(self)
