"""FAISS ANN: the index kind follows the catalogue size, approximate indexes keep recall, and
the batched executor-side search returns exactly what one process searching the same index does."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from foryou.candidates.ann import (
    FLAT, HNSW, IVF, ann_candidates, build_index, candidate_rows, index_bytes, index_kind, item_matrix, ivf_lists,
    search, search_tasks, write_index,
)
from foryou.config.embeddings import AnnConfig


def clustered(n: int, d: int, centres: int, seed: int) -> np.ndarray:
    """Vectors around a few centres, like item factors of a catalogue with genres."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d))
    return (c[rng.integers(0, centres, n)] + 0.3 * rng.normal(size=(n, d))).astype("float32")


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)]))


def test_index_kind_follows_catalogue_size():
    cfg = AnnConfig(exact_max_items=1000)
    assert index_kind(1000, cfg) == FLAT and index_kind(1001, cfg) == IVF
    assert index_kind(1001, cfg.model_copy(update={"kind": "hnsw"})) == HNSW
    items = clustered(2000, 16, 8, 0)
    assert isinstance(build_index(items[:500], cfg), faiss.IndexFlatIP)
    ivf = build_index(items, cfg)
    assert isinstance(ivf, faiss.IndexIVFFlat) and ivf.nlist == ivf_lists(2000, cfg) and ivf.ntotal == 2000
    assert isinstance(build_index(items, cfg.model_copy(update={"kind": "hnsw"})), faiss.IndexHNSWFlat)
    assert ivf_lists(2000, AnnConfig(nlist=10_000)) == 2000 // 39  # never more cells than data allows
    with pytest.raises(ValueError, match="non-empty"):
        build_index(np.zeros((0, 8), "float32"))
    with pytest.raises(ValueError, match="item row 3"):
        build_index(np.where(np.arange(40)[:, None] == 3, np.nan, 1.0).astype("float32"))


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype("float32")


# IVF on a clustered catalogue (its cells follow the clusters); HNSW on spread-out vectors
# (tight clusters of near-duplicates are HNSW's known weak spot under inner product).
@pytest.mark.parametrize("kind,items,users", [
    ("ivf", clustered(20_000, 32, 50, 1), clustered(300, 32, 50, 2)),
    ("hnsw", gaussian(5_000, 32, 1), gaussian(300, 32, 2)),
])
def test_approximate_index_recall_against_exact(kind, items, users):
    cfg = AnnConfig(exact_max_items=1000, kind=kind)
    _, exact = search(build_index(items), users, 100)
    _, approx = search(build_index(items, cfg), users, 100)
    assert recall(approx, exact) >= 0.95


@pytest.fixture(scope="module")
def catalogue():
    items = clustered(3000, 16, 20, 3)
    users = clustered(150, 16, 20, 4)
    ids = np.array([f"item{i:05d}" for i in range(len(items))])
    return items, users, ids


def single_process(index, users, ids, k):
    scores, rows = search(index, users, k)
    return {f"user{u}": [(ids[r], s) for r, s in zip(rows[u], scores[u])] for u in range(len(users))}


def distributed(spark, index, users, ids, k, **kwargs):
    frame = spark.createDataFrame([(f"user{u}", users[u].tolist()) for u in range(len(users))],
                                  "user_id string, vector array<float>").repartition(3)
    found = candidate_rows(ann_candidates(spark, frame, index, ids.tolist(), k, **kwargs)).toPandas()
    assert not found.duplicated(["user_id", "content_id"]).any()
    found = found.sort_values(["user_id", "rank"])
    return {u: list(zip(g["content_id"], g["score"])) for u, g in found.groupby("user_id")}, found


