"""One user's feed from its scored candidates, and the same for every user in Spark.

Per user: relevance + exploration bonus → DPP order over item embeddings → novelty share →
creator/tag caps and the over-personalisation cap → ranks 1..N (:func:`feed_order`). Spark runs
it per user with a cogrouped ``applyInArrow`` (the user's candidates, one row each, and the
user's own inputs, one row: history vectors and interest tags), so no user is ever looped over
on the driver. The per-user inputs are read
straight from the Arrow tables (vectors as one reshaped buffer) and the feed is written back as
Arrow ``take`` calls on the candidates' columns: a pandas frame per group cost more than the rerank
itself. :func:`rerank_user` is the same feed from pandas (the multi-day evaluation re-exports
with it, one simulated day at a time).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (ArrayType, DoubleType, IntegerType, StringType, StructField,
                               StructType)

from foryou.config.rerank import RerankConfig
from foryou.lake.vocabulary import CONTENT_ID, CREATOR_ID, USER_ID
from foryou.rerank import dpp, exploration, novelty
from foryou.rerank.guards import apply_caps

# Columns of the scored candidates :func:`rerank` takes (vector and tags may be null).
CANDIDATE_COLUMNS = (USER_ID, CONTENT_ID, CREATOR_ID, "source", "relevance", "tags", "vector")
# Columns of the per-user side :func:`rerank` takes, one row per user (either may be null): the
# vectors of the user's history items and the user's interest tags, strongest first. Kept off
# the candidate rows: on every row they crossed the join and the shuffle once per candidate.
USER_COLUMNS = (USER_ID, "history", "interests")
OUTPUT_SCHEMA = StructType([
    StructField(USER_ID, StringType()), StructField("rank", IntegerType()),
    StructField(CONTENT_ID, StringType()), StructField("score", DoubleType()),
    StructField("source", StringType()), StructField(CREATOR_ID, StringType()),
    StructField("tags", ArrayType(StringType()))])
# The Arrow types Spark's cogrouped Arrow UDF checks a result against (it converts with UTC).
ARROW_OUTPUT_SCHEMA = to_arrow_schema(OUTPUT_SCHEMA, timezone="UTC")


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


def _arrow_lengths(vectors: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Each list's length, 0 for a null list."""
    return pc.list_value_length(vectors).fill_null(0).to_numpy(zero_copy_only=False)


