"""The ranker's quality on held-out days, next to its baselines and the oracle.

Evaluation runs on a bounded sample of the held-out days: whole users are kept (a hash of
``user_id`` below a threshold), so per-user GAUC is exact for the users in the sample, and
the sample is streamed from the Delta snapshot's Parquet files with ``pyarrow`` (nothing
but the sample is materialised). Every model (the new ranker, the champion, baselines, the
oracle) scores the same rows, so their figures compare.

Random exposures (``exposure = 'random'``, e.g. KuaiRand's ``log_random``) are also scored
on their own (:data:`RANDOM_EXPOSURES`): the serving policy did not choose them, so figures on
them are free of its selection bias, the unbiased test set such logs are published for.

Metrics per binary task: ``auc_<task>``, ``gauc_<task>``, ``ece_<task>`` (calibration error by
decile); for watch time ``rmse_watch`` and ``spearman_watch`` (on the spec's watch target,
log1p seconds or watch ratio); ``mean_gauc`` over the tasks every compared model predicts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from foryou.features import columns as C
from foryou.lake.snapshot import arrow_dataset
from foryou.lake.vocabulary import EXPOSURE, RANDOM_EXPOSURE
from foryou.ranking import metrics as M
from foryou.ranking.pyfunc import WATCH_COLUMN, probability_column

Scorer = Callable[[pd.DataFrame], pd.DataFrame]
HASH_BUCKETS = 1_000_000
# The rows shown uniformly at random: the unbiased test set. The cast binds the filter to
# string and string_view files alike (see foryou.lake.snapshot.arrow_dataset).
RANDOM_EXPOSURES = ds.field(EXPOSURE).cast(pa.string()) == RANDOM_EXPOSURE


def user_sample(files: list[str], max_rows: int, columns: list[str] | None = None,
                seed: int = 0, where: ds.Expression | None = None) -> pd.DataFrame:
    """Rows of whole users from ``files``, about ``max_rows`` of them (all when fewer).

    The fraction of users kept is ``max_rows / total rows`` (total from the Parquet
    footers); a user is kept when a seeded hash of its id falls below that fraction.
    ``where`` keeps only the rows it selects, before sampling.
    """
    if not files:
        return pd.DataFrame(columns=columns or [])
    dataset = arrow_dataset(files)
    total = dataset.count_rows(filter=where)
    keep = 1.0 if total <= max_rows else max_rows / total
    parts = []
    for batch in dataset.to_batches(columns=columns, filter=where, batch_size=65536):
        frame = batch.to_pandas()
        if keep < 1.0:
            h = pd.util.hash_array(frame[C.USER_ID].astype(str).to_numpy(), hash_key=f"{seed:016d}")
            frame = frame[(h % HASH_BUCKETS) < keep * HASH_BUCKETS]
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns or [])
    return out


def random_exposures(files: list[str], max_rows: int, seed: int = 0) -> pd.DataFrame:
    """:func:`user_sample` of the rows shown uniformly at random (none in files written
    before ``exposure`` existed, or in logs that never say how an item was chosen)."""
    files = [f for f in files if EXPOSURE in ds.dataset(f, format="parquet").schema.names]
    return user_sample(files, max_rows, seed=seed, where=RANDOM_EXPOSURES)


def task_scores(frame: pd.DataFrame, preds: pd.DataFrame, tasks: list[str],
                watch: np.ndarray | None = None) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Metrics of one model's predictions on ``frame`` and its calibration tables.

    Rows where the prediction or the label is missing are left out of that task.
    """
    scores: dict[str, float] = {}
    calibration: dict[str, pd.DataFrame] = {}
    users = frame[C.USER_ID].astype(str).to_numpy()
    for task in tasks:
        col = probability_column(task)
        if col not in preds.columns or task not in frame.columns:
            continue
        p = preds[col].to_numpy(dtype=float)
        y = pd.to_numeric(frame[task], errors="coerce").to_numpy(dtype=float)
        ok = ~np.isnan(p) & ~np.isnan(y)
        if not ok.any():
            continue
        y, p = (y[ok] > 0).astype(float), p[ok]
        scores[f"auc_{task}"] = M.auc(y, p)
        scores[f"gauc_{task}"] = M.gauc(users[ok], y, p)
        table = M.calibration_table(y, p)
        calibration[task] = table
        scores[f"ece_{task}"] = M.expected_calibration_error(table)
    if watch is not None and WATCH_COLUMN in preds.columns:
        p = preds[WATCH_COLUMN].to_numpy(dtype=float)
        ok = ~np.isnan(p) & ~np.isnan(watch)
        if ok.any():
            scores["rmse_watch"] = M.rmse(watch[ok], p[ok])
            scores["spearman_watch"] = M.spearman(watch[ok], p[ok])
    return scores, calibration


