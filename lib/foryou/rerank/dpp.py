"""Diversity by a determinantal point process: greedy MAP inference with the fast
incremental-Cholesky algorithm of Chen, Zhang and Zhou, "Fast Greedy MAP Inference for
Determinantal Point Process to Improve Recommendation Diversity", NeurIPS 2018 (Algorithm 1).

The kernel is ``L = Diag(r) S Diag(r)``: ``S`` the items' similarity (cosine of their
embeddings, shifted to ``(1 + cos) / 2`` so that ``S`` is positive semi-definite), ``r`` the
relevance quality. The trade-off of the paper's eq. 12 (``theta`` on relevance, ``1 - theta`` on
diversity) becomes ``r_u = exp(alpha * s_u)`` with ``alpha = theta / (2 (1 - theta))`` and
``s_u`` the relevance standardised over the user's candidates, so theta means the same
whatever the ranker's score scale.
"""
from __future__ import annotations

import numpy as np

# A marginal gain d_j^2 below this means the item adds (numerically) nothing new.
EPS = 1e-10
# theta = 1 is "relevance only"; alpha is capped so that exp() stays finite.
MAX_ALPHA = 50.0


def similarity(vectors: np.ndarray) -> np.ndarray:
    """(n, n) PSD similarity ``(1 + cos) / 2``; a row of zeros (item without a vector) is
    similar 0.5 to everything and 1 to itself (still PSD: a non-negative diagonal is added).

    Example:
        >>> similarity(np.array([[1.0, 0.0], [0.0, 2.0]])).round(2).tolist()
        [[1.0, 0.5], [0.5, 1.0]]
    """
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    s = (1.0 + unit @ unit.T) / 2.0
    np.fill_diagonal(s, 1.0)
    return s


def standardised(relevance: np.ndarray) -> np.ndarray:
    """``relevance`` in standard deviations from its mean (all zeros when it does not vary).

    The trade-off ``theta`` must not depend on the score's units: a ranker whose feed scores
    of one user spread over 0.03 would otherwise see its relevance all but ignored at
    theta 0.7 (``exp(1.17 * 0.03)`` is 1.04), one spreading over 30 would see diversity ignored.

    Example:
        >>> standardised(np.array([1.0, 2.0, 3.0])).round(3).tolist()
        [-1.225, 0.0, 1.225]
    """
    rel = np.asarray(relevance, dtype=np.float64)
    spread = rel.std() if rel.size else 0.0
    return (rel - rel.mean()) / spread if spread > 0 else np.zeros_like(rel)


def kernel(relevance: np.ndarray, vectors: np.ndarray, theta: float) -> np.ndarray:
    """The DPP kernel ``Diag(r) S Diag(r)`` for relevance scores and item vectors.

    Args:
        relevance: (n,) scores, higher is better (any scale: standardised over the n items
            before exp(), see :func:`standardised`).
        vectors: (n, d) item embeddings (rows of zeros for items without one).
        theta: 1 ranks by relevance only, 0 by diversity only.
    """
    rel = standardised(relevance)
    if not 0.0 <= theta <= 1.0:
        raise ValueError(f"theta must lie in [0, 1], got {theta}")
    alpha = MAX_ALPHA if theta >= 1.0 else min(MAX_ALPHA, theta / (2.0 * (1.0 - theta)))
    r = np.exp(alpha * (rel - (rel.max() if rel.size else 0.0)))
    return r[:, None] * similarity(vectors) * r[None, :]


def greedy_map(L: np.ndarray, k: int) -> list[int]:
    """Indices of up to ``k`` items chosen greedily to maximise ``log det L_Y``.

    Algorithm 1 of Chen et al.: each step updates the Cholesky factor of ``L_Y`` incrementally
    (O(n k) per step, O(n k^2) in all) instead of recomputing determinants. It stops early when
    no remaining item adds a positive volume (``L`` has rank < k).

    Example:
        >>> greedy_map(np.array([[2.0, 0.0], [0.0, 1.0]]), 2)
        [0, 1]
    """
    n = L.shape[0]
    k = min(k, n)
    if k <= 0:
        return []
    cis = np.zeros((k, n))
    d2 = np.diag(L).astype(np.float64).copy()
    chosen: list[int] = []
    j = int(np.argmax(d2))
    if d2[j] < EPS:
        return chosen
    chosen.append(j)
    while len(chosen) < k:
        i = len(chosen) - 1
        e = (L[j, :] - cis[:i, j] @ cis[:i, :]) / np.sqrt(d2[j])
        cis[i, :] = e
        d2 -= e * e
        # A greedy step never picks an item twice: the pick just made leaves the race
        # (earlier picks stay at -inf, since -inf minus a finite gain is -inf).
        d2[j] = -np.inf
        j = int(np.argmax(d2))
        if d2[j] < EPS:
            break
        chosen.append(j)
    return chosen


def diversify(relevance: np.ndarray, vectors: np.ndarray, theta: float, k: int) -> list[int]:
    """An order of up to ``k`` items: the DPP's greedy picks, then (once the kernel's rank is
    spent) the remaining items by relevance, so a list is never shorter than its candidates.
    ``theta = 1`` is the relevance order.
    """
    rel = np.asarray(relevance, dtype=np.float64)
    k = min(k, rel.size)
    if theta >= 1.0:  # no weight on diversity: the relevance order itself
        return [int(i) for i in np.argsort(-rel, kind="stable")[:k]]
    picked = greedy_map(kernel(rel, vectors, theta), k)
    if len(picked) < k:
        taken = set(picked)
        rest = [int(i) for i in np.argsort(-rel, kind="stable") if int(i) not in taken]
        picked += rest[: k - len(picked)]
    return picked
