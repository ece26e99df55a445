"""Exploration bonuses added to the ranker's relevance before diversification.

- **LinUCB** (Li et al., WWW 2010, the upper-confidence term of Algorithm 1): a user's design
  matrix is ``A = ridge * I + sum x x'`` over the item vectors of its history; a candidate ``x``
  gets ``alpha * sqrt(x' A^-1 x)``, large where the user's history says little (directions
  it never engaged with), small near what it already knows.
- **epsilon-greedy**: each candidate, with probability ``epsilon``, is lifted above every
  relevance score, a uniform random exploration slot.
"""
from __future__ import annotations

import zlib

import numpy as np

from foryou.config.rerank import ExplorationConfig


def _unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {v.shape}")
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def linucb_bonus(candidates: np.ndarray, history: np.ndarray, alpha: float,
                 ridge: float = 1.0) -> np.ndarray:
    """``alpha * sqrt(x' A^-1 x)`` per candidate row (vectors are unit-normalised first).

    Args:
        candidates: (n, d) candidate item vectors; a row of zeros (no vector) gets the largest
            bonus a unit vector can get, ``alpha / sqrt(ridge)``: nothing is known about it.
        history: (m, d) vectors of the user's history items (m may be 0: a new user).
        alpha: width of the confidence bound.
        ridge: the prior ``A = ridge * I``.

    Example:
        >>> linucb_bonus(np.eye(2), np.array([[1.0, 0.0]] * 3), 1.0).round(3).tolist()
        [0.5, 1.0]
    """
    x = _unit(candidates)
    if x.shape[0] == 0:
        return np.zeros(0)
    d = x.shape[1]
    h = _unit(history) if len(history) else np.zeros((0, d))
    if h.shape[1] != d:
        raise ValueError(f"history vectors have dimension {h.shape[1]}, candidates {d}")
    a_inv = np.linalg.inv(ridge * np.eye(d) + h.T @ h)
    # x' A^-1 x per row as one matrix product (BLAS), not einsum's unoptimised triple loop.
    width = np.sqrt(np.maximum(((x @ a_inv) * x).sum(axis=1), 0.0))
    missing = ~np.any(x, axis=1)
    width[missing] = 1.0 / np.sqrt(ridge)
    return alpha * width


def epsilon_bonus(relevance: np.ndarray, epsilon: float, seed_key: str, seed: int) -> np.ndarray:
    """A bonus lifting each item, with probability ``epsilon``, above every relevance score.

    Draws are seeded by ``seed_key`` (e.g. the user id and run date) so a re-run explores the
    same items.
    """
    rel = np.asarray(relevance, dtype=np.float64)
    rng = np.random.default_rng([seed, zlib.crc32(seed_key.encode())])
    lift = (rel.max() - rel.min() + 1.0) if rel.size else 0.0
    return np.where(rng.random(rel.size) < epsilon, lift, 0.0)


def bonus(relevance: np.ndarray, candidates: np.ndarray, history: np.ndarray,
          cfg: ExplorationConfig, seed_key: str) -> np.ndarray:
    """The configured exploration bonus for one user's candidates."""
    if cfg.mode == "linucb":
        return linucb_bonus(candidates, history, cfg.alpha, cfg.ridge)
    if cfg.mode == "epsilon":
        return epsilon_bonus(relevance, cfg.epsilon, seed_key, cfg.seed)
    return np.zeros(len(relevance))
