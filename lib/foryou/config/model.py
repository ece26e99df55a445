"""The configuration model: one section per concern, unknown keys forbidden."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from foryou.config.section import Section
from foryou.events.settings import CleanConfig
from foryou.features.settings import FeaturesConfig
from foryou.ingest.settings import IngestConfig
from foryou.privacy.settings import PrivacyConfig
from foryou.quality.settings import QualityConfig
from foryou.sessions.settings import SessionsConfig
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