def _arrow_matrix(vectors: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    """:func:`_matrix` of an Arrow list column, read from its flat values buffer: the fitting
    rows are gathered by offset in one step instead of one numpy array per row."""
    lengths = _arrow_lengths(vectors)
    out = np.zeros((len(lengths), dim))
    fits = lengths == dim
    if fits.any():
        flat = vectors.combine_chunks() if isinstance(vectors, pa.ChunkedArray) else vectors
        values = flat.flatten().to_numpy(zero_copy_only=False)  # non-null lists, in row order
        starts = np.cumsum(lengths) - lengths
        out[fits] = values[starts[fits, None] + np.arange(dim)]
    return out


def _arrow_dim(*columns: pa.ChunkedArray | pa.Array) -> int:
    for column in columns:
        lengths = _arrow_lengths(column)
        nonzero = np.flatnonzero(lengths)
        if nonzero.size:
            return int(lengths[nonzero[0]])
    return 1


def feed_order(relevance: np.ndarray, vectors: np.ndarray, history: np.ndarray,
               tags: Sequence[Sequence[str]], creators: Sequence[str | None],
               interests: Sequence[str], cfg: RerankConfig, seed_key: str = ""
               ) -> tuple[list[int], np.ndarray]:
    """The feed of one user as positions among its candidates, and every candidate's score.

    Args:
        relevance: (n,) the ranker's scores, NaN where missing (then the user's lowest score).
        vectors: (n, d) candidate item vectors, rows of zeros where there is none.
        history: (m, d) vectors of the user's history items (m may be 0).
        tags: each candidate's tags ([] for none).
        creators: each candidate's creator (None for unknown).
        interests: the user's interest tags, strongest first.
        cfg: the ``rerank`` section.
        seed_key: seeds epsilon-greedy draws (user id and run date).

    Returns:
        The feed's candidate positions in rank order (at most ``cfg.list_size``), and the
        (n,) scores: relevance + exploration bonus.
    """
    rel = np.asarray(relevance, dtype=np.float64)
    missing = np.isnan(rel)
    if missing.any():
        rel = np.where(missing, rel[~missing].min() if not missing.all() else 0.0, rel)
    score = rel + exploration.bonus(rel, vectors, history, cfg.exploration, seed_key)
    order = dpp.diversify(score, vectors, cfg.theta, len(rel))
    known = set(interests[: cfg.interest_tags])
    novel = [novelty.is_novel(t, known) for t in tags]
    order = novelty.inject(order, novel, len(order), cfg.novelty_share)
    top = interests[0] if len(interests) else None
    return apply_caps(order, creators, tags, cfg.list_size, cfg.guards, top), score


def rerank_user(cands: pd.DataFrame, history: pd.Series, interests: Sequence[str] | None,
                cfg: RerankConfig, seed_key: str = "") -> pd.DataFrame:
    """The ranked feed of one user, from pandas (what Spark's :func:`rerank` computes per user).

    Args:
        cands: one row per candidate: content_id, creator_id, source, relevance, tags, vector.
        history: vectors of the user's history items (may be empty).
        interests: the user's interest tags, strongest first (None: none).
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
    dim = _dim(cands["vector"], history)
    tags = [list(t) if t is not None else [] for t in cands["tags"]]
    creators = [c if isinstance(c, str) else None for c in cands[CREATOR_ID]]
    final, score = feed_order(
        cands["relevance"].astype(float).to_numpy(), _matrix(cands["vector"], dim),
        _matrix(history, dim) if len(history) else np.zeros((0, dim)), tags, creators,
        list(interests) if interests is not None else [], cfg, seed_key)
    return pd.DataFrame({CONTENT_ID: cands[CONTENT_ID].to_numpy()[final],
                         "rank": np.arange(1, len(final) + 1, dtype=np.int32),
                         "score": score[final],
                         "source": cands["source"].to_numpy()[final],
                         CREATOR_ID: np.array(creators, dtype=object)[final] if len(final) else [],
                         "tags": pd.Series(tags, dtype=object).to_numpy()[final] if len(final) else []})


def rerank_table(user: str, cands: pa.Table, history: pa.ChunkedArray | pa.Array,
                 interests: Sequence[str], cfg: RerankConfig, seed_key: str = "") -> pa.Table:
    """:func:`rerank_user` on Arrow: one user's candidates (:data:`CANDIDATE_COLUMNS`), history
    vectors (a list<float> array) and interests in, its feed out as
    :data:`ARROW_OUTPUT_SCHEMA` (user_id first)."""
    if cands.num_rows == 0:
        return ARROW_OUTPUT_SCHEMA.empty_table()
    ids = cands.column(CONTENT_ID).to_numpy(zero_copy_only=False)
    repeated = pd.Index(ids).duplicated()
    if repeated.any():  # each content_id once, its first row kept (as drop_duplicates does)
        cands = cands.take(np.flatnonzero(~repeated))
    vector = cands.column("vector")
    dim = _arrow_dim(vector, history)
    tags = [t or [] for t in cands.column("tags").to_pylist()]
    final, score = feed_order(
        cands.column("relevance").to_numpy(zero_copy_only=False).astype(np.float64),
        _arrow_matrix(vector, dim), _arrow_matrix(history, dim), tags,
        cands.column(CREATOR_ID).to_pylist(), list(interests), cfg, seed_key)
    rows = pa.array(np.asarray(final, dtype=np.int64))
    columns = {USER_ID: pa.array([user] * len(final), pa.string()),
               "rank": pa.array(np.arange(1, len(final) + 1, dtype=np.int32)),
               "score": pa.array(score[final], pa.float64()),
               "tags": pa.array([tags[i] for i in final], pa.list_(pa.string()))}  # null → []
    for name in (CONTENT_ID, "source", CREATOR_ID):
        columns[name] = cands.column(name).take(rows)
    return pa.Table.from_arrays([columns[f.name].cast(f.type) for f in ARROW_OUTPUT_SCHEMA],
                                schema=ARROW_OUTPUT_SCHEMA)


def user_inputs(side: pa.Table) -> tuple[pa.Array, list[str]]:
    """A user's history vectors (a list<float> array) and interests from its rows of the
    per-user side (:data:`USER_COLUMNS`; no row or nulls: none)."""
    if side.num_rows == 0:
        return pa.array([], pa.list_(pa.float32())), []
    history = side.column("history").combine_chunks()[:1].flatten()  # the first row's vectors
    return history, side.column("interests")[0].as_py() or []


def rerank(candidates: DataFrame, users: DataFrame, cfg: RerankConfig, seed: str = "") -> DataFrame:
    """(user_id, rank, content_id, score, source, creator_id, tags) for every user of
    ``candidates``.

    Args:
        candidates: the :data:`CANDIDATE_COLUMNS` (scored, already guarded).
        users: the :data:`USER_COLUMNS`, one row per user (users without one have no history
            and no interests).
        cfg: the ``rerank`` section.
        seed: mixed into each user's epsilon-greedy seed (e.g. the run date).
    """
    for frame, columns, what in ((candidates, CANDIDATE_COLUMNS, "candidates"), (users, USER_COLUMNS, "users")):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"rerank: {what} lack column(s) {missing}; need {list(columns)}")

    def per_user(key: tuple, left: pa.Table, right: pa.Table) -> pa.Table:
        user = key[0].as_py()
        history, interests = user_inputs(right)
        return rerank_table(user, left, history, interests, cfg, f"{user}|{seed}")

    return (candidates.select(*CANDIDATE_COLUMNS).groupBy(USER_ID)
            .cogroup(users.select(*USER_COLUMNS).groupBy(USER_ID))
            .applyInArrow(per_user, OUTPUT_SCHEMA))
