"""The multi-task Mixture-of-Experts ranker: feature spec, data, model, training, scoring.

Public API (H2's registry/evaluation, rerank and notebooks build on it):

- :class:`FeatureSpec` (``spec``): the model's inputs and normalisation, JSON round trip;
- ``data``: :func:`example_files`, :func:`split_dates`, :func:`iter_batches`;
- :class:`MultiTaskRanker` (``model``): MMoE / PLE, bias tower, ``gate_weights``;
- :func:`fit` / :class:`FitResult` (``train``) and :func:`train_distributed` (``distributed``);
- :func:`predict` and :func:`feed_score` (``scoring``, which also scores Spark frames and the
  candidate pool with the champion).
"""
from foryou.config.ranking import BINARY_TASKS, WATCH_TASK, RankingConfig
from foryou.ranking.data import MissingColumnError, example_files, iter_batches, split_dates
from foryou.ranking.distributed import train_distributed
from foryou.ranking.model import MultiTaskRanker, gate_health
from foryou.ranking.scoring import feed_score, predict
from foryou.ranking.spec import FeatureSpec
from foryou.ranking.train import FitResult, fit

__all__ = [
    "BINARY_TASKS", "WATCH_TASK", "FeatureSpec", "FitResult", "MissingColumnError",
    "MultiTaskRanker", "RankingConfig", "example_files", "feed_score", "fit", "gate_health",
    "iter_batches", "predict", "split_dates", "train_distributed",
]
