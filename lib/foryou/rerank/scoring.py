"""Batch scoring of the candidate pool with the MLflow ``champion`` ranker (or, with no ranker
trained yet, the pool's own order).

The ranker was trained on gold.training_examples, so candidates get exactly those features:
each (user, candidate) pair becomes a pseudo-impression at the start of the run date and goes
through :func:`foryou.features.examples.build_examples` with the run date's feature partitions
(the point-in-time join: features from events strictly before the run date).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.config import Config
from foryou.features.examples import build_examples
from foryou.lake import Lake, table

POOL = "gold.candidate_pool"
EXAMPLES = "gold.training_examples"
# The ranker's outputs tried in order as the single relevance score.
SCORE_COLUMNS = ("score", "prediction", "p_long_view", "p_click")


@dataclass(frozen=True)
class Champion:
    uri: str
    version: str


def champion(config: Config) -> Champion:
    """The registered champion ranker's URI and version.

    Raises:
        foryou.ranking.registry.ChampionMissing: no champion; its message names
            ``foryou train-ranker``.
    """
    from foryou.ranking import registry

    registry.configure(config)
    version = registry.champion_version(config)
    if version is None:
        raise registry.ChampionMissing(
            f"export needs a champion ranker: registered model {config.mlflow.registered_model!r} "
            f"has no 'champion' alias in {registry.tracking_uri(config)}; run "
            f"`foryou train-ranker --run-date YYYY-MM-DD` first")
    return Champion(registry.model_uri(config, registry.CHAMPION), version)


def pseudo_impressions(pool: DataFrame, as_of: dt.date) -> DataFrame:
    """silver.impressions-shaped rows for the pool: one per (user, candidate), at midnight of
    ``as_of``, labels null, so the training-example builder can attach features."""
    spec = table("silver.impressions")
    ts = F.to_timestamp(F.lit(as_of.isoformat()))
    values = {
        "request_id": F.concat(F.lit(f"export:{as_of.isoformat()}:"), F.col("user_id")),
        "position": F.coalesce(F.col("pool_rank"), F.lit(0)).cast("int") if "pool_rank" in pool.columns
        else F.lit(0),
        "user_id": F.col("user_id"), "content_id": F.col("content_id"), "creator_id": F.col("creator_id"),
        "event_ts": ts, "event_date": F.lit(as_of), "has_impressions": F.lit(True),
    }
    return pool.select(*[(values[f.name] if f.name in values else F.lit(None)).cast(f.dataType).alias(f.name)
                         for f in spec.schema])


def scoring_frame(lake: Lake, config: Config, pool: DataFrame, as_of: dt.date) -> DataFrame:
    """The pool as gold.training_examples rows (point-in-time features as of ``as_of``)."""

    def at(name: str) -> DataFrame:
        return lake.read_or_empty(name, [as_of])

    return build_examples(pseudo_impressions(pool, as_of), at("gold.user_features"),
                          at("gold.item_features"), at("gold.user_affinities"),
                          at("gold.vocabularies"), as_of, config.features, labelled=False)


def score_pool(lake: Lake, config: Config, pool: DataFrame, as_of: dt.date,
               model: Champion) -> DataFrame:
    """The pool with ``relevance`` (the champion's score) and ``model_version``."""
    from foryou.ranking.pyfunc import score_frame

    scored = score_frame(scoring_frame(lake, config, pool, as_of), model.uri, keep=["user_id", "content_id"])
    name = next((c for c in SCORE_COLUMNS if c in scored.columns), None)
    if name is None:
        raise ValueError(f"the ranker's output has none of {SCORE_COLUMNS}: {scored.columns}")
    rel = scored.select("user_id", "content_id", F.col(name).cast("double").alias("relevance"))
    return (pool.join(rel.dropDuplicates(["user_id", "content_id"]), ["user_id", "content_id"], "left")
            .withColumn("model_version", F.lit(model.version)))


# model_version of a feed exported without a ranker.
POOL_ORDER = "pool-order"


def pool_order(pool: DataFrame) -> DataFrame:
    """The pool with ``relevance`` from its own merged order (``-ln pool_rank``: the first
    candidate 0, decreasing) and ``model_version`` :data:`POOL_ORDER`: the feed of a lake
    where no ranker could be trained (an interaction log too short for a train, a validation
    and a test day of examples). Retrieval's order is then the ranking."""
    return (pool.withColumn("relevance", -F.log(F.greatest(F.col("pool_rank"), F.lit(1)).cast("double")))
            .withColumn("model_version", F.lit(POOL_ORDER)))
