"""Train one run date's embeddings: ALS item and user vectors from implicit feedback, plus
content vectors for items without interactions, all under one ``model_version``.

Inputs are "strictly before the run date" like the feature store: impressions of the
``window_days`` days before it (before the day after the log's last event, when a historical
log ends earlier: :func:`foryou.runtime.arrivals.window_end`) and the item features with
``as_of_date`` = run date.

Fallbacks (each is logged and reported in ``EmbeddingsResult.fallback``):
- fewer than ``min_pairs`` positive (user, item) pairs: no ALS; items get their content
  vectors as they are and users the strength-weighted mean content vector of the items they
  engaged with (one space, so the ANN still works);
- no item features: only items with interactions get vectors;
- neither impressions nor item features: ``EmbeddingsError`` naming what to run first.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field

from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.recommendation import ALS
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from foryou.config.embeddings import EmbeddingsConfig
from foryou.embeddings import columns as C
from foryou.embeddings.content import fit_projection, project
from foryou.embeddings.strength import pair_strength
from foryou.lake import Lake, WriteResult
from foryou.lake.days import days_before
from foryou.lake.keys import CommitKey
from foryou.runtime.arrivals import window_end

log = logging.getLogger("foryou.embeddings")

_IDX = "_idx"


class EmbeddingsError(ValueError):
    """The embeddings cannot be trained from what the lake holds; the message says why."""


@dataclass
class EmbeddingsResult:
    """One run's vectors (not yet written) and what went into them."""

    model_version: str
    items: DataFrame  # content_id, vector, kind, model_version
    users: DataFrame  # user_id, vector, model_version
    pairs: int
    content_items: int
    fallback: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # Inputs cached while the lazy vectors are computed; released once they are written.
    cached: tuple[DataFrame, ...] = ()


def model_version(lake: Lake, cfg: EmbeddingsConfig, as_of: dt.date) -> str:
    """``als-<run date>-<hash>``: the hash covers the training settings and the input table
    versions, so the same inputs and settings give the same version (idempotent re-runs)."""
    inputs = {name: lake.version(name) if lake.exists(name) else None
              for name in (C.IMPRESSIONS, C.ITEM_FEATURES, C.USER_FEATURES)}
    settings = cfg.model_dump(mode="json", exclude={"ann"})
    digest = hashlib.sha1(json.dumps([str(as_of), settings, inputs], sort_keys=True).encode())
    return f"als-{as_of.isoformat()}-{digest.hexdigest()[:8]}"


def training_pairs(lake: Lake, cfg: EmbeddingsConfig, as_of: dt.date) -> DataFrame:
    """(user_id, content_id, strength > 0) from the impressions of the window before ``as_of``
    (see :func:`foryou.runtime.arrivals.window_end`), bots left out."""
    window = days_before(window_end(lake, as_of), cfg.window_days)
    impressions = lake.read_or_empty(C.IMPRESSIONS, window)
    pairs = pair_strength(impressions, cfg)
    if cfg.exclude_bots and lake.exists(C.USER_FEATURES):
        bots = (lake.read(C.USER_FEATURES, partitions=[as_of])
                .where(F.coalesce(F.col(C.SUSPECTED_BOT), F.lit(False))).select(C.USER_ID))
        pairs = pairs.join(bots, C.USER_ID, "left_anti")
    return pairs


def content_vectors(lake: Lake, cfg: EmbeddingsConfig, as_of: dt.date) -> DataFrame:
    """(content_id, content vector) of the items with features as of ``as_of``."""
    features = lake.read_or_empty(C.ITEM_FEATURES, [as_of])
    if cfg.content_column not in features.columns:
        raise EmbeddingsError(f"embeddings.content_column: {cfg.content_column!r} is not a column "
                              f"of {C.ITEM_FEATURES}")
    return (features.select(C.CONTENT_ID, F.col(cfg.content_column).alias("_content"))
            .where(F.col("_content").isNotNull() & (F.size("_content") > 0)))


def _dense_ids(ids: DataFrame, column: str) -> DataFrame:
    """(column, _idx): contiguous int ids for ALS, assigned on the executors (no driver list)."""
    schema = StructType([StructField(column, StringType()), StructField(_IDX, IntegerType())])
    indexed = ids.select(column).distinct().rdd.zipWithIndex().map(lambda r: (r[0][0], int(r[1])))
    return ids.sparkSession.createDataFrame(indexed, schema)


def fit_als(pairs: DataFrame, cfg: EmbeddingsConfig) -> tuple[DataFrame, DataFrame]:
    """ALS with implicit preferences on the pairs' strength: (user_id, vector), (content_id, vector)."""
    users, items = _dense_ids(pairs, C.USER_ID), _dense_ids(pairs, C.CONTENT_ID)
    ratings = (pairs.join(users, C.USER_ID).withColumnRenamed(_IDX, "_u")
               .join(items, C.CONTENT_ID).withColumnRenamed(_IDX, "_i")
               .select("_u", "_i", C.STRENGTH))
    als = ALS(rank=cfg.rank, maxIter=cfg.max_iter, regParam=cfg.reg_param, alpha=cfg.alpha,
              implicitPrefs=True, userCol="_u", itemCol="_i", ratingCol=C.STRENGTH,
              seed=cfg.seed, coldStartStrategy="drop")
    model = als.fit(ratings)
    user_vectors = (model.userFactors.join(users, F.col("id") == F.col(_IDX))
                    .select(C.USER_ID, F.col("features").alias(C.VECTOR)))
    item_vectors = (model.itemFactors.join(items, F.col("id") == F.col(_IDX))
                    .select(C.CONTENT_ID, F.col("features").alias(C.VECTOR)))
    return user_vectors, item_vectors


