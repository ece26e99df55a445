"""The configuration model: one section per concern, unknown keys forbidden."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from foryou.config.candidates import CandidatesConfig
from foryou.config.clean import CleanConfig
from foryou.config.embeddings import EmbeddingsConfig
from foryou.config.evaluation import EvaluationConfig
from foryou.config.features import FeaturesConfig
from foryou.config.ingest import IngestConfig
from foryou.config.privacy import PrivacyConfig
from foryou.config.quality import QualityConfig
from foryou.config.ranking import RankingConfig
from foryou.config.rerank import RerankConfig
from foryou.config.section import Section
from foryou.config.sessions import SessionsConfig
from foryou.config.stream import StreamConfig
from foryou.world.params import WorldConfig


class LakeConfig(Section):
    root: str = "./lakehouse"
    backend: Literal["auto", "bridge", "native"] = "auto"
    # Unity Catalog prefix on Databricks, e.g. "main": tables become main.<layer>.<name>.
    catalog: str | None = None
    lock_timeout_s: float = Field(default=600.0, gt=0)
    vacuum_retention_hours: int = Field(default=168, ge=0)


class SparkConfig(Section):
    app_name: str = "foryou"
    # Used only when nothing (spark-submit, a notebook) has set a master already.
    master: str = "local[*]"
    shuffle_partitions: int = Field(default=8, ge=1)
    ui: bool = True
    log_level: str = "WARN"
    # Extra Spark confs, applied only where the launcher has not set the key.
    conf: dict[str, str] = Field(default_factory=dict)


class MlflowConfig(Section):
    # None means sqlite:///<lake.root>/mlflow.db (the file store refuses to start in MLflow 3).
    tracking_uri: str | None = None
    experiment: str = "foryou"
    # None means <lake.root>/mlflow-artifacts (where new experiments keep their artifacts).
    artifact_location: str | None = None
    # None means the tracking URI (the registry lives beside the runs).
    registry_uri: str | None = None
    registered_model: str = "foryou-ranker"
    # A challenger becomes champion only if test-day <promotion_metric> beats the champion's
    # by more than promotion_margin (absolute). Names: <auc|gauc>_<task>, rmse_watch (lower is better).
    promotion_metric: str = "gauc_click"
    promotion_margin: float = Field(default=0.0, ge=0)


class Config(Section):
    """The whole configuration of a foryou run."""

    env: str = "default"
    lake: LakeConfig = Field(default_factory=LakeConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    world: WorldConfig = Field(default_factory=WorldConfig)
    candidates: CandidatesConfig = Field(default_factory=CandidatesConfig)
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    rerank: RerankConfig = Field(default_factory=RerankConfig)
    ranking: RankingConfig = Field(default_factory=RankingConfig)
    stream: StreamConfig = Field(default_factory=StreamConfig)