@dataclass
class QualityReport:
    """Metrics per model (rows) and metric (columns), with calibration tables per model."""

    table: pd.DataFrame
    calibration: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    rows: int = 0
    users: int = 0

    def metric(self, model: str, name: str) -> float | None:
        """One figure, None when that model lacks it."""
        if model not in self.table.index or name not in self.table.columns:
            return None
        value = self.table.at[model, name]
        return None if pd.isna(value) else float(value)

    def normalised_auc(self, model: str, task: str, oracle: str = "oracle") -> float | None:
        """``(AUC - 0.5) / (AUC_oracle - 0.5)``: the share of the attainable lift achieved."""
        a, o = self.metric(model, f"auc_{task}"), self.metric(oracle, f"auc_{task}")
        if a is None or o is None or o <= 0.5:
            return None
        return (a - 0.5) / (o - 0.5)

    def figures(self, prefix: str) -> dict[str, float]:
        """Every figure as ``<prefix>.<model>.<metric>`` (MLflow metric names), NaNs left out."""
        return {f"{prefix}.{m}.{k}": v for m, row in self.table.iterrows()
                for k, v in row.items() if pd.notna(v)}

    def text(self, columns: list[str] | None = None) -> str:
        """The table as fixed-width text (AUC/GAUC columns first)."""
        cols = columns or sorted(self.table.columns, key=lambda c: (
            not c.startswith(("auc_", "gauc_", "mean_gauc")), c.split("_", 1)[-1], c))
        shown = self.table[[c for c in cols if c in self.table.columns]]
        return (f"quality on {self.rows:,} held-out rows of {self.users:,} users\n"
                + shown.to_string(float_format=lambda v: f"{v:.4f}", na_rep="-"))


def compare(frame: pd.DataFrame, scorers: dict[str, Scorer], tasks: list[str],
            watch_target: Callable[[pd.DataFrame], np.ndarray] | None = None) -> QualityReport:
    """Score ``frame`` with every scorer and tabulate :func:`task_scores` per model."""
    watch = watch_target(frame) if watch_target is not None else None
    rows, calibration = {}, {}
    for name, scorer in scorers.items():
        preds = scorer(frame)
        preds = preds.reset_index(drop=True)
        scores, tables = task_scores(frame.reset_index(drop=True), preds, tasks, watch)
        rows[name] = scores
        calibration[name] = tables
    table = pd.DataFrame.from_dict(rows, orient="index")
    # mean_gauc over the tasks every model predicts (single-task baselines may cover only
    # some), so the column compares; the oracle does not narrow it.
    models = [m for m in table.index if m != "oracle"] or list(table.index)
    common = [t for t in tasks if f"gauc_{t}" in table.columns
              and table.loc[models, f"gauc_{t}"].notna().all()]
    if common:
        table["mean_gauc"] = table[[f"gauc_{t}" for t in common]].mean(axis=1, skipna=False)
    return QualityReport(table, calibration, len(frame), int(frame[C.USER_ID].nunique()))


def watch_target_of(spec) -> Callable[[pd.DataFrame], np.ndarray] | None:
    """The spec's watch regression target computed from a frame (None without a watch head)."""
    if getattr(spec, "watch_target", "none") == "none":
        return None
    from foryou.ranking.data import watch_target

    def target(frame: pd.DataFrame) -> np.ndarray:
        cols = [c for c in (C.WATCH_MS, C.WATCH_RATIO) if c in frame.columns]
        return watch_target(pa.Table.from_pandas(frame[cols], preserve_index=False),
                            spec.watch_target)
    return target


def record(metrics, report: QualityReport, model: str = "mmoe", scope: str = "") -> None:
    """Write the report to ``gold.metrics`` (a stage run's :class:`~foryou.stages.StageResult`).

    The ranker's own figures are ``auc.<task>``, ``gauc.<task>``, ``ece.<task>``,
    ``calibration.<task>`` (detail: the decile bins), ``rmse.watch``, ``spearman.watch``,
    ``mean_gauc``; every other model's are ``<model>.<metric>`` (e.g. ``popularity.auc.click``),
    and ``normalised_auc.<task>`` when there is an oracle. ``scope`` prefixes every name
    (``unbiased.`` for the figures on random exposures, e.g. ``unbiased.auc.click``).
    """
    for name in report.table.index:
        prefix = scope + ("" if name == model else f"{name}.")
        for metric, value in report.table.loc[name].items():
            if pd.isna(value):
                continue
            kind, _, task = metric.partition("_")
            key = f"{prefix}{kind}.{task}" if task and kind != "mean" else f"{prefix}{metric}"
            metrics.record(key, float(value), "ratio" if kind != "rmse" else "target units",
                           model=name, rows=report.rows)
    for task, table in report.calibration.get(model, {}).items():
        bins = [{"predicted": float(r.predicted), "observed": float(r.observed),
                 "count": int(r.count)} for r in table.itertuples()]
        metrics.record(f"{scope}calibration.{task}", report.metric(model, f"ece_{task}"), "ece",
                       bins=bins)
    if "oracle" in report.table.index:
        for task in [c.removeprefix("auc_") for c in report.table.columns if c.startswith("auc_")]:
            value = report.normalised_auc(model, task)
            if value is not None:
                metrics.record(f"{scope}normalised_auc.{task}", value, "ratio")
