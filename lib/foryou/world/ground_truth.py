"""The ground truth of impressions and dirty records, written by the task that simulated them.

A block's truth (true probabilities, realised labels, session ids, the dirty kind of each
broken record) exists only inside the simulation. Re-simulating every block in a second Spark
job, or caching every column of every event between two jobs, cost as much as the raw events
themselves. So the task that simulates a block also renders its truth with Arrow and writes
it as one Parquet file per block and table, while it hands the raw events to Spark:

- ``truth/impressions/part-<block>.parquet``: one row per shown item (duplicate copies left
  out) with its true probabilities and realised labels;
- ``truth/dirty/part-<block>.parquet``: one row per dirty record, its kind and variant.

A block's files depend only on (seed, block, config), so a retried or speculative task writes
the same bytes; each file is written under a temporary ``_``-prefixed name (which Spark and
pyarrow readers skip) and then moved into place, so a reader never sees half a file. The
driver clears both folders before the job and writes ``_SUCCESS`` after it.
"""
from __future__ import annotations

import os
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from foryou.world import dirty
from foryou.world.catalogue import DAY_MS
from foryou.world.ids import IdFormat, hex_ids
from foryou.world.policy import SOURCES
from foryou.world.simulate import LABEL_BITS, PROBABILITY_COLUMNS
from foryou.world.vocabulary import EVENT_CODE, EVENT_TYPES

TABLES = ("impressions", "dirty")
SUCCESS = "_SUCCESS"
# Dictionary pages only where values repeat; ids and probabilities are nearly all distinct.
_DICTIONARY = {"impressions": ["source", "position", *LABEL_BITS],
               "dirty": ["kind", "detail", "event_type"]}
# Indexed by code * (MAX_DETAIL + 1) + detail; code 0 (clean) has no names.
_DETAIL_NAMES = pa.array([dirty.detail_name(kind, d) for kind in ("",) + dirty.DIRTY_KINDS
                          for d in range(dirty.MAX_DETAIL + 1)])


def arrow_location(uri: str) -> str:
    """``uri`` in the form pyarrow's file systems accept (an absolute path or a URI).

    Spark's ``s3a://``/``s3n://`` become ``s3://``; Databricks' ``dbfs:/x`` is its FUSE mount
    ``/dbfs/x``. Raises ValueError naming ``uri`` when pyarrow cannot open it.
    """
    given = uri
    if uri.startswith("dbfs:"):
        uri = "/dbfs/" + uri[len("dbfs:"):].lstrip("/")
    for scheme in ("s3a://", "s3n://"):
        if uri.startswith(scheme):
            uri = "s3://" + uri[len(scheme):]
    if "://" not in uri and not uri.startswith("file:"):
        uri = os.path.abspath(uri)
    try:
        pafs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as exc:
        raise ValueError(f"world output {given!r}: the ground truth is written by the simulating "
                         f"tasks with pyarrow, which cannot open it ({exc}); use a path or "
                         f"URI pyarrow supports (local, s3, gs, hdfs, abfs) or truth=False") from exc
    return uri


def _open(location: str, table: str) -> tuple[pafs.FileSystem, str]:
    fs, root = pafs.FileSystem.from_uri(location)
    return fs, f"{root.rstrip('/')}/truth/{table}"


def clear(location: str) -> None:
    """Remove the truth tables of a previous world under ``location`` and create empty folders."""
    for table in TABLES:
        fs, path = _open(location, table)
        fs.create_dir(path, recursive=True)
        fs.delete_dir_contents(path, missing_dir_ok=True)


def mark_done(location: str) -> None:
    """Write the ``_SUCCESS`` markers, as Spark's committer does for its own outputs."""
    for table in TABLES:
        fs, path = _open(location, table)
        fs.open_output_stream(f"{path}/{SUCCESS}").close()  # an empty marker file


def _utc(ms: np.ndarray) -> pa.Array:
    """Epoch ms as UTC timestamps in microseconds (what Spark writes for its timestamps)."""
    return pa.array(ms.astype(np.int64) * 1000, pa.timestamp("us", tz="UTC"))


def impressions(cols: dict[str, np.ndarray], ids: IdFormat) -> pa.Table:
    """One row per shown item of a block: keys, true probabilities, realised labels."""
    duplicate = np.isin(cols["dirty"], [dirty.DIRTY_CODE[k] for k in dirty.DUPLICATE_KINDS])
    keep = (cols["etype"] == EVENT_CODE["impression"]) & ~duplicate
    c = {name: values[keep] for name, values in cols.items()}
    labels = c["labels"].astype(np.int32)
    return pa.table({
        "request_id": hex_ids(c["req"]),
        "position": pa.array(c["pos"].astype(np.int32)),
        "user_id": ids.arrow("user", c["user"]),
        "content_id": ids.arrow("item", c["item"]),
        "creator_id": ids.arrow("creator", c["creator"]),
        "session_id": hex_ids(c["session"]),
        "event_id": hex_ids(c["eid"]),
        "event_ts": _utc(c["ts"]),
        "duration_ms": pa.array(c["duration"].astype(np.int64)),
        "source": pa.array(SOURCES).take(pa.array(c["source"].astype(np.int32))),
        # float32, as simulated: doubles would only add bytes
        **{name: pa.array(c[name]) for name in PROBABILITY_COLUMNS},
        "expected_watch_ms": pa.array(c["exp_watch"]),
        "watch_ms": pa.array(c["watch"]),
        **{name: pa.array((labels >> bit) & 1) for bit, name in enumerate(LABEL_BITS)},
    })


def dirty_records(cols: dict[str, np.ndarray], ids: IdFormat) -> pa.Table:
    """One row per dirty record of a block: the true event id and values, kind and variant."""
    keep = cols["dirty"] > 0
    c = {name: values[keep] for name, values in cols.items()}
    code = c["dirty"].astype(np.int32)
    return pa.table({
        "event_id": hex_ids(c["eid"]),
        "kind": pa.array(dirty.DIRTY_KINDS).take(pa.array(code - 1)),
        "detail": _DETAIL_NAMES.take(pa.array(code * (dirty.MAX_DETAIL + 1) + c["detail"])),
        "event_type": pa.array(EVENT_TYPES).take(pa.array(c["etype"].astype(np.int32))),
        "user_id": ids.arrow("user", c["user"]),
        "event_ts": _utc(c["ts"]),
        "received_at": _utc(c["recv"]),
        "arrival_date": pa.array((c["recv"] // DAY_MS).astype(np.int32), pa.date32()),
    })


def write_block(location: str, block: int, cols: dict[str, np.ndarray], ids: IdFormat) -> None:
    """Write one block's truth tables (``cols``: a block's simulated columns, every event)."""
    for table, build in (("impressions", impressions), ("dirty", dirty_records)):
        fs, path = _open(location, table)
        name = f"part-{block:06d}.parquet"
        staged = f"{path}/_{uuid.uuid4().hex}-{name}"
        pq.write_table(build(cols, ids), staged, filesystem=fs,
                       use_dictionary=_DICTIONARY[table])
        fs.move(staged, f"{path}/{name}")
