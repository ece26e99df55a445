"""Content vectors in the collaborative space, so an item nobody interacted with yet can be
matched against user vectors.

A ridge regression ``[content, 1] @ W ≈ als_factor`` is fit on the items that have both a
content vector (``gold.item_features``) and an ALS factor; items with only a content vector get
``[content, 1] @ W`` (kind ``content``). The normal equations are summed per partition on the
executors (a (d+1)² and a (d+1)·r matrix each), so only partition-sized partial sums reach the
driver, whatever the catalogue size.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, FloatType, LongType, StructField, StructType

from foryou.embeddings import columns as C

_X, _Y = "_x", "_y"


def _stack(column: pd.Series, bias: bool) -> np.ndarray:
    x = np.stack([np.asarray(v, dtype=np.float64) for v in column])
    return np.hstack([x, np.ones((len(x), 1))]) if bias else x


def fit_projection(pairs: DataFrame, x_col: str, y_col: str, ridge: float) -> np.ndarray | None:
    """``W`` of shape (d + 1, r) minimising ``|[X, 1] W - Y|² + ridge |W|²`` over ``pairs``
    (rows with array columns ``x_col`` of width d and ``y_col`` of width r); None if no rows."""
    schema = StructType([StructField("xtx", ArrayType(DoubleType())),
                         StructField("xty", ArrayType(DoubleType())),
                         StructField("n", LongType()),
                         StructField("dx", LongType()), StructField("dy", LongType())])

    def partial(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        xtx = xty = None
        n = 0
        for batch in batches:
            if batch.empty:
                continue
            x, y = _stack(batch[_X], True), _stack(batch[_Y], False)
            xtx = x.T @ x if xtx is None else xtx + x.T @ x
            xty = x.T @ y if xty is None else xty + x.T @ y
            n += len(x)
        if n:
            yield pd.DataFrame({"xtx": [xtx.ravel()], "xty": [xty.ravel()], "n": [n],
                                "dx": [xtx.shape[0]], "dy": [xty.shape[1]]})

    # bounded: one d x d sum per partition
    sums = (pairs.select(F.col(x_col).alias(_X), F.col(y_col).alias(_Y))
            .where(F.col(_X).isNotNull() & F.col(_Y).isNotNull())
            .mapInPandas(partial, schema).collect())
    if not sums:
        return None
    dx, dy = int(sums[0]["dx"]), int(sums[0]["dy"])
    if any(int(r["dx"]) != dx or int(r["dy"]) != dy for r in sums):
        raise ValueError(f"{x_col}/{y_col}: vectors of different widths in one table")
    xtx = sum(np.asarray(r["xtx"]).reshape(dx, dx) for r in sums)
    xty = sum(np.asarray(r["xty"]).reshape(dx, dy) for r in sums)
    # ridge >= 0 keeps the system positive semi-definite; a tiny floor keeps it solvable
    # when fewer items than dimensions are fitted.
    return np.linalg.solve(xtx + (ridge + 1e-6) * np.eye(dx), xty)


def project(items: DataFrame, x_col: str, weights: np.ndarray, out_col: str = C.VECTOR) -> DataFrame:
    """``items`` with ``x_col`` replaced by ``out_col = [x, 1] @ weights`` (float32)."""
    other = [c for c in items.columns if c != x_col]
    schema = StructType([f for f in items.schema.fields if f.name != x_col]
                        + [StructField(out_col, ArrayType(FloatType()))])
    expected = weights.shape[0] - 1

    def apply(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if batch.empty:
                continue
            x = _stack(batch[x_col], True)
            if x.shape[1] - 1 != expected:
                raise ValueError(f"{x_col}: width {x.shape[1] - 1}, the projection expects {expected}")
            out = batch[other].copy()
            out[out_col] = list((x @ weights).astype(np.float32))
            yield out

    return items.where(F.col(x_col).isNotNull()).mapInPandas(apply, schema)
