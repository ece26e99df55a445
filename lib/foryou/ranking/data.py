"""Training data for the ranker: the Delta snapshot's Parquet files streamed into tensors.

The driver only lists files (``Lake.snapshot``: the Delta log's live files); every process
of a training run opens its own share of them with ``pyarrow.dataset``, so nothing is
collected to the driver. Null/NaN rule (counted per column when a ``nulls`` counter is given):

- dense features: null or NaN becomes 0 after standardisation, i.e. the training mean;
- categorical indices: null becomes 0 (out of vocabulary), as do indices past the vocabulary
  (tokens that got an index after the spec was built);
- tag/recent-item lists: null is an empty list; index 0 is padding and ignored in pooling;
- content vector: null is the zero vector;
- labels: a null label masks that row out of that task's loss (``m_<task>`` = 0).
"""
from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import torch

from foryou.config.ranking import RankingConfig, WATCH_TASK
from foryou.features import columns as C

if TYPE_CHECKING:  # pragma: no cover
    from foryou.lake import Lake
    from foryou.ranking.spec import FeatureSpec

TRAIN, VALIDATION, TEST = "train", "validation", "test"
POSITION = C.POSITION
DENSE = "dense"


class MissingColumnError(ValueError):
    """A column the feature spec needs is absent from a training file."""


def example_dates(lake: "Lake", version: int | None = None) -> list[dt.date]:
    """The event_date partitions of gold.training_examples (from the table's snapshot)."""
    return [dt.date.fromisoformat(d)
            for d in lake.snapshot(C.EXAMPLES, version).partition_values(C.EVENT_DATE)]


def example_files(lake: "Lake", dates, version: int | None = None) -> list[str]:
    """Parquet file URIs of the gold.training_examples snapshot for these event dates.

    Args:
        lake: the lake; it lists the files (for a catalog table, where the catalog keeps them).
        dates: event dates (date or ISO string) whose partitions to list.
        version: the Delta version to pin (default: latest).
    Returns:
        Sorted file URIs; empty when no date has files.
    """
    wanted = sorted({str(d) for d in dates})
    if not wanted:
        return []
    return sorted(lake.snapshot(C.EXAMPLES, version, partitions=wanted).uris)


def split_dates(lake: "Lake", run_date: dt.date, cfg: RankingConfig,
                features_cfg=None) -> dict[str, list[dt.date]]:
    """Train, validation and test event dates among the examples on or before ``run_date``.

    When the features config fixes ``validation_start``/``test_start`` (so the table's
    ``split`` column is set) those boundaries win; otherwise the last ``cfg.test_days`` dates
    are test, the ``cfg.validation_days`` before them validation and the rest train (the last
    ``cfg.train_days`` of them when set).
    """
    dates = [d for d in example_dates(lake) if d <= run_date]
    if features_cfg is not None and (features_cfg.test_start or features_cfg.validation_start):
        test_start = features_cfg.test_start or dt.date.max
        val_start = features_cfg.validation_start or test_start
        split = {TRAIN: [d for d in dates if d < val_start],
                 VALIDATION: [d for d in dates if val_start <= d < test_start],
                 TEST: [d for d in dates if d >= test_start]}
    else:
        n_test, n_val = cfg.test_days, cfg.validation_days
        test = dates[len(dates) - n_test:] if n_test else []
        rest = dates[:len(dates) - n_test] if n_test else dates
        val = rest[len(rest) - n_val:] if n_val else []
        train = rest[:len(rest) - n_val] if n_val else rest
        split = {TRAIN: train, VALIDATION: val, TEST: test}
    if cfg.train_days:
        split[TRAIN] = split[TRAIN][-cfg.train_days:]
    if not split[TRAIN]:
        raise ValueError(f"no training dates in gold.training_examples up to {run_date} "
                         f"(dates {dates}, validation_days {cfg.validation_days}, "
                         f"test_days {cfg.test_days})")
    return split


# --- arrow columns to numpy -------------------------------------------------------------

def check_columns(schema: pa.Schema, needed, where: str) -> None:
    """Raise :class:`MissingColumnError` naming the first needed column ``schema`` lacks."""
    names = set(schema.names)
    missing = [c for c in needed if c not in names]
    if missing:
        raise MissingColumnError(f"feature column {missing[0]!r} is missing from {where}"
                                 + (f" (also missing: {missing[1:]})" if missing[1:] else ""))


def float_values(table: pa.Table, name: str) -> np.ndarray:
    """A numeric or boolean column as float64, NaN where null."""
    col = table.column(name)
    if pa.types.is_boolean(col.type):
        col = pc.cast(col, pa.int8())
    return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)