def mean_content_users(pairs: DataFrame, content: DataFrame) -> DataFrame:
    """(user_id, vector): each user's strength-weighted mean content vector of engaged items."""
    joined = pairs.join(content, C.CONTENT_ID).select(
        C.USER_ID, C.STRENGTH, array_to_vector("_content").alias("_v"))
    means = joined.groupBy(C.USER_ID).agg(Summarizer.mean(F.col("_v"), F.col(C.STRENGTH)).alias("_m"))
    return means.select(C.USER_ID, vector_to_array("_m", "float32").alias(C.VECTOR))


def train_embeddings(lake: Lake, cfg: EmbeddingsConfig, as_of: dt.date) -> EmbeddingsResult:
    """The item and user vectors for run date ``as_of`` (lazy frames; nothing is written)."""
    version = model_version(lake, cfg, as_of)
    pairs = training_pairs(lake, cfg, as_of).cache()
    content = content_vectors(lake, cfg, as_of).cache()
    n_pairs, n_content = pairs.count(), content.count()
    if n_pairs == 0 and n_content == 0:
        raise EmbeddingsError(
            f"embeddings for {as_of}: no positive interactions in {C.IMPRESSIONS} in the "
            f"{cfg.window_days} days before {window_end(lake, as_of)} and no {C.ITEM_FEATURES} rows with "
            f"as_of_date={as_of}; run `foryou impressions` and `foryou features --run-date {as_of}` first")
    trained_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    stamp = lambda df: (df.withColumn(C.MODEL_VERSION, F.lit(version))  # noqa: E731
                        .withColumn(C.TRAINED_AT, F.lit(trained_at).cast("timestamp")))
    fallback = None
    cached = [pairs, content]
    if n_pairs < cfg.min_pairs:
        fallback = (f"{n_pairs} interaction pairs < embeddings.min_pairs={cfg.min_pairs}: "
                    "content vectors only")
        log.warning("embeddings: %s", fallback)
        items = content.select(C.CONTENT_ID, F.col("_content").alias(C.VECTOR),
                               F.lit(C.CONTENT).alias(C.KIND))
        users = mean_content_users(pairs, content)
    else:
        users, collaborative = fit_als(pairs, cfg)
        collaborative = collaborative.cache()
        cached.append(collaborative)
        items = collaborative.withColumn(C.KIND, F.lit(C.COLLABORATIVE))
        if n_content == 0:
            fallback = (f"no content vectors in {C.ITEM_FEATURES} as of {as_of} (no item text or "
                        "tags): ANN from ALS only, items without interactions get no vector")
            log.warning("embeddings: %s", fallback)
        else:
            both = collaborative.join(content, C.CONTENT_ID)
            weights = fit_projection(both, "_content", C.VECTOR, cfg.content_ridge)
            cold = content.join(collaborative.select(C.CONTENT_ID), C.CONTENT_ID, "left_anti")
            if weights is None:
                fallback = "no item has both a content and a collaborative vector: cold items get none"
                log.warning("embeddings: %s", fallback)
            else:
                items = items.unionByName(
                    project(cold, "_content", weights).withColumn(C.KIND, F.lit(C.CONTENT)))
    return EmbeddingsResult(version, stamp(items), stamp(users), n_pairs, n_content, fallback,
                            cached=tuple(cached))


def write_embeddings(lake: Lake, result: EmbeddingsResult, key: CommitKey | None = None,
                     force: bool = False) -> dict[str, WriteResult]:
    """Add the run's vectors to both tables (rows of an existing (id, model_version) are kept)."""
    try:
        return {
            C.ITEM_EMBEDDINGS: lake.insert_new(C.ITEM_EMBEDDINGS, result.items, key=key, force=force),
            C.USER_EMBEDDINGS: lake.insert_new(C.USER_EMBEDDINGS, result.users, key=key, force=force),
        }
    finally:
        for frame in result.cached:
            frame.unpersist()


def latest_version(lake: Lake) -> str | None:
    """The most recently trained model_version held by both embedding tables (None: none yet).

    Versions are ordered by their run date, then by ``trained_at`` (a version written before
    the column existed counts as older), then by name: two trainings for one run date with
    different settings get different hashes, and the later one wins, whatever its hash.
    """
    if not (lake.exists(C.ITEM_EMBEDDINGS) and lake.exists(C.USER_EMBEDDINGS)):
        return None
    items = (lake.read(C.ITEM_EMBEDDINGS).groupBy(C.MODEL_VERSION)
             .agg(F.max(C.TRAINED_AT).alias(C.TRAINED_AT)))
    common = items.join(lake.read(C.USER_EMBEDDINGS).select(C.MODEL_VERSION).distinct(), C.MODEL_VERSION)
    run_date = F.regexp_extract(C.MODEL_VERSION, r"(\d{4}-\d{2}-\d{2})", 1)
    # bounded: one row, the newest version
    newest = common.orderBy(run_date.desc(), F.col(C.TRAINED_AT).desc_nulls_last(),
                            F.col(C.MODEL_VERSION).desc()).select(C.MODEL_VERSION).first()
    return None if newest is None else newest[0]
