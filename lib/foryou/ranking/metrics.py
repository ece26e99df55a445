"""Ranker metrics: AUC, GAUC, RMSE, Spearman and calibration by decile.

The numpy/pandas functions work on one in-memory sample (a held-out day of a small world, a
test). :func:`spark_gauc` computes GAUC where the scored frame is big: one AUC per user in
``applyInPandas``, only the per-user (auc, impressions) pairs are aggregated.

AUC is the Mann-Whitney statistic with tied scores counted half (average ranks), so a
constant predictor scores exactly 0.5. AUC is undefined when the labels hold one class: the
functions return NaN then, and GAUC skips such users (the usual definition, as in the
Deep Interest Network paper's "user-weighted AUC").
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr


def auc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels``; NaN for one class.

    Example:
        >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError(f"auc: labels {y.shape} and scores {s.shape} differ in shape")
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(s)  # average ranks: ties count half
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gauc(users, labels, scores) -> float:
    """Per-user AUC weighted by the user's impressions; users with one class are skipped.

    NaN when no user has both classes.

    Example:
        >>> gauc(["a", "a", "b", "b", "c"], [0, 1, 1, 0, 1], [0.1, 0.9, 0.2, 0.8, 0.5])
        0.5
    """
    frame = pd.DataFrame({"u": np.asarray(users), "y": np.asarray(labels, dtype=float),
                          "s": np.asarray(scores, dtype=float)})
    total, weight = 0.0, 0
    for _, g in frame.groupby("u", sort=False):
        value = auc(g["y"].to_numpy(), g["s"].to_numpy())
        if not math.isnan(value):
            total += value * len(g)
            weight += len(g)
    return total / weight if weight else math.nan


def rmse(targets, predictions) -> float:
    """Root mean squared error."""
    t = np.asarray(targets, dtype=float)
    p = np.asarray(predictions, dtype=float)
    return float(np.sqrt(np.mean((t - p) ** 2))) if t.size else math.nan


def spearman(targets, predictions) -> float:
    """Spearman rank correlation; NaN when either side is constant."""
    t = np.asarray(targets, dtype=float)
    p = np.asarray(predictions, dtype=float)
    if t.size < 2 or np.all(t == t[0]) or np.all(p == p[0]):
        return math.nan
    return float(spearmanr(t, p).statistic)


def calibration_table(labels, probabilities, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed rate per quantile bin of the prediction.

    Returns a frame ``bin, predicted, observed, count`` (deciles by default; fewer rows when
    predictions tie across quantile edges).
    """
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if y.size == 0:
        return pd.DataFrame(columns=["bin", "predicted", "observed", "count"])
    order = np.argsort(p, kind="stable")
    groups = np.empty(len(p), dtype=int)
    groups[order] = np.arange(len(p)) * bins // len(p)
    frame = pd.DataFrame({"bin": groups, "p": p, "y": y})
    out = frame.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"),
                                   count=("y", "size")).reset_index()
    return out


def expected_calibration_error(table: pd.DataFrame) -> float:
    """Count-weighted mean |predicted - observed| over the rows of :func:`calibration_table`."""
    if table.empty:
        return math.nan
    w = table["count"].to_numpy(dtype=float)
    return float(np.sum(w * np.abs(table["predicted"] - table["observed"])) / w.sum())


def spark_gauc(df, user_col: str, label_col: str, score_col: str) -> float:
    """GAUC of a Spark frame: per-user AUC in ``applyInPandas``, weighted by impressions.

    Nothing but one (auc, impressions) row per user with both classes reaches the driver's
    final aggregate, which Spark computes.
    """
    from pyspark.sql import functions as F

    def per_user(pdf: pd.DataFrame) -> pd.DataFrame:
        value = auc(pdf[label_col].to_numpy(), pdf[score_col].to_numpy())
        if math.isnan(value):
            return pd.DataFrame({"auc": [], "n": []}).astype({"auc": float, "n": "int64"})
        return pd.DataFrame({"auc": [value], "n": [len(pdf)]})

    per = (df.select(user_col, F.col(label_col).cast("double").alias(label_col),
                     F.col(score_col).cast("double").alias(score_col))
           .groupBy(user_col).applyInPandas(per_user, "auc double, n long"))
    row = per.agg(F.sum(F.col("auc") * F.col("n")).alias("num"), F.sum("n").alias("den")).first()
    return float(row["num"] / row["den"]) if row and row["den"] else math.nan
