"""The merged candidate pool: one row per (user, item) with every source that proposed it.

A row's primary ``source`` is the one that ranked the item best (ties go to the earlier source
of ``settings.SOURCES``), ``source_score`` that source's score, ``source_scores`` every
proposing source's score. A user keeps ``max_candidates`` rows, best primary rank first.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.settings import SOURCES
from foryou.candidates.topk import top_k
from foryou.lake import table


def priority() -> F.Column:
    """The source's position in SOURCES (the tie-break between equally ranked sources)."""
    order = F.create_map(*[x for i, s in enumerate(SOURCES) for x in (F.lit(s), F.lit(i))])
    return F.coalesce(F.try_element_at(order, F.col(C.SOURCE)), F.lit(len(SOURCES)))


def merge(candidates: DataFrame, items: DataFrame, waves: DataFrame, as_of: dt.date,
          max_candidates: int) -> DataFrame:
    """gold.candidate_pool rows for ``as_of`` from filtered, quota-cut source rows.

    ``items`` gives creator_id and tags per content_id; ``waves`` the cold-start wave of
    items in cold start.
    """
    ordered = candidates.withColumn("_key", F.struct(F.col(C.SOURCE_RANK), priority().alias("_p"),
                                                     F.col(C.SOURCE), F.col(C.SCORE)))
    merged = ordered.groupBy(C.USER_ID, C.CONTENT_ID).agg(
        F.min("_key").alias("_best"),
        F.array_sort(F.collect_set(C.SOURCE)).alias("sources"),
        F.map_from_entries(F.collect_list(F.struct(C.SOURCE, C.SCORE))).alias("source_scores"))
    merged = merged.select(
        C.USER_ID, C.CONTENT_ID, "sources", "source_scores",
        F.col("_best.source").alias(C.SOURCE), F.col("_best.score").alias("source_score"),
        F.col("_best.source_rank").alias(C.SOURCE_RANK), F.col("_best._p").alias("_p"))
    kept = top_k(merged, C.USER_ID, [F.col(C.SOURCE_RANK), F.col("_p"), F.col("source_score").desc()],
                 max_candidates, "pool_rank")
    wave = waves.select(C.CONTENT_ID, F.col("wave").alias("cold_start_wave"))
    out = (kept.join(items.select(C.CONTENT_ID, C.CREATOR_ID, C.TAGS), C.CONTENT_ID, "left")
           .join(wave, C.CONTENT_ID, "left")
           .withColumn("pool_rank", F.col("pool_rank").cast("int"))
           .withColumn(C.AS_OF_DATE, F.lit(as_of)))
    return out.select(*table(C.CANDIDATE_POOL).schema.fieldNames())
