"""Baselines the ranker is compared with in the same run, and the synthetic world's oracle.

Every baseline is a *scorer*: a callable taking a pandas frame of ``gold.training_examples``
rows and returning a frame with one ``p_<task>`` column per binary task it predicts (and
``pred_watch`` for watch time when it has one), row-aligned with its input.

- :class:`Popularity`: the item's smoothed click rate from the point-in-time item features
  (``item_views / item_impressions``, shrunk toward the global rate); other tasks multiply it
  by the item's per-view rate where the features have one (like, comment, share, follow,
  complete) — popularity, no personalisation.
- :class:`LogisticBaseline`: one logistic regression per binary task (and a ridge regression
  for watch time) on the model's dense features, normalised exactly as the spec does.
- :class:`GradientBoostedTrees`: LightGBM per binary task (and a regressor for watch time) on
  the same dense features (trees need no normalisation, but get the same values).
- :func:`single_task_dnns`: the same network trained with one task at a time.
- :class:`Oracle`: the generator's true probabilities per impression (``truth/impressions``,
  joined on ``request_id, position``), the ceiling of any model on a synthetic world.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from foryou.features import columns as C
from foryou.ranking.pyfunc import WATCH_COLUMN, probability_column

log = logging.getLogger(__name__)

Scorer = Callable[[pd.DataFrame], pd.DataFrame]

# Item-feature per-view rates that turn P(click) into P(task) for the popularity baseline.
POPULARITY_RATES = {"complete": "item_completion_rate", "like": "item_like_rate",
                    "comment": "item_comment_rate", "share": "item_share_rate",
                    "follow": "item_follow_rate"}
# Pseudo-impressions at the global click rate: items with few impressions are shrunk toward it.
PRIOR_IMPRESSIONS = 20.0


def _values(frame: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


class Popularity:
    """Item popularity: smoothed click rate, times the item's per-view rate for other tasks.

    Args:
        train: a sample of training rows (for the global click rate).
        tasks: the binary tasks to predict.
    """

    name = "popularity"

    def __init__(self, train: pd.DataFrame, tasks: list[str]):
        self.tasks = list(tasks)
        clicks = _values(train, "click") if "click" in train.columns else np.array([])
        clicks = clicks[~np.isnan(clicks)]
        self.global_ctr = float(clicks.mean()) if clicks.size else 0.5

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        views = np.nan_to_num(_values(frame, "item_views"), nan=0.0)
        impressions = np.nan_to_num(_values(frame, "item_impressions"), nan=0.0)
        ctr = (views + PRIOR_IMPRESSIONS * self.global_ctr) / (np.maximum(impressions, views)
                                                               + PRIOR_IMPRESSIONS)
        out = {}
        for task in self.tasks:
            rate = POPULARITY_RATES.get(task)
            if rate and rate in frame.columns:
                out[probability_column(task)] = ctr * np.nan_to_num(_values(frame, rate), nan=0.0)
            elif task == "skip":
                out[probability_column(task)] = 1.0 - ctr
            else:
                out[probability_column(task)] = ctr
        return pd.DataFrame(out, index=frame.index)


def dense_matrix(frame: pd.DataFrame, spec) -> np.ndarray:
    """The spec's dense features of ``frame``, normalised as the model sees them (NaN -> 0)."""
    x = np.empty((len(frame), len(spec.dense)), dtype=np.float64)
    for j, feature in enumerate(spec.dense):
        x[:, j] = feature.transform(_values(frame, feature.name))
    return np.nan_to_num(x, nan=0.0)


class _PerTask:
    """One classifier per binary task and one regressor for watch time, on the spec's dense
    features (normalised as the model sees them). Subclasses say which models."""

    name = ""

    def __init__(self, train: pd.DataFrame, spec, watch_target: Callable | None,
                 classifier: Callable[[], object], regressor: Callable[[], object]):
        self.spec = spec
        x = self._inputs(train)
        self.models = {}
        for task in spec.tasks:
            y = _values(train, task)
            known = ~np.isnan(y)
            labels = (y[known] > 0).astype(int)
            if np.unique(labels).size < 2:
                log.warning("%s baseline: %s has one class in the training sample", self.name, task)
                continue
            self.models[task] = classifier().fit(x[known], labels)
        self.watch = None
        if watch_target is not None:
            y = watch_target(train)
            known = ~np.isnan(y)
            if known.sum() > 1:
                self.watch = regressor().fit(x[known], y[known])

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The dense matrix with the features' names (fit and predict see the same columns)."""
        return pd.DataFrame(dense_matrix(frame, self.spec), columns=[f.name for f in self.spec.dense])

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = self._inputs(frame)
        out = {probability_column(t): m.predict_proba(x)[:, 1] for t, m in self.models.items()}
        if self.watch is not None:
            out[WATCH_COLUMN] = self.watch.predict(x)
        return pd.DataFrame(out, index=frame.index)


