"""The offline hold-out protocol: the feed's first K ranks and three baselines, scored on the
same held-out interactions with the same rules.

``foryou benchmark`` (jobs/benchmark.py) splits a log by time, runs every stage on the part
before the run date in a lake of its own, and calls :func:`holdout_table` with that lake's
export. The lists compared, all built from the train part only:

- ``feed``: ``gold.user_candidates`` of the run date (retrieval, ranker, rerank, guards);
- ``popularity``: the items most users interacted with;
- ``cooccurrence``: item-to-item, SAR-style (Microsoft Recommenders' SAR): the Jaccard
  similarity of two items' user sets, a user's score for an item the sum of its similarities
  to the items in the user's history;
- ``als``: the candidate pool's ALS nearest neighbours alone (the ``ann`` source).

Items a user interacted with in the train part are removed from every list before it is cut
at K, and every list is scored for the same users (those with a feed and a held-out
interaction), so a difference is the lists' alone. Metrics: nDCG, precision, recall, MAP at K
(:func:`foryou.evaluation.retrieval.ranking_metrics`) and catalogue coverage.
"""
from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from foryou.evaluation.retrieval import RANK, coverage, ranking_metrics
from foryou.lake.vocabulary import CONTENT_ID, EVENT_TS, USER_ID

LIST = "list"
LISTS = ("feed", "popularity", "cooccurrence", "als")
# The user's most recent items that seed the co-occurrence scores (bounds the pair join).
HISTORY_SEEDS = 50


def _ranked(scored: DataFrame, score: str, k: int) -> DataFrame:
    """(user_id, rank, content_id): each user's ``k`` best by ``score`` (ties by item id)."""
    order = Window.partitionBy(USER_ID).orderBy(F.col(score).desc(), CONTENT_ID)
    return (scored.withColumn(RANK, F.row_number().over(order)).where(F.col(RANK) <= k)
            .select(USER_ID, RANK, CONTENT_ID))


def popularity(train: DataFrame, users: DataFrame, k: int, fetch: int) -> DataFrame:
    """The ``fetch`` items with most distinct users, for every user; ranked after seen removal."""
    top = (train.groupBy(CONTENT_ID).agg(F.countDistinct(USER_ID).alias("_s"))
           .orderBy(F.col("_s").desc(), CONTENT_ID).limit(fetch))
    return users.crossJoin(F.broadcast(top)).select(USER_ID, CONTENT_ID, "_s")


def cooccurrence(train: DataFrame, users: DataFrame) -> DataFrame:
    """(user_id, content_id, _s): SAR scores, sum of Jaccard similarities to the history."""
    pairs = train.select(USER_ID, CONTENT_ID).distinct()
    recent = pairs.join(train.groupBy(USER_ID, CONTENT_ID).agg(F.max(EVENT_TS).alias("_t")),
                        [USER_ID, CONTENT_ID])
    seeds = (recent.withColumn("_r", F.row_number().over(
        Window.partitionBy(USER_ID).orderBy(F.col("_t").desc(), CONTENT_ID)))
        .where(F.col("_r") <= HISTORY_SEEDS).select(USER_ID, F.col(CONTENT_ID).alias("_i")))
    counts = pairs.groupBy(CONTENT_ID).agg(F.count(F.lit(1)).alias("_n"))
    a, b = pairs.alias("a"), pairs.alias("b")
    together = (a.join(b, F.col("a.user_id") == F.col("b.user_id"))
                .where(F.col("a.content_id") != F.col("b.content_id"))
                .groupBy(F.col("a.content_id").alias("_i"), F.col("b.content_id").alias(CONTENT_ID))
                .agg(F.count(F.lit(1)).alias("_c")))
    ni, nj = counts.select(F.col(CONTENT_ID).alias("_i"), F.col("_n").alias("_ni")), \
        counts.select(CONTENT_ID, F.col("_n").alias("_nj"))
    jaccard = (together.join(ni, "_i").join(nj, CONTENT_ID)
               .select("_i", CONTENT_ID, (F.col("_c") / (F.col("_ni") + F.col("_nj") - F.col("_c"))).alias("_j")))
    return (seeds.join(users, USER_ID).join(jaccard, "_i")
            .groupBy(USER_ID, CONTENT_ID).agg(F.sum("_j").alias("_s")))


def holdout_lists(train: DataFrame, export: DataFrame, pool: DataFrame, k: int) -> DataFrame:
    """(list, user_id, rank, content_id) of every list, train-seen items removed, cut at ``k``.

    Args:
        train: the train part's interactions (user_id, content_id, event_ts).
        export: gold.user_candidates (user_id, rank, content_id).
        pool: gold.candidate_pool of the run date (user_id, content_id, sources, source_scores).
    """
    users = export.select(USER_ID).distinct()
    seen = train.select(USER_ID, CONTENT_ID).distinct()
    fetch = k + int(seen.groupBy(USER_ID).count().agg(F.max("count")).first()[0] or 0)
    scored = {
        "feed": export.select(USER_ID, CONTENT_ID, (-F.col(RANK)).alias("_s")),
        "popularity": popularity(train, users, k, fetch),
        "cooccurrence": cooccurrence(train, users),
        # The ANN source's own score, also where another source is the row's primary one.
        "als": pool.where(F.array_contains("sources", "ann"))
                   .select(USER_ID, CONTENT_ID, F.col("source_scores")["ann"].alias("_s")),
    }
    out = None
    for name in LISTS:
        unseen = scored[name].join(seen, [USER_ID, CONTENT_ID], "left_anti")
        ranked = _ranked(unseen, "_s", k).withColumn(LIST, F.lit(name))
        out = ranked if out is None else out.unionByName(ranked)
    return out


def holdout_table(train: DataFrame, test: DataFrame, export: DataFrame, pool: DataFrame,
                  catalogue_size: int, k: int) -> pd.DataFrame:
    """nDCG/precision/recall/MAP@k, users and coverage per list (rows in :data:`LISTS` order)
    for the held-out ``test`` interactions (user_id, content_id), users with a feed only."""
    lists = holdout_lists(train, export, pool, k).cache()
    try:
        positives = test.select(USER_ID, CONTENT_ID).distinct()
        table = ranking_metrics(lists, positives, k, group_by=LIST)
        cov = coverage(lists, catalogue_size, k, group_by=LIST)
    finally:
        lists.unpersist()
    if table.empty:
        return table
    table["coverage"] = table[LIST].map(lambda name: cov.get(name, 0.0))
    table = table.set_index(LIST).reindex([n for n in LISTS if n in set(table[LIST])]).reset_index()
    return table
