"""Scoring, in one place: the ranker's predictions, the feed score, and the candidate pool
scored with the champion as it will be served.

**Predictions and the feed score.** :func:`predict` runs the model's serving heads (no bias
tower) and :func:`feed_score` combines them with ``ranking.score_weights`` (the product
formula); the MLflow pyfunc (:mod:`foryou.ranking.pyfunc`) calls both, so training's
evaluation, batch scoring and the export score identically.

**Spark frames.** :func:`score_frame` scores a Spark frame with a registered model through
``mapInArrow`` (the model's inputs are built from Arrow, as in training, so no batch goes
through pandas): the model's folder is shipped to the executors with
``SparkContext.addArchive`` and loaded once per Python worker, so nothing but the model goes
through the driver.

**The candidate pool** (``export``): scored with the MLflow ``champion`` ranker (or, with no
ranker trained yet, the pool's own order). The ranker was trained on gold.training_examples,
so candidates get exactly those features: each (user, candidate) pair becomes a
pseudo-impression on the run date and goes through
:func:`foryou.features.examples.build_examples` with the run date's feature partitions (the
point-in-time join: features from events strictly before the run date).

Scored as it will be served, not as of midnight with no context: the pseudo-impression is
stamped at the user's usual hour (the circular mean of their session starts over
``rerank.context_days``; midnight for a user without sessions), and each candidate carries
its ``fatigue``, the user's recent exposure to its creator and tags (share of the user's
impressions of the last ``rerank.fatigue_days`` from that creator, plus the largest share of
one of its tags), which the feed score weighs with ``ranking.score_weights.fatigue``.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import mlflow
import mlflow.pyfunc
from mlflow.models import get_model_info
import numpy as np
import pyarrow as pa
import torch
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from foryou.config.ranking import WATCH_TASK
from foryou.features.examples import build_examples, max_tag_count
from foryou.lake import Lake, table
from foryou.lake.days import days_before
from foryou.lake.vocabulary import (
    CONTENT_ID, CREATOR_ID, EVENT_DATE, EVENT_TS, GOLD_ITEM_FEATURES as ITEM_FEATURES,
    GOLD_USER_AFFINITIES, GOLD_USER_FEATURES, GOLD_VOCABULARIES,
    SILVER_IMPRESSIONS as IMPRESSIONS, SILVER_SESSIONS as SESSIONS, USER_ID,
)
from foryou.ranking.pyfunc import (FATIGUE_COLUMN as FATIGUE, WATCH_COLUMN, label_columns,
                                   probability_column)
from foryou.runtime.arrivals import window_end

if TYPE_CHECKING:
    from foryou.config.settings import ExportSettings, Tracking

# --- predictions and the feed score ---------------------------------------------------

@torch.no_grad()
def predict(model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Serving predictions (no bias tower): P(label) per binary head; ``watch`` is
    sigmoid(standardised watch prediction), in (0, 1) with 0.5 = the training mean; and
    ``watch_target`` is the prediction in the spec's target units (log1p seconds or ratio).

    Example:
        >>> preds = predict(model, batch)        # doctest: +SKIP
        >>> float(preds["click"].min()) >= 0
        True
    """
    model = getattr(model, "module", model)
    was_training = model.training
    model.eval()
    logits = model(batch, serving=True)
    model.train(was_training)
    preds = {h: torch.sigmoid(v) for h, v in logits.items()}
    if WATCH_TASK in logits:
        spec = model.spec
        preds[f"{WATCH_TASK}_target"] = logits[WATCH_TASK] * spec.watch_std + spec.watch_mean
    return preds


def feed_score(preds: Mapping, weights: Mapping[str, float], fatigue=None):
    """The weighted combination of heads that orders the feed.

    ``score = sum_h weights[h] * preds[h] + weights["fatigue"] * fatigue``; heads the model
    lacks (skipped tasks) contribute nothing; ``fatigue`` (the user's exposure to that
    creator/tag in the session, e.g. earlier items of that creator) defaults to 0. Works on
    torch tensors and numpy arrays alike.

    Args:
        preds: output of :func:`predict` (or arrays per head).
        weights: ``ranking.score_weights`` (defaults: watch 0.40, complete 0.20, long_view
            0.15, like 0.15, skip -0.05, fatigue -0.05).
        fatigue: per-row exposure, same shape as the predictions.
    """
    score = None
    for head, weight in weights.items():
        if head == FATIGUE or head not in preds:
            continue
        term = weight * preds[head]
        score = term if score is None else score + term
    if score is None:
        raise ValueError(f"no head of {sorted(weights)} is in the predictions {sorted(preds)}")
    if fatigue is not None and weights.get(FATIGUE):
        if isinstance(score, torch.Tensor) and not isinstance(fatigue, torch.Tensor):
            fatigue = torch.as_tensor(np.asarray(fatigue), dtype=score.dtype)
        score = score + weights[FATIGUE] * fatigue
    return score


