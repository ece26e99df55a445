"""The ranker as an MLflow pyfunc model.

:class:`RankerPyfunc` wraps the trained torch model with its feature spec. ``predict`` takes a
pandas frame of ``gold.training_examples`` columns (labels may be absent) and returns one
``p_<task>`` probability column per binary head, ``pred_watch`` (the watch head in the
target's units: log1p seconds or watch ratio, see ``foryou.ranking.data.watch_target``) and
the feed ``score``, computed by :mod:`foryou.ranking.scoring` (where Spark frames and the
candidate pool are scored with it). The bias tower is never used here: this is serving.
"""
from __future__ import annotations

from typing import Any, Callable

import mlflow.pyfunc
import numpy as np
import pandas as pd

WATCH_COLUMN = "pred_watch"
SCORE_COLUMN = "score"
FATIGUE_COLUMN = "fatigue"


def probability_column(task: str) -> str:
    return f"p_{task}"


def frame_to_batch(pdf: pd.DataFrame, spec) -> dict:
    """A pandas frame of example columns to the model's tensor batch (labels may be absent).

    Uses ``foryou.ranking.data.prepare``, the same conversion training uses, so serving and
    training see identical inputs; absent label columns are added as nulls first.
    """
    import pyarrow as pa
    import torch

    from foryou.features import columns as C
    from foryou.ranking.data import prepare

    frame = pdf
    for name in [*spec.tasks, C.WATCH_MS, C.WATCH_RATIO]:
        if name not in frame.columns:
            frame = frame.assign(**{name: pd.Series(np.nan, index=frame.index, dtype="float64")})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    arrays = prepare(table, spec)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def _default_predict(model, batch) -> dict:
    from foryou.ranking.scoring import predict

    return predict(model, batch)


def _default_score(preds, weights, fatigue):
    from foryou.ranking.scoring import feed_score

    return feed_score(preds, weights, fatigue)


class RankerPyfunc(mlflow.pyfunc.PythonModel):
    """An MLflow pyfunc around the torch ranker.

    Args:
        model: the torch module (``forward(batch, serving=True)``); kept in eval mode.
        spec: the feature spec (``to_json()`` is logged beside it as an artifact).
        tasks: the binary heads, in output order; ``watch`` adds ``pred_watch``.
        weights: feed-score weights (``ranking.score_weights``).
        to_batch, predict_fn, score_fn: the conversion and scoring steps; the defaults are
            the training code's (``data.prepare``, ``scoring.predict``, ``scoring.feed_score``).
            They exist so a test can wrap a tiny model of its own.
    """

    def __init__(self, model, spec, tasks: list[str], weights: dict[str, float],
                 has_watch: bool = True, to_batch: Callable | None = None,
                 predict_fn: Callable | None = None, score_fn: Callable | None = None):
        self.model = model.eval()
        self.spec = spec
        self.tasks = list(tasks)
        self.weights = dict(weights)
        self.has_watch = has_watch
        self.to_batch = to_batch or frame_to_batch
        self.predict_fn = predict_fn or _default_predict
        self.score_fn = score_fn or _default_score

    def output_columns(self) -> list[str]:
        """The columns ``predict`` returns, in order."""
        return ([probability_column(t) for t in self.tasks]
                + ([WATCH_COLUMN] if self.has_watch else []) + [SCORE_COLUMN])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
                ) -> pd.DataFrame:
        import torch

        if len(model_input) == 0:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in self.output_columns()})
        batch = self.to_batch(model_input, self.spec)
        with torch.no_grad():
            preds = self.predict_fn(self.model, batch)
            if FATIGUE_COLUMN in model_input.columns:
                fatigue = torch.as_tensor(model_input[FATIGUE_COLUMN].fillna(0).to_numpy(np.float32))
            else:
                fatigue = torch.zeros(len(model_input))
            score = self.score_fn(preds, self.weights, fatigue)
        out = {probability_column(t): _numpy(preds[t]) for t in self.tasks}
        if self.has_watch:
            # scoring.predict gives "watch" in (0, 1) for the feed score and the target units
            # (log1p seconds or ratio) as "watch_target": the latter is what RMSE compares.
            out[WATCH_COLUMN] = _numpy(preds.get("watch_target", preds["watch"]))
        out[SCORE_COLUMN] = _numpy(score)
        return pd.DataFrame(out, index=range(len(model_input)))[self.output_columns()]


def ranker_pyfunc(model, spec, cfg) -> RankerPyfunc:
    """The pyfunc of a trained ``MultiTaskRanker`` (heads from ``spec``, weights from ``cfg``)."""
    return RankerPyfunc(model, spec, spec.tasks, cfg.score_weights, "watch" in spec.heads)


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64).reshape(-1)
