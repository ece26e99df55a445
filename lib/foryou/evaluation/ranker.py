"""The ranker's offline figures as the train-ranker run recorded them in ``gold.metrics``.

Read, not recomputed: ``foryou train-ranker`` evaluates on its held-out split and records,
per task, ``auc.<task>``, ``gauc.<task>``, ``calibration.<task>`` (detail: the reliability
bins) and ``gate_utilisation.<task>`` (detail: the mean gate weight per expert); with random
exposures in its held-out days, the same figures on them alone as ``unbiased.auc.<task>``,
... The parsers accept the detail shapes below, so a format change shows up as a skipped
report section, not a crash:

- calibration detail: ``{"bins": [{"predicted": p, "observed": o, "count": n}, ...]}`` or
  ``{"predicted": [...], "observed": [...], "count": [...]}`` (``mean_pred``/``mean_label``
  are accepted for predicted/observed);
- gate detail: ``{"experts": [w0, w1, ...]}`` (or ``utilisation``/``weights``), or one row per
  expert named ``gate_utilisation.<task>.<expert>``.
"""
from __future__ import annotations

import json

import pandas as pd

STAGE = "train-ranker"
_PRED = ("predicted", "mean_pred", "mean_prediction", "pred")
_OBS = ("observed", "mean_label", "label_rate", "actual")
_EXPERTS = ("experts", "utilisation", "utilization", "weights")


def _first(d: dict, keys) -> object:
    for k in keys:
        if k in d:
            return d[k]
    return None


def latest_run(history: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest train-ranker run date in ``history``."""
    rows = history[history["stage"] == STAGE]
    return rows[rows["run_date"] == rows["run_date"].max()] if not rows.empty else rows


def scores(rows: pd.DataFrame) -> dict[str, float]:
    """``{"auc.<task>": v, "gauc.<task>": v, ..., "unbiased.auc.<task>": v, ...}`` of a
    train-ranker run."""
    keep = rows[rows["name"].str.match(r"^(unbiased\.)?(auc|gauc|logloss|rmse|ece)\.")]
    return {r.name: float(r.value) for r in keep.itertuples() if r.value is not None}


def calibration_curves(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{task: DataFrame(predicted, observed, count)}`` from ``calibration.<task>`` rows."""
    out = {}
    for r in rows[rows["name"].str.startswith("calibration.")].itertuples():
        try:
            d = json.loads(r.detail or "{}")
        except ValueError:
            continue
        bins = d.get("bins")
        if isinstance(bins, list) and bins and isinstance(bins[0], dict):
            frame = pd.DataFrame({"predicted": [_first(b, _PRED) for b in bins],
                                  "observed": [_first(b, _OBS) for b in bins],
                                  "count": [b.get("count", 1) for b in bins]})
        elif _first(d, _PRED) is not None and _first(d, _OBS) is not None:
            pred, obs = _first(d, _PRED), _first(d, _OBS)
            frame = pd.DataFrame({"predicted": pred, "observed": obs,
                                  "count": d.get("count", [1] * len(pred))})
        else:
            continue
        out[r.name.split(".", 1)[1]] = frame.dropna()
    return out


def gate_utilisation(rows: pd.DataFrame) -> dict[str, list[float]]:
    """``{task: [mean gate weight of expert 0, 1, ...]}`` from ``gate_utilisation.*`` rows."""
    out: dict[str, dict[str, float]] = {}
    lists: dict[str, list[float]] = {}
    for r in rows[rows["name"].str.startswith("gate_utilisation.")].itertuples():
        parts = r.name.split(".")
        if len(parts) >= 3:
            out.setdefault(parts[1], {})[".".join(parts[2:])] = float(r.value)
            continue
        try:
            weights = _first(json.loads(r.detail or "{}"), _EXPERTS)
        except ValueError:
            weights = None
        if isinstance(weights, dict):
            weights = list(weights.values())
        if isinstance(weights, list) and weights:
            lists[parts[1]] = [float(w) for w in weights]
    for task, experts in out.items():
        lists.setdefault(task, [experts[k] for k in sorted(experts)])
    return lists