# --- Spark frames ---------------------------------------------------------------------------

_LOADED: dict[str, Any] = {}


def _load_local(path: str):
    """Load (once per Python worker) the pyfunc at a local folder."""
    if path not in _LOADED:
        _LOADED[path] = mlflow.pyfunc.load_model(path)
    return _LOADED[path]


def output_columns(model_uri: str) -> list[str]:
    """The columns a registered ranker adds when scoring."""
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().output_columns()


def score_frame(df, model_uri: str, keep: list[str] | None = None):
    """Score a Spark frame with a logged ranker: adds ``p_<task>``, ``pred_watch``, ``score``.

    Args:
        df: a Spark frame with the feature columns of ``gold.training_examples``.
        model_uri: any MLflow model URI (``models:/foryou-ranker@champion``, ``runs:/...``);
            the tracking/registry URIs must be set (``foryou.ranking.registry.configure``).
        keep: input columns to carry to the output (default: all).
    Returns:
        ``keep`` columns plus the model's output columns, one row per input row.
    """
    from pyspark import SparkFiles
    from pyspark.sql.types import DoubleType, StructField, StructType

    local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri,
                                                dst_path=tempfile.mkdtemp(prefix="foryou-ranker-"))
    # A unique name per call: Spark refuses a second, different archive under the same name.
    name = f"ranker-{uuid.uuid4().hex[:12]}"
    shipped = os.path.join(os.path.dirname(local.rstrip("/")), name)
    shutil.move(local, shipped)
    ranker = _load_local(shipped).unwrap_python_model()
    outputs = ranker.output_columns()
    # The model folder travels as a zip archive, which every executor unpacks: addFile takes a
    # local folder only on a local master ("UNSUPPORTED_ADD_FILE.LOCAL_DIRECTORY" elsewhere).
    archive = shutil.make_archive(shipped, "zip", root_dir=shipped)
    df.sparkSession.sparkContext.addArchive(archive)
    archive_name = os.path.basename(archive)

    keep = list(df.columns) if keep is None else list(keep)
    clash = [c for c in outputs if c in keep]
    if clash:
        raise ValueError(f"score_frame: input columns {clash} clash with the model's outputs")
    schema = StructType([df.schema[c] for c in keep]
                        + [StructField(c, DoubleType(), False) for c in outputs])
    # Only the columns the model reads (labels aside: absent ones are nulls to it) go to
    # Python, so Spark also prunes whatever the frame computes that the model does not read.
    labels = set(label_columns(ranker.spec))
    reads = [c for c in (*ranker.spec.file_columns(), FATIGUE) if c in df.columns and c not in labels]

    def score(batches):
        ranker = _load_local(SparkFiles.get(archive_name)).unwrap_python_model()
        for batch in batches:
            preds = ranker.predict_arrow(batch)
            yield pa.RecordBatch.from_arrays(
                [batch.column(c) for c in keep] + [pa.array(preds[c], pa.float64()) for c in outputs],
                names=keep + outputs)

    return df.select(*dict.fromkeys([*keep, *reads])).mapInArrow(score, schema)


# --- the candidate pool ---------------------------------------------------------------------

HOUR = "usual_hour"
# The ranker's outputs tried in order as the single relevance score.
SCORE_COLUMNS = ("score", "prediction", "p_long_view", "p_click")


@dataclass(frozen=True)
class Champion:
    uri: str
    version: str


def champion(config: "Tracking") -> Champion:
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


def usual_hours(lake: Lake, as_of: dt.date, days: int) -> DataFrame:
    """(user_id, usual_hour): each user's circular mean hour of day (0 <= h < 24, minutes as a
    fraction) of their session starts in the ``days`` days before ``as_of``; users with no
    session there are absent. Circular, so sessions at 23:00 and 01:00 average to midnight."""
    sessions = lake.read_or_empty(SESSIONS, days_before(window_end(lake, as_of), days))
    hour = F.hour("session_start") + F.minute("session_start") / 60.0
    angle = 2 * math.pi * hour / 24
    mean = sessions.groupBy(USER_ID).agg(F.avg(F.sin(angle)).alias("_s"), F.avg(F.cos(angle)).alias("_c"))
    usual = F.atan2("_s", "_c") * 24 / (2 * math.pi)
    return mean.select(USER_ID, F.pmod(usual, F.lit(24.0)).alias(HOUR))


