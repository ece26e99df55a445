"""Approximate nearest items to each user's vector with FAISS (inner product = ALS score).

The driver builds (and for IVF trains) the index once with :func:`build_index`; the index is
shipped to the executors either as serialized bytes in a broadcast (an index object or bytes)
or as a file through ``SparkContext.addFile`` (a path, e.g. from :func:`write_index`), and
:func:`ann_candidates` searches the users in batches inside ``mapInArrow`` (the Arrow flavour of
``mapInPandas``: vectors arrive as one flat float buffer, ids leave as Arrow ``take``s), one row
of arrays per user; :func:`candidate_rows` explodes them where a consumer needs one row per
item. No loop over users ever runs on the driver.

The index kind follows the catalogue size: exact ``IndexFlatIP`` up to
``embeddings.ann.exact_max_items``, IVF (``IndexIVFFlat``) or HNSW (``IndexHNSWFlat``) beyond,
with their parameters in the ``embeddings.ann`` config section.
"""
from __future__ import annotations

import math
import os
import uuid
from typing import Iterator, Sequence

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import SparkFiles
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

from foryou.config.embeddings import AnnConfig
from foryou.lake.vocabulary import CONTENT_ID, USER_ID

SCORE, RANK, VECTOR = "score", "rank", "vector"
CONTENT_IDS, SCORES = "content_ids", "scores"
# One row per user, the items in rank order: what a search returns, and ~k times fewer rows to
# move through Arrow, Spark and Parquet than one row per (user, item).
RESULT_SCHEMA = StructType([StructField(USER_ID, StringType(), False),
                            StructField(CONTENT_IDS, ArrayType(StringType(), False), False),
                            StructField(SCORES, ArrayType(FloatType(), False), False)])
ARROW_SCHEMA = pa.schema([pa.field(USER_ID, pa.string(), False),
                          pa.field(CONTENT_IDS, pa.list_(pa.field("element", pa.string(), False)), False),
                          pa.field(SCORES, pa.list_(pa.field("element", pa.float32(), False)), False)])

FLAT, IVF, HNSW = "flat", "ivf", "hnsw"

# Deserialized indexes per Python worker, so reused workers load an index once, not per task.
_LOADED: dict[str, tuple[faiss.Index, pa.Array]] = {}


def _cached(token: str, load) -> tuple[faiss.Index, pa.Array]:
    """The index and ids of ``token``, loaded once per Python worker. Module-level on
    purpose: closures are pickled by value with copies of the globals they use, this function
    by reference, so its cache outlives the task."""
    if token not in _LOADED:
        _LOADED.clear()  # one index per worker at a time
        _LOADED[token] = load()
    return _LOADED[token]


def index_kind(n_items: int, cfg: AnnConfig | None = None) -> str:
    """``flat`` (exact) for catalogues up to ``exact_max_items``, else ``cfg.kind``."""
    cfg = cfg or AnnConfig()
    return FLAT if n_items <= cfg.exact_max_items else cfg.kind