def index_values(table: pa.Table, name: str, size: int, nulls: Counter | None = None) -> np.ndarray:
    """An index column as int64; null and out-of-range indices become 0 (OOV)."""
    col = table.column(name)
    if nulls is not None:
        nulls[name] += col.null_count
    out = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return np.where((out < 0) | (out >= size), 0, out)


def padded(table: pa.Table, name: str, width: int, dtype, nulls: Counter | None = None) -> np.ndarray:
    """A list column as a [rows, width] array: first ``width`` entries, zero padded."""
    col = table.column(name)
    if nulls is not None:
        nulls[name] += col.null_count
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_null(col.type):  # every value null (a pandas column of None: no list type)
        return np.zeros((len(col), width), dtype=dtype)
    lengths = pc.fill_null(pc.list_value_length(col), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(col)
    flat = pc.fill_null(flat, 0).to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    out = np.zeros((len(lengths), width), dtype=dtype)
    if flat.size == 0:
        return out
    starts = np.cumsum(lengths) - lengths
    offsets = np.arange(width)
    valid = offsets[None, :] < lengths[:, None]
    idx = np.minimum(starts[:, None] + offsets[None, :], flat.size - 1)
    out[valid] = flat[idx[valid]]
    return out


def watch_target(table: pa.Table, target: str) -> np.ndarray:
    """The raw watch regression target: log1p(watch seconds) or the watch ratio (<= 5)."""
    if target == "watch_ratio":
        return np.clip(float_values(table, C.WATCH_RATIO), 0.0, 5.0)
    return np.log1p(np.maximum(float_values(table, C.WATCH_MS), 0.0) / 1000.0)


def prepare(table: pa.Table, spec: "FeatureSpec", nulls: Counter | None = None) -> dict[str, np.ndarray]:
    """Arrow rows to the model's numpy inputs and labels (see the module's null rule)."""
    out: dict[str, np.ndarray] = {}
    for col, kind in {**spec.categorical, **spec.bias}.items():
        out[col] = index_values(table, col, spec.vocab_sizes[kind], nulls)
    for col, kind in spec.multi_hot.items():
        values = padded(table, col, spec.max_multi_hot, np.int64, nulls)
        size = spec.vocab_sizes[kind]
        out[col] = np.where((values < 0) | (values >= size), 0, values)
    for col, dim in spec.vectors.items():
        out[col] = padded(table, col, dim, np.float32, nulls)
    dense = np.empty((table.num_rows, len(spec.dense)), dtype=np.float32)
    for j, feature in enumerate(spec.dense):
        values = feature.transform(float_values(table, feature.name))
        bad = np.isnan(values)
        if nulls is not None:
            nulls[feature.name] += int(bad.sum())
        dense[:, j] = np.where(bad, 0.0, values)
    out[DENSE] = dense
    position = pc.fill_null(table.column(POSITION), 0).to_numpy(zero_copy_only=False)
    out[POSITION] = np.clip(position.astype(np.int64), 0, spec.max_position - 1)
    for task in spec.tasks:
        y = float_values(table, task)
        known = ~np.isnan(y)
        out[f"y_{task}"] = np.where(known, y > 0, 0.0).astype(np.float32)
        out[f"m_{task}"] = known.astype(np.float32)
    if spec.watch_target != "none":
        y = watch_target(table, spec.watch_target)
        known = ~np.isnan(y)
        z = (y - spec.watch_mean) / spec.watch_std
        out[f"y_{WATCH_TASK}"] = np.where(known, z, 0.0).astype(np.float32)
        out[f"m_{WATCH_TASK}"] = known.astype(np.float32)
    if nulls is not None:
        nulls["rows"] += table.num_rows
    return out


# --- sharding and batching --------------------------------------------------------------

def shard(files: list[str], rank: int, world_size: int, epoch: int = 0, seed: int = 0,
          shuffle: bool = True) -> tuple[list[str], bool]:
    """This rank's files for an epoch, and whether rows must be strided instead.

    Files are shuffled with (seed, epoch) (the same order on every rank) and dealt round
    robin. With fewer files than ranks every rank reads every file and keeps every
    ``world_size``-th row, so no rank starves.
    """
    order = sorted(files)
    if shuffle:
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
    if world_size > 1 and len(order) < world_size:
        return order, True
    return order[rank::world_size], False


def shard_rows(files: list[str], rank: int = 0, world_size: int = 1) -> int:
    """Rows this rank reads in an epoch (from the Parquet footers only)."""
    mine, strided = shard(files, rank, world_size, shuffle=False)
    rows = [pq.ParquetFile(f).metadata.num_rows for f in mine]
    if strided:
        return sum(len(range(rank, n, world_size)) for n in rows)
    return sum(rows)


def _record_batches(path: str, needed: list[str], rows: int, rank: int, world_size: int,
                    strided: bool) -> Iterator[pa.Table]:
    """One file's rows in Arrow batches of ``rows`` (every ``world_size``-th row when strided)."""
    dataset = ds.dataset(path, format="parquet")
    check_columns(dataset.schema, needed, path)
    offset = 0
    for record_batch in dataset.to_batches(columns=needed, batch_size=rows):
        table = pa.Table.from_batches([record_batch])
        if strided:
            keep = np.arange((rank - offset) % world_size, table.num_rows, world_size)
            offset += table.num_rows
            table = table.take(pa.array(keep))
        if table.num_rows:
            yield table


def iter_batches(files: list[str], spec: "FeatureSpec", batch_size: int, rank: int = 0,
                 world_size: int = 1, epoch: int = 0, seed: int = 0, shuffle: bool = True,
                 shuffle_rows: int = 65536, max_batches: int | None = None,
                 nulls: Counter | None = None, interleave: int = 8) -> Iterator[dict[str, torch.Tensor]]:
    """Stream this rank's share of ``files`` as batches of tensors.

    Args:
        files: Parquet files of gold.training_examples (see :func:`example_files`).
        spec: which columns feed the model and how they are normalised.
        batch_size: rows per batch (the last batch may be smaller).
        rank, world_size: this process's DDP rank; files are sharded across ranks.
        epoch, seed: the file and row order of the epoch. ``interleave`` files are read at
            once, a random one's next slice at a time (as tf.data's interleave does), and
            rows are shuffled within a window of ``shuffle_rows`` rows. Without interleaving,
            a file of a day holds more rows than the window, so training would read one day
            at a time and each epoch's last steps would all come from one day.
        max_batches: stop after this many batches (DDP ranks agree on a common count).
        nulls: a Counter that receives per-column null/NaN counts and ``rows``.
    Returns:
        An iterator of dicts: index columns as int64 [n], lists as int64 [n, max_multi_hot],
        ``dense`` float32 [n, D], vectors float32 [n, V], ``position`` int64 [n], and
        ``y_<task>``/``m_<task>`` float32 [n] labels and masks.

    Example:
        >>> for batch in iter_batches(files, spec, 512):   # doctest: +SKIP
        ...     logits = model(batch)
    """
    mine, strided = shard(files, rank, world_size, epoch, seed, shuffle)
    rng = np.random.default_rng([seed, epoch, rank])
    needed = spec.file_columns()
    width = max(interleave, 1) if shuffle else 1
    # Slices small enough that a shuffle window holds rows of every open file.
    slice_rows = max(batch_size, shuffle_rows // width if shuffle else 8192)
    pending = iter(mine)
    open_ = [_record_batches(p, needed, slice_rows, rank, world_size, strided)
             for p in itertools.islice(pending, width)]
    buffer: list[dict[str, np.ndarray]] = []
    buffered = 0
    emitted = 0

    def drain(final: bool):
        nonlocal buffer, buffered, emitted
        if not buffer:
            return
        merged = {k: np.concatenate([b[k] for b in buffer]) for k in buffer[0]}
        n = len(merged[POSITION])
        order = rng.permutation(n) if shuffle else np.arange(n)
        full = (n // batch_size) * batch_size
        stop = n if final else full
        for start in range(0, stop, batch_size):
            if max_batches is not None and emitted >= max_batches:
                break
            take = order[start:start + batch_size]
            emitted += 1
            yield {k: torch.from_numpy(np.ascontiguousarray(v[take])) for k, v in merged.items()}
        rest = order[full:] if not final else order[:0]
        buffer = [{k: v[rest] for k, v in merged.items()}] if len(rest) else []
        buffered = len(rest)

    while open_:
        pick = int(rng.integers(len(open_))) if len(open_) > 1 else 0
        table = next(open_[pick], None)
        if table is None:
            following = next(pending, None)
            if following is None:
                open_.pop(pick)
            else:
                open_[pick] = _record_batches(following, needed, slice_rows, rank, world_size, strided)
            continue
        buffer.append(prepare(table, spec, nulls))
        buffered += table.num_rows
        if buffered >= max(shuffle_rows, batch_size):
            yield from drain(final=False)
        if max_batches is not None and emitted >= max_batches:
            return
    yield from drain(final=True)
