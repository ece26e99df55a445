"""Feature drift: population stability index (PSI) per numeric feature between two snapshots.

    PSI = sum_b (a_b - e_b) * ln(a_b / e_b)

with ``e_b`` and ``a_b`` the shares of the reference (previous as_of_date) and current rows in
bin ``b``. Bins are the reference's quantiles, so each holds about 1/bins of the reference;
nulls get their own bin (a feature going missing is drift too). Empty bins get a share of
``EPS`` so the log stays finite. Rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Sequence

from pyspark.sql import DataFrame, functions as F
from pyspark.sql.types import NumericType

from foryou.lake import Lake

EPS = 1e-4
NULL_BIN = -1


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI of two histograms over the same bins (counts or shares; each is normalised)."""
    if len(expected) != len(actual):
        raise ValueError(f"psi: {len(expected)} expected bins vs {len(actual)} actual bins")
    e_tot, a_tot = float(sum(expected)), float(sum(actual))
    if e_tot <= 0 or a_tot <= 0:
        raise ValueError("psi: a histogram is empty")
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(e / e_tot, EPS), max(a / a_tot, EPS)
        total += (a - e) * math.log(a / e)
    return total


def numeric_features(df: DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric columns of ``df`` (not booleans, ids or dates), minus ``exclude``."""
    return [f.name for f in df.schema.fields
            if isinstance(f.dataType, NumericType) and f.name not in exclude]


def feature_psi(reference: DataFrame, current: DataFrame, features: Sequence[str],
                bins: int = 10) -> dict[str, float]:
    """PSI per feature between ``reference`` and ``current`` (two Spark passes each).

    Bin edges are the reference's distinct approximate quantiles; a constant feature has one
    bin (plus nulls). Both frames are histogrammed in one aggregation over exploded
    (feature, bin) pairs, so the cost is linear in rows x features and only bins x features
    rows reach the driver.
    """
    features = list(features)
    if not features:
        return {}
    probs = [i / bins for i in range(1, bins)]
    ref = reference.select(*[F.col(c).cast("double").alias(c) for c in features])
    quantiles = ref.approxQuantile(features, probs, 0.001)
    edges = {c: sorted(set(q)) for c, q in zip(features, quantiles)}

    def binned(df: DataFrame, side: str) -> DataFrame:
        cells = []
        for c in features:
            value = F.col(c).cast("double")
            idx = F.lit(0)
            for edge in edges[c]:
                idx = idx + F.when(value > F.lit(edge), 1).otherwise(0)
            cells.append(F.struct(F.lit(c).alias("feature"),
                                  F.when(value.isNull() | F.isnan(value), F.lit(NULL_BIN))
                                  .otherwise(idx).alias("bin")))
        return (df.select(F.explode(F.array(*cells)).alias("cell"))
                .select("cell.feature", "cell.bin").withColumn("side", F.lit(side)))

    # bounded: features x bins x 2 counts
    counts = (binned(reference, "ref").unionByName(binned(current, "cur"))
              .groupBy("feature", "bin", "side").count().collect())
    hist: dict[str, dict[int, list[float]]] = {c: {} for c in features}
    for r in counts:
        cell = hist[r["feature"]].setdefault(r["bin"], [0.0, 0.0])
        cell[0 if r["side"] == "ref" else 1] += r["count"]
    out = {}
    for c in features:
        cells = hist[c]
        expected = [v[0] for v in cells.values()]
        actual = [v[1] for v in cells.values()]
        if sum(expected) > 0 and sum(actual) > 0:
            out[c] = psi(expected, actual)
    return out


def previous_as_of(lake: Lake, table: str, run_date: dt.date) -> dt.date | None:
    """The latest ``as_of_date`` of ``table`` strictly before ``run_date`` (None if none)."""
    prev = (lake.read(table).where(F.col("as_of_date") < F.lit(run_date))
            .agg(F.max("as_of_date")).first()[0])
    return prev


def table_drift(lake: Lake, table: str, run_date: dt.date, bins: int = 10) -> tuple[dt.date | None, dict[str, float]]:
    """PSI per numeric feature of ``table`` at ``run_date`` against the previous as_of_date.

    Returns ``(previous as_of_date, {feature: psi})``; ``(None, {})`` when there is no
    previous snapshot or no snapshot for ``run_date``.
    """
    if not lake.exists(table):
        return None, {}
    prev = previous_as_of(lake, table, run_date)
    if prev is None:
        return None, {}
    current = lake.read(table, partitions=[run_date])
    reference = lake.read(table, partitions=[prev])
    if current.limit(1).count() == 0:
        return prev, {}
    features = numeric_features(current)
    return prev, feature_psi(reference, current, features, bins)
