"""Synthetic gold.training_examples rows with a known signal, for tests, benches and smoke runs.

Rows have every column of the catalog's gold.training_examples schema. Labels follow a small
generative model: P(click) = sigmoid(user taste + item quality + interest match - position
effect), and long_view, complete, like, skip and watch_ms depend on the same latent scores,
so a ranker that learns anything beats chance, and the position effect exists to be absorbed
by the bias tower.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from foryou.features import columns as C


def examples_schema() -> pa.Schema:
    """The Arrow schema of gold.training_examples (from the catalog declaration)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from foryou.lake.catalog import table

    return to_arrow_schema(table(C.EXAMPLES).schema, timezone="UTC")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def example_table(rows: int, seed: int = 0, n_users: int = 50, n_items: int = 300,
                  event_date: dt.date = dt.date(2024, 5, 1), vector_dim: int = 32,
                  constant: dict[str, int] | None = None) -> pa.Table:
    """``rows`` synthetic examples for one event date (``constant`` pins labels, e.g.
    ``{"like": 0}``, to exercise skipped tasks)."""
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(12345)  # the same users and items in every table
    taste, quality = world.normal(0, 1, n_users + 1), world.normal(0, 1, n_items + 1)
    user = rng.integers(1, n_users + 1, rows)
    item = rng.integers(1, n_items + 1, rows)
    position = rng.integers(0, 20, rows)
    device = rng.integers(1, 4, rows)
    interest = rng.exponential(0.5, rows)
    score = taste[user] + 1.5 * quality[item] + interest
    click = rng.random(rows) < _sigmoid(score - 0.08 * position - 0.3 * (device == 3))
    long_view = click & (rng.random(rows) < _sigmoid(score - 0.5))
    complete = long_view & (rng.random(rows) < _sigmoid(score - 1.0))
    like = click & (rng.random(rows) < _sigmoid(score - 2.5))
    watch_ms = np.where(click, np.exp(8.5 + 0.6 * score + rng.normal(0, 0.5, rows)), 0).astype(np.int64)
    hour = rng.uniform(0, 24, rows)
    cols: dict[str, object] = {
        C.REQUEST_ID: [f"r{seed}-{i // 10}" for i in range(rows)],
        C.POSITION: position.astype(np.int32),
        C.USER_ID: [f"u{u}" for u in user],
        C.CONTENT_ID: [f"v{i}" for i in item],
        C.CREATOR_ID: [f"c{i % 40}" for i in item],
        C.EVENT_TS: pa.array(np.full(rows, np.datetime64(event_date, "us")) + (hour * 3.6e9).astype("timedelta64[us]"),
                             pa.timestamp("us", tz="UTC")),
        "click": click.astype(np.int32), "long_view": long_view.astype(np.int32),
        "complete": complete.astype(np.int32), "like": like.astype(np.int32),
        "comment": (like & (rng.random(rows) < 0.3)).astype(np.int32),
        "share": (like & (rng.random(rows) < 0.3)).astype(np.int32),
        "follow": (like & (rng.random(rows) < 0.2)).astype(np.int32),
        "skip": (~click).astype(np.int32),
        "replay": (complete & (rng.random(rows) < _sigmoid(score - 2.0))).astype(np.int32),
        "continued": (rng.random(rows) < _sigmoid(1.0 + 0.5 * score)).astype(np.int32),
        C.WATCH_MS: watch_ms, C.WATCH_RATIO: np.minimum(watch_ms / 20000.0, 5.0),
        "user_index": user.astype(np.int32), "item_index": item.astype(np.int32),
        "creator_index": (item % 40 + 1).astype(np.int32), "device_index": device.astype(np.int32),
        "os_index": rng.integers(1, 3, rows).astype(np.int32),
        "network_index": rng.integers(1, 4, rows).astype(np.int32),
        "tag_indices": pa.array([list(rng.integers(1, 30, rng.integers(0, 5))) for _ in range(rows)],
                                pa.list_(pa.int32())),
        "recent_item_indices": pa.array([list(rng.integers(1, n_items + 1, rng.integers(0, 8)))
                                         for _ in range(rows)], pa.list_(pa.int32())),
        "hour_sin": np.sin(2 * np.pi * hour / 24), "hour_cos": np.cos(2 * np.pi * hour / 24),
        "user_events": rng.poisson(50, rows).astype(np.int64),
        "item_impressions": rng.poisson(200 * np.exp(quality[item])).astype(np.int64),
        "item_completion_rate": _sigmoid(quality[item] - 1) + rng.normal(0, 0.02, rows),
        "interest_match_short": interest,
        "creator_affinity": np.where(rng.random(rows) < 0.3, np.nan, rng.exponential(1, rows)),
        "follows_creator": rng.random(rows) < 0.1,
        "item_content_vector": pa.array([rng.normal(0, 0.2, vector_dim).astype(np.float32).tolist()
                                         for _ in range(rows)], pa.list_(pa.float32())),
        C.HAS_IMPRESSIONS: np.ones(rows, dtype=bool), C.SAMPLED_NEGATIVE: np.zeros(rows, dtype=bool),
        C.EVENT_DATE: pa.array([event_date] * rows, pa.date32()),
    }
    for name, value in (constant or {}).items():
        cols[name] = np.full(rows, value, dtype=np.int32)
    schema = examples_schema()
    arrays = []
    for f in schema:
        value = cols.get(f.name)
        arrays.append(pa.nulls(rows, f.type) if value is None else pa.array(value, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def write_examples(root, n_files: int, rows_per_file: int, seed: int = 0,
                   event_date: dt.date = dt.date(2024, 5, 1), drop: tuple[str, ...] = (),
                   **kwargs) -> list[str]:
    """Write ``n_files`` Parquet files of synthetic examples (minus ``drop`` columns) under
    ``root/event_date=D/`` and return their paths."""
    folder = Path(root) / f"{C.EVENT_DATE}={event_date}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n_files):
        tbl = example_table(rows_per_file, seed * 1000 + k, event_date=event_date, **kwargs)
        tbl = tbl.drop_columns([C.EVENT_DATE, *drop])
        path = folder / f"part-{k:05d}.parquet"
        pq.write_table(tbl, path)
        paths.append(str(path))
    return paths