def candidate_fatigue(lake: Lake, pool: DataFrame, items: DataFrame, as_of: dt.date,
                      days: int) -> DataFrame:
    """(user_id, content_id, fatigue) for every pool row: the share of the user's impressions
    in the ``days`` days before ``as_of`` whose creator is the candidate's, plus the largest
    share of one of the candidate's tags (creators and tags from ``items``, the item features
    as of ``as_of``; 0 for a user with no recent impressions).

    The recent impressions are folded into one row per user (their count, and the count per
    creator and per tag as maps), which the pool meets in one join by user; the candidate's
    creator and tags are then map lookups (unrolled per tag slot, as the example builder's
    interest matches are). Joining the pool to (user, creator) and (user, tag) counts instead
    moved its rows, and their rows per tag, through four shuffles: 7.4-14.0 s against
    4.1-6.9 s on 1.5M candidates (500k events a day, identical values).
    """
    seen = lake.read_or_empty(IMPRESSIONS, days_before(window_end(lake, as_of), days)) \
        .select(USER_ID, CONTENT_ID, CREATOR_ID)
    items = items.select(CONTENT_ID, CREATOR_ID, "tags")
    count = F.count(F.lit(1))

    def per_user_map(rows: DataFrame, key: str, name: str) -> DataFrame:
        """(user_id, name): the user's impressions per ``key`` value, as a map."""
        return (rows.groupBy(USER_ID, key).agg(count.alias("_k")).groupBy(USER_ID)
                .agg(F.map_from_entries(F.collect_list(F.struct(key, "_k"))).alias(name)))

    creators = per_user_map(seen.where(F.col(CREATOR_ID).isNotNull()), CREATOR_ID, "_by_creator")
    tags = per_user_map(seen.join(items.select(CONTENT_ID, "tags"), CONTENT_ID)
                        .select(USER_ID, F.explode("tags").alias("_tag")).where(F.col("_tag").isNotNull()),
                        "_tag", "_by_tag")  # a map key cannot be null
    per_user = (seen.groupBy(USER_ID).agg(count.alias("_n"))
                .join(creators, USER_ID, "left").join(tags, USER_ID, "left"))
    slots = [F.try_element_at("_by_tag", F.try_element_at("tags", F.lit(i)))
             for i in range(1, max_tag_count(items) + 1)]
    top_tag = F.lit(None) if not slots else slots[0] if len(slots) == 1 else F.greatest(*slots)
    rows = pool.select(USER_ID, CONTENT_ID).join(items, CONTENT_ID, "left").join(per_user, USER_ID, "left")

    def share(k: Column) -> Column:
        return F.coalesce(k / F.col("_n"), F.lit(0.0))

    return rows.select(USER_ID, CONTENT_ID,
                       (share(F.try_element_at("_by_creator", F.col(CREATOR_ID))) + share(top_tag))
                       .alias(FATIGUE))


def pseudo_impressions(pool: DataFrame, as_of: dt.date) -> DataFrame:
    """silver.impressions-shaped rows for the pool: one per (user, candidate) on ``as_of`` at
    the user's usual hour (the pool's ``usual_hour`` column; midnight without it), labels
    null, so the training-example builder can attach features."""
    spec = table(IMPRESSIONS)
    midnight = F.unix_timestamp(F.to_timestamp(F.lit(as_of.isoformat())))
    hour = F.coalesce(F.col(HOUR), F.lit(0.0)) if HOUR in pool.columns else F.lit(0.0)
    ts = F.timestamp_seconds(midnight + F.round(hour * 3600).cast("long"))
    values = {
        "request_id": F.concat(F.lit(f"export:{as_of.isoformat()}:"), F.col(USER_ID)),
        "position": F.coalesce(F.col("pool_rank"), F.lit(0)).cast("int") if "pool_rank" in pool.columns
        else F.lit(0),
        USER_ID: F.col(USER_ID), CONTENT_ID: F.col(CONTENT_ID), CREATOR_ID: F.col(CREATOR_ID),
        EVENT_TS: ts, EVENT_DATE: F.lit(as_of), "has_impressions": F.lit(True),
    }
    return pool.select(*[(values[f.name] if f.name in values else F.lit(None)).cast(f.dataType).alias(f.name)
                         for f in spec.schema])


