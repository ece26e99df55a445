"""The merged candidate pool: one row per (user, item) with every source that proposed it.

A row's primary ``source`` is the one that ranked the item best (ties go to the earlier source
of ``settings.SOURCES``), ``source_score`` that source's score, ``source_scores`` every
proposing source's score. A user keeps ``max_candidates`` rows, best primary rank first: the
sources interleave rank by rank. Given an ``order`` of sources (an interaction log's), the
pool lists them one after the other instead, each by its own rank.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.topk import top_k
from foryou.config.candidates import SOURCES
from foryou.lake import table


def priority() -> F.Column:
    """The source's position in SOURCES (the tie-break between equally ranked sources)."""
    order = F.create_map(*[x for i, s in enumerate(SOURCES) for x in (F.lit(s), F.lit(i))])
    return F.coalesce(F.try_element_at(order, F.col(C.SOURCE)), F.lit(len(SOURCES)))


def position(order: list[str]) -> F.Column:
    """The source's position in ``order`` (sources not in it after every listed one)."""
    at = F.create_map(*[x for i, s in enumerate(order) for x in (F.lit(s), F.lit(i))])
    return F.coalesce(F.try_element_at(at, F.col(C.SOURCE)), F.lit(len(order)))


def merge(candidates: DataFrame, items: DataFrame, waves: DataFrame, as_of: dt.date,
          max_candidates: int, order: list[str] | None = None) -> DataFrame:
    """gold.candidate_pool rows for ``as_of`` from filtered, quota-cut source rows.

    ``items`` gives creator_id and tags per content_id; ``waves`` the cold-start wave of
    items in cold start; ``order`` (optional) lists the sources one after the other.
    """
    block = position(order) if order else F.lit(0)
    ordered = candidates.withColumn("_key", F.struct(block.alias("_b"), F.col(C.SOURCE_RANK),
                                                     priority().alias("_p"), F.col(C.SOURCE), F.col(C.SCORE)))
    merged = ordered.groupBy(C.USER_ID, C.CONTENT_ID).agg(
        F.min("_key").alias("_best"),
        F.array_sort(F.collect_set(C.SOURCE)).alias("sources"),
        F.map_from_entries(F.collect_list(F.struct(C.SOURCE, C.SCORE))).alias("source_scores"))
    merged = merged.select(
        C.USER_ID, C.CONTENT_ID, "sources", "source_scores",
        F.col("_best.source").alias(C.SOURCE), F.col("_best.score").alias("source_score"),
        F.col("_best.source_rank").alias(C.SOURCE_RANK), F.col("_best._p").alias("_p"),
        F.col("_best._b").alias("_b"))
    kept = top_k(merged, C.USER_ID, [F.col("_b"), F.col(C.SOURCE_RANK), F.col("_p"), F.col("source_score").desc()],
                 max_candidates, "pool_rank")
    wave = waves.select(C.CONTENT_ID, F.col("wave").alias("cold_start_wave"))
    out = (kept.join(items.select(C.CONTENT_ID, C.CREATOR_ID, C.TAGS), C.CONTENT_ID, "left")
           .join(wave, C.CONTENT_ID, "left")
           .withColumn("pool_rank", F.col("pool_rank").cast("int"))
           .withColumn(C.AS_OF_DATE, F.lit(as_of)))
    return out.select(*table(C.CANDIDATE_POOL).schema.fieldNames())
