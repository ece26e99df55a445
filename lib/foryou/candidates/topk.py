"""Top-k per group with a deterministic tie-break, and the common shape of a source's output."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.candidates import columns as C


def top_k(df: DataFrame, by: str | list[str], order: list[Column], k: int,
          rank_col: str = C.SOURCE_RANK, tie: str = C.CONTENT_ID) -> DataFrame:
    """The first ``k`` rows of each ``by`` group in ``order`` (ties broken by ``tie``),
    with their 1-based rank in ``rank_col``."""
    keys = [by] if isinstance(by, str) else by
    w = Window.partitionBy(*keys).orderBy(*order, F.col(tie))
    return df.withColumn(rank_col, F.row_number().over(w)).where(F.col(rank_col) <= k)


def as_source(df: DataFrame, source: str, k: int) -> DataFrame:
    """A source's output from (user_id, content_id, score): the user's top ``k`` by score,
    as rows of (user_id, content_id, source, score, source_rank)."""
    return ranked_source(top_k(df, C.USER_ID, [F.col(C.SCORE).desc()], k), source)


def ranked_source(ranked: DataFrame, source: str, rank_col: str = C.SOURCE_RANK) -> DataFrame:
    """A source's output from rows already ranked per user (``rank_col`` 1..k): the common
    shape, without a second top-k."""
    return ranked.select(C.USER_ID, C.CONTENT_ID, F.lit(source).alias(C.SOURCE),
                         F.col(C.SCORE).cast("double").alias(C.SCORE),
                         F.col(rank_col).cast("int").alias(C.SOURCE_RANK))


def empty_source(spark) -> DataFrame:
    """A source that proposes nothing (a source that is off or has no input)."""
    return spark.createDataFrame(
        [], f"{C.USER_ID} string, {C.CONTENT_ID} string, {C.SOURCE} string, "
            f"{C.SCORE} double, {C.SOURCE_RANK} int")