def scoring_frame(lake: Lake, config: "ExportSettings", pool: DataFrame, as_of: dt.date) -> DataFrame:
    """The pool as gold.training_examples rows (point-in-time features as of ``as_of``) at each
    user's usual hour, with each candidate's ``fatigue``."""

    def at(name: str) -> DataFrame:
        return lake.read_or_empty(name, [as_of])

    cfg = config.rerank
    items = at(ITEM_FEATURES)
    stamped = pool.join(usual_hours(lake, as_of, cfg.context_days), USER_ID, "left")
    examples = build_examples(pseudo_impressions(stamped, as_of), at(GOLD_USER_FEATURES),
                              items, at(GOLD_USER_AFFINITIES),
                              at(GOLD_VOCABULARIES), as_of, config.features, labelled=False)
    tired = examples.join(candidate_fatigue(lake, pool, items, as_of, cfg.fatigue_days),
                          [USER_ID, CONTENT_ID], "left")
    return tired.select(*examples.columns, F.coalesce(FATIGUE, F.lit(0.0)).alias(FATIGUE))


def head_columns(weights: Mapping[str, float], columns: list[str]) -> dict[str, str]:
    """The scored frame's column of each weighted head among ``columns`` (``watch`` is the
    watch prediction, any other head its probability, ``fatigue`` the pool's input column)."""
    named = {h: FATIGUE if h == FATIGUE else WATCH_COLUMN if h == WATCH_TASK
             else probability_column(h) for h in weights}
    return {h: c for h, c in named.items() if c in columns and weights[h]}


def user_rank_relevance(scored: DataFrame, weights: Mapping[str, float]) -> DataFrame:
    """``user_id, content_id, relevance`` where relevance is ``sum_h weights[h] * pct_h``, with
    ``pct_h`` the candidate's percentile (0..1, ``percent_rank``) of head ``h`` among the user's
    candidates (``rerank.score_scale = user_rank``). One shuffle by user; each head one sort
    within it."""
    from pyspark.sql import Window

    heads = head_columns(weights, scored.columns)
    if not heads:
        raise ValueError(f"the ranker's output has no head of {sorted(weights)}: {scored.columns}")
    by_user = Window.partitionBy(USER_ID)
    relevance = sum(F.lit(float(weights[h])) * F.percent_rank().over(by_user.orderBy(F.col(c).asc_nulls_first()))
                    for h, c in heads.items())
    return scored.select(USER_ID, CONTENT_ID, relevance.cast("double").alias("relevance"))


WEIGHT_PARAM = "ranking.score_weights."


def model_weights(model_uri: str) -> dict[str, float]:
    """The feed-score weights a registered ranker was logged with (``ranking.score_weights``).

    Read from its training run's params (``train-ranker`` logs the ``ranking`` section), so
    the driver fetches the model's small ``MLmodel`` file and no weights or torch; a model
    logged without those params is loaded to ask it.
    """
    run_id = get_model_info(model_uri).run_id
    params = mlflow.MlflowClient().get_run(run_id).data.params if run_id else {}
    weights = {k[len(WEIGHT_PARAM):]: float(json.loads(v)) for k, v in params.items()
               if k.startswith(WEIGHT_PARAM)}
    if weights:
        return weights
    return dict(mlflow.pyfunc.load_model(model_uri).unwrap_python_model().weights)


def score_pool(lake: Lake, config: "ExportSettings", pool: DataFrame, as_of: dt.date,
               model: Champion) -> DataFrame:
    """The pool with ``relevance`` (the champion's score, on the scale of
    ``rerank.score_scale``) and ``model_version``."""
    frame = scoring_frame(lake, config, pool, as_of)
    if config.rerank.score_scale == "user_rank":
        scored = score_frame(frame, model.uri, keep=[USER_ID, CONTENT_ID, FATIGUE])
        rel = user_rank_relevance(scored, model_weights(model.uri))
    else:
        scored = score_frame(frame, model.uri, keep=[USER_ID, CONTENT_ID])
        name = next((c for c in SCORE_COLUMNS if c in scored.columns), None)
        if name is None:
            raise ValueError(f"the ranker's output has none of {SCORE_COLUMNS}: {scored.columns}")
        rel = scored.select(USER_ID, CONTENT_ID, F.col(name).cast("double").alias("relevance"))
    return (pool.join(rel.dropDuplicates([USER_ID, CONTENT_ID]), [USER_ID, CONTENT_ID], "left")
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