def ivf_lists(n_items: int, cfg: AnnConfig) -> int:
    """IVF cells: ``cfg.nlist``, or about 4·sqrt(items); never more than items / 39 (FAISS
    wants 39 training points per centroid)."""
    wanted = cfg.nlist or int(round(4 * math.sqrt(n_items)))
    return max(1, min(wanted, n_items // 39))


def build_index(vectors: np.ndarray, cfg: AnnConfig | None = None) -> faiss.Index:
    """An inner-product index over ``vectors`` (items x dim), of the kind the size calls for.

    Args:
        vectors: float item vectors, one row per item (row i is item ``item_ids[i]``).
        cfg: the ``embeddings.ann`` section (defaults when None).
    Returns:
        A trained FAISS index holding every vector.
    Example:
        >>> build_index(np.eye(3, dtype="float32")).ntotal
        3
    """
    cfg = cfg or AnnConfig()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"build_index: expected a non-empty (items, dim) matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"build_index: item row {bad} has a non-finite value")
    n, d = x.shape
    kind = index_kind(n, cfg)
    if kind == FLAT:
        index = faiss.IndexFlatIP(d)
    elif kind == IVF:
        nlist = ivf_lists(n, cfg)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = min(n, nlist * cfg.train_per_list)
        rows = np.random.default_rng(cfg.seed).choice(n, sample, replace=False) if sample < n else slice(None)
        index.train(x[rows])
        index.nprobe = min(cfg.nprobe, nlist)
    else:
        index = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.hnsw_ef_construction
        index.hnsw.efSearch = cfg.hnsw_ef_search
    index.add(x)
    return index


def index_bytes(index: faiss.Index) -> bytes:
    """The index serialized (what a broadcast ships)."""
    return faiss.serialize_index(index).tobytes()


def write_index(index: faiss.Index, path: str) -> str:
    """Write the index to ``path`` (what ``SparkContext.addFile`` ships); returns the path."""
    faiss.write_index(index, path)
    return path


def _search_params(index: faiss.Index, k: int) -> dict:
    """Settings that must be re-applied after loading (nprobe, efSearch are search-time)."""
    params = {}
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        params["nprobe"] = int(ivf.nprobe)
    if isinstance(index, faiss.IndexHNSW):
        params["ef_search"] = max(int(index.hnsw.efSearch), k)
    return params


def _apply_params(index: faiss.Index, params: dict) -> None:
    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = params["nprobe"]
    if "ef_search" in params:
        index.hnsw.efSearch = params["ef_search"]


def search(index: faiss.Index, queries: np.ndarray, k: int, batch_size: int = 4096
           ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, item rows) of the ``k`` best items per query, batch by batch (-1: no item)."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != index.d:
        raise ValueError(f"search: queries of shape {q.shape}, the index has dim {index.d}")
    k = min(k, index.ntotal)
    scores, rows = np.empty((len(q), k), np.float32), np.empty((len(q), k), np.int64)
    for start in range(0, len(q), batch_size):
        s, r = index.search(q[start:start + batch_size], k)
        scores[start:start + batch_size], rows[start:start + batch_size] = s, r
    return scores, rows


def results_batch(users: pa.Array, scores: np.ndarray, rows: np.ndarray,
                  item_ids: pa.Array) -> pa.RecordBatch:
    """One (user_id, content_ids, scores) row per user of a search, items in rank order;
    empty slots (-1) dropped.

    Built with Arrow ``take`` on the id array and list offsets: no Python object per item,
    which is what keeps the executor side close to FAISS's own speed.
    """
    valid = rows >= 0
    offsets = pa.array(np.concatenate([[0], np.cumsum(valid.sum(axis=1))]), pa.int32())
    items = item_ids.take(pa.array(rows[valid]))
    return pa.RecordBatch.from_arrays([
        users,
        pa.ListArray.from_arrays(offsets, items, type=ARROW_SCHEMA.field(CONTENT_IDS).type),
        pa.ListArray.from_arrays(offsets, pa.array(scores[valid], pa.float32()),
                                 type=ARROW_SCHEMA.field(SCORES).type),
    ], schema=ARROW_SCHEMA)


def candidate_rows(lists: DataFrame) -> DataFrame:
    """:func:`ann_candidates`' lists as one (user_id, content_id, score, rank) row per item,
    for the consumers that join or filter by item (the candidate pool)."""
    return lists.select(USER_ID, F.posexplode(F.arrays_zip(F.col(CONTENT_IDS).alias(CONTENT_ID),
                                                           F.col(SCORES).alias(SCORE)))
                        .alias("_pos", "_item")).select(
        USER_ID, F.col(f"_item.{CONTENT_ID}").alias(CONTENT_ID),
        F.col(f"_item.{SCORE}").alias(SCORE), (F.col("_pos") + 1).cast("int").alias(RANK))


def query_matrix(keys: pa.Array, vectors: pa.Array, dim: int, what: str = "user") -> np.ndarray:
    """The (rows, dim) float32 matrix of a list<float> column; a wrong width names the
    ``what`` (user or item) by its key."""
    widths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
    if (widths != dim).any():
        first = int(np.flatnonzero(widths != dim)[0])
        raise ValueError(f"ann: {what} {keys[first].as_py()!r} has a vector of width "
                         f"{int(widths[first])}, the item index has {dim}")
    flat = pc.list_flatten(vectors).to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(flat, dtype=np.float32).reshape(len(widths), dim)


def item_matrix(items: DataFrame, id_col: str, vector_col: str) -> tuple[list[str], np.ndarray]:
    """The ids and (items, dim) float32 vectors of a catalogue frame, sorted by id, collected
    to the driver (the one place the index is trained). Arrow all the way: no pandas object
    column, and the sort runs on the driver's Arrow table, not as a Spark shuffle."""
    table = items.select(F.col(id_col).cast("string").alias(id_col), F.col(vector_col)).toArrow()
    if table.num_rows == 0:
        return [], np.empty((0, 0), np.float32)
    order = pc.sort_indices(table, sort_keys=[(id_col, "ascending")])
    table = table.take(order)
    ids = table.column(id_col).combine_chunks()
    vectors = table.column(vector_col).combine_chunks()
    if vectors.null_count:
        first = int(np.flatnonzero(pc.is_null(vectors).to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"item_matrix: item {ids[first].as_py()!r} has a null {vector_col}")
    dim = int(pc.list_value_length(vectors[:1])[0].as_py())
    return ids.to_pylist(), query_matrix(ids, vectors, dim, what="item")


def ann_candidates(spark: SparkSession, user_vectors: DataFrame,
                   index: faiss.Index | bytes | str, item_ids: Sequence[str], k: int,
                   batch_size: int | None = None, tasks: int | None = None) -> DataFrame:
    """The ``k`` nearest items to each user's vector, searched on the executors.

    Args:
        spark: the session (ships the index).
        user_vectors: a frame with ``user_id`` and ``vector`` (array<float>); null vectors skipped.
        index: a FAISS index or its serialized bytes (broadcast), or a path written by
            :func:`write_index` (shipped with ``SparkContext.addFile``).
        item_ids: the content_id of each index row, in the order the vectors were added.
        k: items per user (fewer when the catalogue is smaller).
        batch_size: users per FAISS call (default ``embeddings.ann.batch_size``).
        tasks: at most this many search tasks (default ``embeddings.ann.search_tasks``, whose
            0 means one per task slot: :func:`search_tasks`).
    Returns:
        DataFrame[user_id, content_ids, scores]: one row per user, the items in rank order
        (descending score, FAISS's float precision); :func:`candidate_rows` explodes them.
    """
    if k < 1:
        raise ValueError(f"ann_candidates: k must be >= 1, got {k}")
    batch_size = batch_size or AnnConfig().batch_size
    sc = spark.sparkContext
    threads = _task_cpus(spark)
    tasks = search_tasks(spark, tasks if tasks is not None else AnnConfig().search_tasks)
    if isinstance(index, str):
        probe = faiss.read_index(index)
        sc.addFile(index)
        source, shipped, name = "file", None, os.path.basename(index)
    else:
        probe = index if isinstance(index, faiss.Index) else faiss.deserialize_index(
            np.frombuffer(index, dtype=np.uint8))
        payload = index if isinstance(index, bytes) else index_bytes(index)
        source, shipped, name = "broadcast", sc.broadcast(payload), None
    if probe.ntotal != len(item_ids):
        raise ValueError(f"ann_candidates: the index holds {probe.ntotal} vectors but "
                         f"{len(item_ids)} item ids were given")
    dim, params = probe.d, _search_params(probe, k)
    ids = sc.broadcast(pa.array([str(i) for i in item_ids], pa.string()))
    token = uuid.uuid4().hex  # names this call's index in the per-worker cache

    def load() -> tuple[faiss.Index, pa.Array]:
        loaded = (faiss.read_index(SparkFiles.get(name)) if source == "file"
                  else faiss.deserialize_index(np.frombuffer(shipped.value, dtype=np.uint8)))
        _apply_params(loaded, params)
        return loaded, ids.value

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        faiss.omp_set_num_threads(threads)  # one task, its cores: no oversubscription
        loaded, items = None, None
        for batch in batches:
            batch = batch.filter(pc.is_valid(batch.column(1)))
            if batch.num_rows == 0:
                continue
            if loaded is None:
                loaded, items = _cached(token, load)
            queries = query_matrix(batch.column(0), batch.column(1), dim)
            scores, rows = search(loaded, queries, k, batch_size)
            yield results_batch(batch.column(0), scores, rows, items)

    # coalesce never adds partitions: fewer than ``tasks`` stay as they are.
    return (user_vectors.select(F.col(USER_ID).cast("string").alias(USER_ID), F.col(VECTOR))
            .coalesce(tasks).mapInArrow(run, RESULT_SCHEMA))


def search_tasks(spark: SparkSession, wanted: int = 0) -> int:
    """How many tasks a search runs in: ``wanted``, or with 0 one per task slot of the session
    (default parallelism / ``spark.task.cpus``).

    The user vectors are coalesced to at most this many partitions (narrow: no shuffle, and
    the upstream scan runs in as many tasks). A search costs the same per user in every task,
    so one wave of equal tasks keeps every slot busy; each task beyond it only adds its own
    start, index load and output file.
    """
    return wanted or max(1, spark.sparkContext.defaultParallelism // _task_cpus(spark))


def _task_cpus(spark: SparkSession) -> int:
    """Cores each task holds (``spark.task.cpus``)."""
    return int(spark.conf.get("spark.task.cpus", "1"))