@pytest.mark.parametrize("shipping", ["broadcast", "bytes", "file"])
def test_executor_search_equals_single_process(spark, catalogue, tmp_path, shipping):
    items, users, ids = catalogue
    index = build_index(items, AnnConfig(exact_max_items=100, nprobe=4))  # IVF: results depend on nprobe
    shipped = {"broadcast": index, "bytes": index_bytes(index),
               "file": write_index(index, str(tmp_path / "items.faiss"))}[shipping]
    got, frame = distributed(spark, shipped, users, ids, 25, batch_size=7)
    want = single_process(index, users, ids, 25)
    assert set(got) == set(want)
    for user, rows in want.items():
        assert [c for c, _ in got[user]] == [c for c, _ in rows], user
        assert np.allclose([s for _, s in got[user]], [s for _, s in rows], atol=1e-5)
    assert set(frame["rank"]) == set(range(1, 26))


def test_the_search_runs_in_one_task_per_slot_or_as_asked_with_the_same_lists(spark, catalogue):
    items, users, ids = catalogue
    index = build_index(items)
    frame = spark.createDataFrame([(f"user{u}", users[u].tolist()) for u in range(len(users))],
                                  "user_id string, vector array<float>").repartition(5)
    slots = spark.sparkContext.defaultParallelism
    assert search_tasks(spark) == slots and search_tasks(spark, 7) == 7
    want = single_process(index, users, ids, 10)
    # Default: one task per slot; 1: one; more than the input's partitions: coalesce adds none.
    for tasks, partitions in ((None, min(5, slots)), (1, 1), (8, 5)):
        lists = ann_candidates(spark, frame, index, ids.tolist(), 10, tasks=tasks)
        assert lists.rdd.getNumPartitions() == partitions, tasks
        got = {r["user_id"]: r["content_ids"] for r in lists.collect()}
        assert got == {u: [c for c, _ in rows] for u, rows in want.items()}, tasks


def test_small_catalogue_null_and_bad_vectors(spark):
    items = np.eye(4, dtype="float32")
    ids = ["a", "b", "c", "d"]
    frame = spark.createDataFrame([("u1", [0.1, 1.0, 0.5, 0.0]), ("u2", None)],
                                  "user_id string, vector array<float>")
    lists = ann_candidates(spark, frame, build_index(items), ids, 100)
    (row,) = lists.collect()  # one row per user with a vector, its items in rank order
    assert row["user_id"] == "u1" and row["content_ids"] == ["b", "c", "a", "d"]  # k capped at 4
    assert row["scores"] == sorted(row["scores"], reverse=True)
    found = candidate_rows(lists).toPandas()
    assert list(found.sort_values("rank")["content_id"]) == ["b", "c", "a", "d"]
    assert list(found.sort_values("rank")["score"]) == pytest.approx(row["scores"])
    assert set(found["user_id"]) == {"u1"}
    bad = spark.createDataFrame([("u3", [1.0, 2.0])], "user_id string, vector array<float>")
    with pytest.raises(Exception, match="u3"):
        ann_candidates(spark, bad, build_index(items), ids, 2).collect()
    with pytest.raises(ValueError, match="4 vectors but 3 item ids"):
        ann_candidates(spark, frame, build_index(items), ids[:3], 2)


def test_item_matrix_sorts_by_id_and_names_a_bad_item(spark):
    frame = spark.createDataFrame([("c", [3.0, 3.0]), ("a", [1.0, 1.0]), ("b", [2.0, 2.0])],
                                  "content_id string, vector array<float>").repartition(2)
    ids, vectors = item_matrix(frame, "content_id", "vector")
    assert ids == ["a", "b", "c"] and vectors.dtype == np.float32
    assert vectors.tolist() == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
    assert item_matrix(frame.limit(0), "content_id", "vector")[0] == []
    ragged = spark.createDataFrame([("a", [1.0, 1.0]), ("b", [2.0])], "content_id string, vector array<float>")
    with pytest.raises(ValueError, match="item 'b' has a vector of width 1"):
        item_matrix(ragged, "content_id", "vector")
    missing = spark.createDataFrame([("a", [1.0]), ("z", None)], "content_id string, vector array<float>")
    with pytest.raises(ValueError, match="item 'z' has a null vector"):
        item_matrix(missing, "content_id", "vector")
