"""One user's feed from its scored candidates, and the same for every user in Spark.

Per user: relevance + exploration bonus → DPP order over item embeddings → novelty share →
creator/tag caps and the over-personalisation cap → ranks 1..N. Spark runs it per user with a
cogrouped ``applyInPandas`` (candidates and the user's history vectors grouped by user_id), so
no user is ever looped over on the driver.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.config.rerank import RerankConfig
from foryou.lake.vocabulary import CONTENT_ID, CREATOR_ID, USER_ID
from foryou.rerank import dpp, exploration, novelty
from foryou.rerank.guards import apply_caps

# Columns of the scored candidates :func:`rerank` takes (vector and tags may be null).
CANDIDATE_COLUMNS = (USER_ID, CONTENT_ID, CREATOR_ID, "source", "relevance", "tags", "vector",
                     "interests")
OUTPUT_SCHEMA = ("user_id string, rank int, content_id string, score double, source string, "
                 "creator_id string, tags array<string>")


def _matrix(vectors: pd.Series, dim: int) -> np.ndarray:
    """(n, dim) matrix; missing or wrongly sized vectors become rows of zeros."""
    fits = np.fromiter((v is not None and len(v) == dim for v in vectors), bool, len(vectors))
    out = np.zeros((len(vectors), dim))
    if fits.any():  # one copy of every fitting vector, not one per row
        out[fits] = np.stack(vectors[fits].to_numpy()).astype(np.float64, copy=False)
    return out


def _dim(*series: pd.Series) -> int:
    for s in series:
        for v in s:
            if v is not None and len(v):
                return len(v)
    return 1


def rerank_user(cands: pd.DataFrame, history: pd.Series, cfg: RerankConfig,
                seed_key: str = "") -> pd.DataFrame:
    """The ranked feed of one user.

    Args:
        cands: one row per candidate: content_id, creator_id, source, relevance, tags, vector
            and interests (the user's interest tags, strongest first; same on every row).
        history: vectors of the user's history items (may be empty).
        cfg: the ``rerank`` section.
        seed_key: seeds epsilon-greedy draws (user id and run date).

    Returns:
        content_id, rank (1..), score (relevance + exploration bonus), source, creator_id and
        tags (what the reader's in-session re-ranking needs); at most ``cfg.list_size`` rows,
        each content_id once.
    """
    cands = cands.drop_duplicates(CONTENT_ID).reset_index(drop=True)
    if cands.empty:
        return pd.DataFrame({CONTENT_ID: [], "rank": [], "score": [], "source": [], CREATOR_ID: [],
                             "tags": []})
    rel = cands["relevance"].astype(float).fillna(cands["relevance"].min() if cands["relevance"].notna().any()
                                                  else 0.0).to_numpy()
    dim = _dim(cands["vector"], history)
    vecs = _matrix(cands["vector"], dim)
    hist = _matrix(history, dim) if len(history) else np.zeros((0, dim))
    score = rel + exploration.bonus(rel, vecs, hist, cfg.exploration, seed_key)
    order = dpp.diversify(score, vecs, cfg.theta, len(cands))
    interests_raw = cands["interests"].iloc[0] if "interests" in cands else None
    interests = list(interests_raw) if interests_raw is not None else []
    known = set(interests[: cfg.interest_tags])
    tags = [list(t) if t is not None else [] for t in cands["tags"]]
    novel = [novelty.is_novel(t, known) for t in tags]
    order = novelty.inject(order, novel, len(order), cfg.novelty_share)
    creators = [c if isinstance(c, str) else None for c in cands[CREATOR_ID]]
    top = interests[0] if interests else None
    final = apply_caps(order, creators, tags, cfg.list_size, cfg.guards, top)
    return pd.DataFrame({CONTENT_ID: cands[CONTENT_ID].to_numpy()[final],
                         "rank": np.arange(1, len(final) + 1, dtype=np.int32),
                         "score": score[final],
                         "source": cands["source"].to_numpy()[final],
                         CREATOR_ID: np.array(creators, dtype=object)[final] if len(final) else [],
                         "tags": pd.Series(tags, dtype=object).to_numpy()[final] if len(final) else []})


def rerank(candidates: DataFrame, history: DataFrame, cfg: RerankConfig, seed: str = "") -> DataFrame:
    """(user_id, rank, content_id, score, source, creator_id, tags) for every user of
    ``candidates``.

    Args:
        candidates: the :data:`CANDIDATE_COLUMNS` (scored, already guarded).
        history: (user_id, vector) rows, one per history item of a user with a vector.
        cfg: the ``rerank`` section.
        seed: mixed into each user's epsilon-greedy seed (e.g. the run date).
    """
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise ValueError(f"rerank: candidates lack column(s) {missing}; need {list(CANDIDATE_COLUMNS)}")
    cands = candidates.select(*CANDIDATE_COLUMNS)
    hist = history.select(USER_ID, F.col("vector").alias("history_vector"))

    def per_user(key, left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
        user = key[0]
        if left.empty:
            return pd.DataFrame(columns=[USER_ID, "rank", CONTENT_ID, "score", "source", CREATOR_ID,
                                         "tags"])
        out = rerank_user(left, right["history_vector"], cfg, f"{user}|{seed}")
        out.insert(0, USER_ID, user)
        return out

    return (cands.groupBy(USER_ID).cogroup(hist.groupBy(USER_ID))
            .applyInPandas(per_user, OUTPUT_SCHEMA))
