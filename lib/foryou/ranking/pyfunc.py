"""The ranker as an MLflow pyfunc model.

:class:`RankerPyfunc` wraps the trained torch model with its feature spec. ``predict`` takes a
pandas frame of ``gold.training_examples`` columns (labels may be absent) and returns one
``p_<task>`` probability column per binary head, ``pred_watch`` (the watch head in the
target's units: log1p seconds or watch ratio, see ``foryou.ranking.data.watch_target``) and
the feed ``score``, computed by :mod:`foryou.ranking.scoring` (where Spark frames and the
candidate pool are scored with it). The bias tower is never used here: this is serving.

The model's inputs are built from Arrow (``foryou.ranking.data.prepare``, as in training).
``predict`` converts its pandas frame to Arrow once; Spark's batch scoring calls
:meth:`RankerPyfunc.predict_arrow` on the Arrow batches it already has, so list columns (tags,
recent items) never become pandas objects on the export's hot path.
"""
from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

WATCH_COLUMN = "pred_watch"
SCORE_COLUMN = "score"
FATIGUE_COLUMN = "fatigue"


def probability_column(task: str) -> str:
    return f"p_{task}"


def label_columns(spec) -> list[str]:
    """The example columns that are labels to the model: absent at serving, nulls to it."""
    from foryou.features import columns as C

    return [*spec.tasks, C.WATCH_MS, C.WATCH_RATIO]


def table_to_batch(table: pa.Table | pa.RecordBatch, spec) -> dict:
    """Arrow rows of example columns to the model's tensor batch (labels may be absent).

    Uses ``foryou.ranking.data.prepare``, the same conversion training uses, so serving and
    training see identical inputs; absent label columns are added as nulls first.
    """
    import torch

    from foryou.ranking.data import prepare

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    for name in label_columns(spec):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.float64()))
    arrays = prepare(table, spec)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def frame_to_batch(pdf: pd.DataFrame, spec) -> dict:
    """A pandas frame of example columns to the model's tensor batch (:func:`table_to_batch`)."""
    return table_to_batch(pa.Table.from_pandas(pdf, preserve_index=False), spec)


# Rankers registered before ``predict_arrow`` were pickled with these two functions as
# attributes (``predict_fn``, ``score_fn``): unpickling them looks the names up here, so they
# stay, although nothing in this version calls them through those attributes.
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
    """

    def __init__(self, model, spec, tasks: list[str], weights: dict[str, float],
                 has_watch: bool = True):
        self.model = model.eval()
        self.spec = spec
        self.tasks = list(tasks)
        self.weights = dict(weights)
        self.has_watch = has_watch

    def output_columns(self) -> list[str]:
        """The columns ``predict`` returns, in order."""
        return ([probability_column(t) for t in self.tasks]
                + ([WATCH_COLUMN] if self.has_watch else []) + [SCORE_COLUMN])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
                ) -> pd.DataFrame:
        """:meth:`output_columns` for each row of a pandas frame of example columns."""
        out = self.predict_arrow(pa.Table.from_pandas(model_input, preserve_index=False))
        return pd.DataFrame(out, index=range(len(model_input)))[self.output_columns()]

    def predict_arrow(self, rows: pa.Table | pa.RecordBatch) -> dict[str, np.ndarray]:
        """:meth:`output_columns` (float64 arrays, in that order) for Arrow rows of example
        columns: what Spark's batch scoring calls on the batches it already holds."""
        import torch

        from foryou.ranking.scoring import feed_score, predict

        if rows.num_rows == 0:
            return {c: np.empty(0) for c in self.output_columns()}
        batch = table_to_batch(rows, self.spec)
        with torch.no_grad():
            preds = predict(self.model, batch)
            if FATIGUE_COLUMN in rows.schema.names:
                fatigue = pc.fill_null(rows.column(FATIGUE_COLUMN), 0).to_numpy(zero_copy_only=False)
                fatigue = torch.as_tensor(np.asarray(fatigue, dtype=np.float32))
            else:
                fatigue = torch.zeros(rows.num_rows)
            score = feed_score(preds, self.weights, fatigue)
        out = {probability_column(t): _numpy(preds[t]) for t in self.tasks}
        if self.has_watch:
            # scoring.predict gives "watch" in (0, 1) for the feed score and the target units
            # (log1p seconds or ratio) as "watch_target": the latter is what RMSE compares.
            out[WATCH_COLUMN] = _numpy(preds.get("watch_target", preds["watch"]))
        out[SCORE_COLUMN] = _numpy(score)
        return {c: out[c] for c in self.output_columns()}


def ranker_pyfunc(model, spec, cfg) -> RankerPyfunc:
    """The pyfunc of a trained ``MultiTaskRanker`` (heads from ``spec``, weights from ``cfg``)."""
    return RankerPyfunc(model, spec, spec.tasks, cfg.score_weights, "watch" in spec.heads)


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64).reshape(-1)
