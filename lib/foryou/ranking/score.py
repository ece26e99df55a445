"""Serving-time predictions and the final feed score."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from foryou.config.ranking import WATCH_TASK

FATIGUE = "fatigue"


@torch.no_grad()
def predict(model, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Serving predictions (no bias tower): P(label) per binary head; ``watch`` is
    sigmoid(standardised watch prediction), in (0, 1) with 0.5 = the training mean; and
    ``watch_target`` is the prediction in the spec's target units (log1p seconds or ratio).

    Example:
        >>> preds = predict(model, batch)        # doctest: +SKIP
        >>> float(preds["click"].min()) >= 0
        True
    """
    model = getattr(model, "module", model)
    was_training = model.training
    model.eval()
    logits = model(batch, serving=True)
    model.train(was_training)
    preds = {h: torch.sigmoid(v) for h, v in logits.items()}
    if WATCH_TASK in logits:
        spec = model.spec
        preds[f"{WATCH_TASK}_target"] = logits[WATCH_TASK] * spec.watch_std + spec.watch_mean
    return preds


def feed_score(preds: Mapping, weights: Mapping[str, float], fatigue=None):
    """The weighted combination of heads that orders the feed.

    ``score = sum_h weights[h] * preds[h] + weights["fatigue"] * fatigue``; heads the model
    lacks (skipped tasks) contribute nothing; ``fatigue`` (the user's exposure to that
    creator/tag in the session, e.g. earlier items of that creator) defaults to 0. Works on
    torch tensors and numpy arrays alike.

    Args:
        preds: output of :func:`predict` (or arrays per head).
        weights: ``ranking.score_weights`` (defaults: watch 0.40, complete 0.20, long_view
            0.15, like 0.15, skip -0.05, fatigue -0.05).
        fatigue: per-row exposure, same shape as the predictions.
    """
    score = None
    for head, weight in weights.items():
        if head == FATIGUE or head not in preds:
            continue
        term = weight * preds[head]
        score = term if score is None else score + term
    if score is None:
        raise ValueError(f"no head of {sorted(weights)} is in the predictions {sorted(preds)}")
    if fatigue is not None and weights.get(FATIGUE):
        if isinstance(score, torch.Tensor) and not isinstance(fatigue, torch.Tensor):
            fatigue = torch.as_tensor(np.asarray(fatigue), dtype=score.dtype)
        score = score + weights[FATIGUE] * fatigue
    return score