class LogisticBaseline(_PerTask):
    """Logistic regression per binary task (ridge for watch) on the spec's dense features.

    Args:
        train: a sample of training rows.
        spec: the ranker's feature spec (which dense features, their normalisation, tasks).
        watch_target: a function of the frame giving the watch target, or None.
    """

    name = "logistic"

    def __init__(self, train: pd.DataFrame, spec, watch_target: Callable | None = None):
        from sklearn.linear_model import LogisticRegression, Ridge

        super().__init__(train, spec, watch_target, lambda: LogisticRegression(max_iter=500),
                         lambda: Ridge(alpha=1.0))


class GradientBoostedTrees(_PerTask):
    """LightGBM per binary task (a regressor for watch time) on the spec's dense features.

    The strong tabular baseline: a multi-task network that does not beat boosted trees on the
    same features and rows has not earned its complexity. Fixed, common settings (no tuning
    on the evaluation rows): ``n_estimators`` trees of ``num_leaves`` leaves.

    Args:
        train: a sample of training rows.
        spec: the ranker's feature spec (which dense features, tasks).
        watch_target: a function of the frame giving the watch target, or None.
    """

    name = "lightgbm"

    def __init__(self, train: pd.DataFrame, spec, watch_target: Callable | None = None,
                 n_estimators: int = 300, num_leaves: int = 31, learning_rate: float = 0.05,
                 seed: int = 0):
        try:
            import lightgbm as lgb
        except ImportError as exc:  # a dev dependency (setup.py's DEV)
            raise ImportError("the lightgbm baseline needs the lightgbm package: "
                              "pip install 'lightgbm==4.6.0' (make setup installs it)") from exc

        params = dict(n_estimators=n_estimators, num_leaves=num_leaves, learning_rate=learning_rate,
                      subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                      verbose=-1)
        super().__init__(train, spec, watch_target, lambda: lgb.LGBMClassifier(**params),
                         lambda: lgb.LGBMRegressor(**params))


class _SingleTask:
    def __init__(self, task: str, model, spec):
        self.task, self.model, self.spec = task, model.eval(), spec

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        from foryou.ranking.pyfunc import frame_to_batch
        from foryou.ranking.scoring import predict

        preds = predict(self.model, frame_to_batch(frame, self.spec))
        return pd.DataFrame({probability_column(self.task): preds[self.task].numpy().astype(float)},
                            index=frame.index)


def single_task_dnns(spec, cfg, train_files: list[str], val_files: list[str], checkpoint_root,
                     tasks: list[str]) -> Scorer:
    """Train the same network once per task (that task alone) and score with all of them.

    Returns one scorer giving every trained task's ``p_<task>`` (each from its own model).
    """
    from foryou.ranking.model import MultiTaskRanker
    from foryou.ranking.train import fit

    members = []
    for task in tasks:
        if task not in spec.tasks:
            continue
        spec_t = dataclasses.replace(spec, tasks=[task], watch_target="none")
        cfg_t = cfg.model_copy(update={"tasks": [task], "watch_target": "none"})
        result = fit(spec_t, cfg_t, train_files, val_files, Path(checkpoint_root) / f"single-{task}")
        model = MultiTaskRanker(spec_t, cfg_t)
        model.load_state_dict(result.state_dict)
        members.append(_SingleTask(task, model, spec_t))

    def score(frame: pd.DataFrame) -> pd.DataFrame:
        parts = [m(frame) for m in members]
        return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)

    return score


class Oracle:
    """The world generator's true probabilities, joined on ``request_id, position``.

    Args:
        truth: the ``truth/impressions`` Parquet folder of a generated world.
        tasks: tasks to report (those the truth has a ``p_<task>`` column for).
    Rows without a truth row (sampled negatives, other worlds) get NaN and are left out of
    the oracle's metrics.
    """

    name = "oracle"

    def __init__(self, truth: str | Path, tasks: list[str]):
        import pyarrow.dataset as ds

        self.dataset = ds.dataset(str(truth), format="parquet")
        names = set(self.dataset.schema.names)
        self.tasks = [t for t in tasks if probability_column(t) in names]
        for key in (C.REQUEST_ID, C.POSITION):
            if key not in names:
                raise ValueError(f"truth impressions at {truth} lack the key column {key!r}")

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        import pyarrow.dataset as ds

        wanted = frame[C.REQUEST_ID].astype(str).unique().tolist()
        cols = [C.REQUEST_ID, C.POSITION] + [probability_column(t) for t in self.tasks]
        truth = self.dataset.to_table(
            columns=cols, filter=ds.field(C.REQUEST_ID).isin(wanted)).to_pandas()
        truth[C.POSITION] = truth[C.POSITION].astype("int64")
        keys = pd.DataFrame({C.REQUEST_ID: frame[C.REQUEST_ID].astype(str).to_numpy(),
                             C.POSITION: frame[C.POSITION].astype("int64").to_numpy()})
        merged = keys.merge(truth.drop_duplicates([C.REQUEST_ID, C.POSITION]),
                            on=[C.REQUEST_ID, C.POSITION], how="left")
        merged.index = frame.index
        return merged[[probability_column(t) for t in self.tasks]]
