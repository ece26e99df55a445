"""Retrieval metrics of ranked lists against held-out positives, and the retrieval evaluation
of the export against popularity-only and ALS-only baselines.

Definitions (binary relevance; a user counts when it has at least one held-out positive and
received a list; per list/group, a user with no row in it scores 0):

- ``recall@K``    = hits in the top K / positives
- ``precision@K`` = hits in the top K / K
- ``ndcg@K``      = sum over hits of 1 / log2(rank + 1), over the same sum for an ideal list
  (min(positives, K) hits at the top)
- ``map@K``       = mean over users of AP@K = (sum over hits at rank r of hits-so-far / r) /
  min(positives, K)
- ``coverage``    = distinct items in the top K of all users / catalogue size
- ``intra_list_diversity`` = mean over users of the mean pairwise (1 - cosine) of their top-K
  item vectors
- ``novelty``     = mean over recommended slots of -log2(popularity), popularity = (users who
  engaged with the item + 1) / (users + 1)
- ``gini``        = Gini coefficient of exposure (slots) per creator: 0 equal, ->1 concentrated

Each metric has a numpy/pandas version (for hand-checked tests and small data) and a Spark
version (aggregations only; nothing per user reaches the driver).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window as W
from pyspark.sql import functions as F

from foryou.export.build import item_vectors
from foryou.lake.vocabulary import (
    CONTENT_ID, CREATOR_ID, EVENT_DATE, GOLD_CANDIDATE_POOL, GOLD_ITEM_FEATURES,
    GOLD_USER_CANDIDATES, SILVER_IMPRESSIONS, USER_ID,
)

RANK = "rank"
RANKING_METRICS = ("recall", "precision", "ndcg", "map")


# -- numpy / pandas ------------------------------------------------------------------------
def user_metrics(ranked: Sequence[str], positives: set[str], k: int) -> dict[str, float]:
    """recall, precision, ndcg and AP at ``k`` of one ranked list.

    Example:
        >>> user_metrics(["a", "b", "c"], {"a", "c", "z"}, 3)["recall"]
        0.6666666666666666
    """
    if not positives:
        raise ValueError("user_metrics: a user without positives has no recall")
    top = list(ranked)[:k]
    hits = [i for i, item in enumerate(top, start=1) if item in positives]
    ideal = min(len(positives), k)
    dcg = sum(1.0 / math.log2(r + 1) for r in hits)
    idcg = sum(1.0 / math.log2(r + 1) for r in range(1, ideal + 1))
    ap = sum((n + 1) / r for n, r in enumerate(hits)) / ideal
    return {"recall": len(hits) / len(positives), "precision": len(hits) / k,
            "ndcg": dcg / idcg, "map": ap}


def ranking_metrics_pd(lists: Mapping[str, Sequence[str]], positives: Mapping[str, set[str]],
                       k: int) -> dict[str, float]:
    """Mean :func:`user_metrics` over users with positives and a list (a missing list: zeros)."""
    users = [u for u, p in positives.items() if p and u in lists]
    if not users:
        return {m: 0.0 for m in RANKING_METRICS} | {"users": 0.0}
    rows = [user_metrics(lists[u], positives[u], k) for u in users]
    return {m: float(np.mean([r[m] for r in rows])) for m in RANKING_METRICS} | {"users": float(len(users))}


def coverage_pd(lists: Mapping[str, Sequence[str]], catalogue_size: int, k: int) -> float:
    items = {i for lst in lists.values() for i in list(lst)[:k]}
    return len(items) / catalogue_size if catalogue_size else 0.0


def intra_list_diversity_pd(lists: Mapping[str, Sequence[str]], vectors: Mapping[str, np.ndarray],
                            k: int) -> float:
    """Mean over users (with >= 2 vectored items) of mean pairwise 1 - cosine."""
    per_user = []
    for lst in lists.values():
        vs = [np.asarray(vectors[i], dtype=float) for i in list(lst)[:k] if i in vectors]
        if len(vs) < 2:
            continue
        u = np.array([v / np.linalg.norm(v) for v in vs])
        s = u @ u.T
        n = len(u)
        per_user.append(1.0 - (s.sum() - n) / (n * (n - 1)))
    return float(np.mean(per_user)) if per_user else 0.0


def novelty_pd(lists: Mapping[str, Sequence[str]], engaged_users: Mapping[str, int],
               n_users: int, k: int) -> float:
    slots = [i for lst in lists.values() for i in list(lst)[:k]]
    if not slots:
        return 0.0
    return float(np.mean([-math.log2((engaged_users.get(i, 0) + 1) / (n_users + 1)) for i in slots]))


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values (0: all equal).

    Example:
        >>> gini([1, 1, 1, 1]), gini([0, 0, 0, 4])
        (0.0, 0.75)
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    if n == 0 or x.sum() == 0:
        return 0.0
    idx = np.arange(1, n + 1)
    return float((2 * (idx * x).sum()) / (n * x.sum()) - (n + 1) / n)


# -- Spark ----------------------------------------------------------------------------------
def ranking_metrics(recs: DataFrame, positives: DataFrame, k: int,
                    group_by: str | None = None) -> pd.DataFrame:
    """recall/precision/ndcg/map@k per group (or one row), as a small pandas frame.

    Args:
        recs: (user_id, rank, content_id[, group_by]); rank 1.. within the user's list of its group.
        positives: (user_id, content_id) held-out positives.
        k: the cut-off.
        group_by: a column of ``recs`` naming each list (e.g. source); None: one list.
    """
    g = group_by or "_list"
    if group_by is None:
        recs = recs.withColumn(g, F.lit("merged"))
    pos = positives.select(USER_ID, CONTENT_ID).distinct()
    npos = pos.groupBy(USER_ID).agg(F.count(F.lit(1)).alias("_npos"))
    users = recs.select(USER_ID).distinct().join(npos, USER_ID)
    groups = recs.select(g).distinct()
    top = recs.where(F.col(RANK) <= k).select(USER_ID, g, RANK, CONTENT_ID)
    hits = top.join(pos, [USER_ID, CONTENT_ID])
    hits = hits.withColumn("_n", F.row_number().over(W.partitionBy(USER_ID, g).orderBy(RANK)))
    per_user = hits.groupBy(USER_ID, g).agg(
        F.count(F.lit(1)).alias("_hits"),
        F.sum(1.0 / F.log2(F.col(RANK) + 1)).alias("_dcg"),
        F.sum(F.col("_n") / F.col(RANK)).alias("_ap"))
    ideal = F.least(F.col("_npos"), F.lit(k))
    # IDCG of m hits at the top: sum_{r=1..m} 1/log2(r+1), as an array aggregate.
    idcg = F.aggregate(F.sequence(F.lit(1), ideal), F.lit(0.0), lambda acc, r: acc + 1.0 / F.log2(r + 1))
    full = (users.crossJoin(F.broadcast(groups)).join(per_user, [USER_ID, g], "left").na.fill(0.0)
            .select(g, (F.col("_hits") / F.col("_npos")).alias("recall"),
                    (F.col("_hits") / F.lit(k)).alias("precision"),
                    (F.col("_dcg") / idcg).alias("ndcg"), (F.col("_ap") / ideal).alias("map")))
    # bounded: one row per list
    out = full.groupBy(g).agg(*[F.avg(m).alias(m) for m in RANKING_METRICS],
                              F.count(F.lit(1)).cast("double").alias("users")).toPandas()
    return out.rename(columns={g: group_by or "list"}).sort_values(group_by or "list").reset_index(drop=True)


def _grouped(recs: DataFrame, group_by: str | None) -> tuple[DataFrame, str]:
    if group_by is None:
        return recs.withColumn("_list", F.lit("all")), "_list"
    return recs, group_by


def _one_or_all(values: dict[str, float], group_by: str | None) -> float | dict[str, float]:
    return values.get("all", 0.0) if group_by is None else values


def coverage(recs: DataFrame, catalogue_size: int, k: int,
             group_by: str | None = None) -> float | dict[str, float]:
    """Distinct top-k items / catalogue size (per ``group_by`` value: a dict)."""
    recs, g = _grouped(recs, group_by)
    # bounded: one row per list
    rows = (recs.where(F.col(RANK) <= k).groupBy(g).agg(F.countDistinct(CONTENT_ID).alias("_n"))
            .collect())
    return _one_or_all({r[g]: (r["_n"] / catalogue_size if catalogue_size else 0.0) for r in rows}, group_by)


def intra_list_diversity(recs: DataFrame, vectors: DataFrame, k: int,
                         group_by: str | None = None) -> float | dict[str, float]:
    """Mean over users of mean pairwise 1 - cosine of their top-k item vectors (content_id, vector).

    Uses sum of unit vectors: sum_{i != j} cos = |sum u|^2 - n, so it is linear in the list size.
    """
    recs, g = _grouped(recs, group_by)
    # bounded: one row
    dim_rows = vectors.select(F.size("vector").alias("_d")).where(F.col("_d") > 0).limit(1).collect()
    if not dim_rows:
        return _one_or_all({}, group_by)
    d = dim_rows[0]["_d"]
    norm = F.sqrt(F.aggregate("vector", F.lit(0.0), lambda a, x: a + x * x))
    unit = vectors.where(F.size("vector") == d).select(
        CONTENT_ID, F.transform("vector", lambda x: x / norm).alias("_u"))
    top = recs.where(F.col(RANK) <= k).join(unit, CONTENT_ID)
    per_user = top.groupBy(g, USER_ID).agg(
        F.count(F.lit(1)).alias("_n"),
        *[F.sum(F.col("_u")[i]).alias(f"_s{i}") for i in range(d)])
    sq = sum(F.col(f"_s{i}") * F.col(f"_s{i}") for i in range(d))
    div = per_user.where(F.col("_n") >= 2).select(
        g, (1.0 - (sq - F.col("_n")) / (F.col("_n") * (F.col("_n") - 1))).alias("_div"))
    # bounded: one row per list
    rows = div.groupBy(g).agg(F.avg("_div").alias("_v")).collect()
    return _one_or_all({r[g]: float(r["_v"]) for r in rows}, group_by)


def novelty(recs: DataFrame, interactions: DataFrame, k: int,
            group_by: str | None = None) -> float | dict[str, float]:
    """Mean self-information of recommended slots; ``interactions`` (user_id, content_id)."""
    recs, g = _grouped(recs, group_by)
    n_users = interactions.select(USER_ID).distinct().count()
    pop = interactions.select(USER_ID, CONTENT_ID).distinct().groupBy(CONTENT_ID).agg(
        F.count(F.lit(1)).alias("_u"))
    slots = recs.where(F.col(RANK) <= k).join(pop, CONTENT_ID, "left")
    # bounded: one row per list
    rows = slots.groupBy(g).agg(
        F.avg(-F.log2((F.coalesce("_u", F.lit(0)) + 1) / F.lit(n_users + 1))).alias("_v")).collect()
    return _one_or_all({r[g]: float(r["_v"]) for r in rows}, group_by)


def creator_gini(recs: DataFrame, items: DataFrame, k: int, creators: DataFrame | None = None,
                 group_by: str | None = None) -> float | dict[str, float]:
    """Gini of exposure (top-k slots) per creator; ``items`` maps content_id to creator_id.
    With ``creators`` (creator_id), creators never exposed count as 0 exposure."""
    recs, g = _grouped(recs, group_by)
    exposure = (recs.where(F.col(RANK) <= k).join(items.select(CONTENT_ID, CREATOR_ID), CONTENT_ID)
                .groupBy(g, CREATOR_ID).agg(F.count(F.lit(1)).cast("double").alias("_x")))
    if creators is not None:
        every = recs.select(g).distinct().crossJoin(creators.select(CREATOR_ID).distinct())
        exposure = every.join(exposure, [g, CREATOR_ID], "left").na.fill(0.0, ["_x"])
    ranked = exposure.withColumn("_i", F.row_number().over(W.partitionBy(g).orderBy("_x", CREATOR_ID)))
    # bounded: one row per list
    rows = ranked.groupBy(g).agg(F.count(F.lit(1)).alias("n"), F.sum("_x").alias("s"),
                                 F.sum(F.col("_i") * F.col("_x")).alias("ix")).collect()
    return _one_or_all({r[g]: (float(2 * r["ix"] / (r["n"] * r["s"]) - (r["n"] + 1) / r["n"])
                               if r["n"] and r["s"] else 0.0) for r in rows}, group_by)


# -- the evaluation of the export ----------------------------------------------------------
POSITIVE_LABELS = ("long_view", "like", "comment", "share", "save")


def held_out_positives(impressions: DataFrame, start: dt.date, days: int) -> DataFrame:
    """(user_id, content_id) positively engaged on ``start`` .. ``start + days - 1``."""
    end = start + dt.timedelta(days=days)
    positive = F.lit(False)
    for label in POSITIVE_LABELS:
        positive = positive | (F.coalesce(F.col(label), F.lit(0)) > 0)
    return (impressions.where((F.col(EVENT_DATE) >= F.lit(start)) & (F.col(EVENT_DATE) < F.lit(end))
                              & positive).select(USER_ID, CONTENT_ID).distinct())


def popularity_lists(recs_users: DataFrame, item_features: DataFrame, k: int) -> DataFrame:
    """Every user of ``recs_users`` gets the same k most viewed items (the popularity baseline)."""
    top = (item_features.select(CONTENT_ID, F.coalesce("views", F.lit(0)).alias("_v"))
           .orderBy(F.col("_v").desc(), CONTENT_ID).limit(k)
           .withColumn(RANK, F.row_number().over(W.orderBy(F.col("_v").desc(), CONTENT_ID))))
    return recs_users.select(USER_ID).distinct().crossJoin(F.broadcast(top.select(RANK, CONTENT_ID)))


def evaluate_retrieval(lake, as_of: dt.date, k: int = 20, holdout_days: int = 1,
                       export: DataFrame | None = None) -> pd.DataFrame:
    """Retrieval quality of run date ``as_of``'s lists on the held-out days from ``as_of`` on.

    Rows (column ``list``): ``merged`` (the export gold.user_candidates, or ``export``), one
    per candidate source (gold.candidate_pool's primary source ranked by source_rank),
    ``als_only`` (the ``ann`` source: nearest items in the ALS embedding space) and
    ``popularity`` (the most viewed items for everyone). Columns: recall, precision, ndcg,
    map at ``k``, users; coverage, intra_list_diversity, novelty and creator gini.
    """
    positives = held_out_positives(lake.read_or_empty(SILVER_IMPRESSIONS), as_of, holdout_days)
    items = lake.read_or_empty(GOLD_ITEM_FEATURES, [as_of])
    if export is None:
        export = lake.read_or_empty(GOLD_USER_CANDIDATES)
    merged = export.select(USER_ID, RANK, CONTENT_ID)
    pool = lake.read_or_empty(GOLD_CANDIDATE_POOL, [as_of])
    per_source = pool.select(USER_ID, CONTENT_ID, F.col("source").alias("list"),
                             F.row_number().over(W.partitionBy(USER_ID, "source")
                                                 .orderBy("source_rank", CONTENT_ID)).alias(RANK))
    lists = (merged.withColumn("list", F.lit("merged"))
             .unionByName(per_source)
             .unionByName(per_source.where(F.col("list") == "ann").withColumn("list", F.lit("als_only")))
             .unionByName(popularity_lists(merged, items, k).withColumn("list", F.lit("popularity"))))
    lists = lists.where(F.col(RANK) <= k).cache()  # read by every metric below
    table = ranking_metrics(lists, positives, k, group_by="list")
    if table.empty:  # no held-out engagement of a listed user: nothing to measure
        lists.unpersist()
        return table
    catalogue = items.count()
    vectors = item_vectors(lake, None)
    history = lake.read_or_empty(SILVER_IMPRESSIONS).where(F.col(EVENT_DATE) < F.lit(as_of))
    interactions = held_out_positives(history, dt.date(1970, 1, 1), (as_of - dt.date(1970, 1, 1)).days)
    cov = coverage(lists, catalogue, k, "list")
    div = intra_list_diversity(lists, vectors, k, "list")
    nov = novelty(lists, interactions, k, "list")
    gin = creator_gini(lists, items, k, group_by="list")
    extras = [{"list": name, "coverage": cov.get(name, 0.0), "intra_list_diversity": div.get(name, 0.0),
               "novelty": nov.get(name, 0.0), "creator_gini": gin.get(name, 0.0)} for name in table["list"]]
    lists.unpersist()
    return table.merge(pd.DataFrame(extras), on="list")
