"""The Spark generator of a synthetic world: ``generate_world(spark, cfg, out)``.

The driver builds what is small (calibration, catalogue, bot list, upload events); the users
are simulated on executors: ``spark.range(n_blocks)`` + ``mapInArrow`` runs
:func:`foryou.world.simulate.simulate_block` for each block of ``users_per_block`` users,
Spark renders and writes the records, and the same task writes the block's ground truth
(``ground_truth.py``): each block is simulated once. Nothing proportional to the number of
events is ever collected to the driver, so the cost is linear in ``n_users * days``.

Layout under ``out``:

- ``events/date=YYYY-MM-DD/part-*.jsonl`` raw events grouped by arrival (received_at) date, in
  arrival order within a file (``.csv`` / ``.parquet`` with ``format``);
- ``content/`` one record per video, ``users/`` one record per user (same format);
- ``truth/`` Parquet ground truth: ``impressions`` (true probabilities, realised labels,
  session ids) and ``dirty`` (every dirty record and its kind), one file per block;
  ``users`` (bot flag, initial interest vector), ``items`` (latent quality), ``tags``
  (interest vector index -> tag id).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from foryou.world import dirty, ground_truth, records
from foryou.world.calibration import load_calibration
from foryou.world.catalogue import build_catalogue, content_frame, tag_name
from foryou.world.params import WorldConfig
from foryou.world.simulate import (
    PROFILE_COLUMNS, PROFILE_DDL, RECORD_COLUMNS, RECORD_DDL, WorldSpec, choose_bots,
    profile_columns, simulate_block, upload_events,
)
from foryou.world.vocabulary import EVENT_CODE, EVENT_TYPES

_ARROW = {"bigint": pa.int64(), "int": pa.int32(), "smallint": pa.int16(), "tinyint": pa.int8(),
          "float": pa.float32(), "double": pa.float64(), "boolean": pa.bool_(),
          "array<double>": pa.list_(pa.float64())}
PROFILE_SCHEMA = pa.schema([(name, _ARROW[kind]) for name, kind in PROFILE_COLUMNS])


def build_spec(cfg: WorldConfig) -> WorldSpec:
    """Calibrate and build the driver-side parts of the world (small: one row per item)."""
    cal = load_calibration(str(cfg.kuairand_path()))
    return WorldSpec(cfg=cfg, calibration=cal, catalogue=build_catalogue(cfg, cal),
                     bots=choose_bots(cfg))


def simulated_events(spark: SparkSession, spec: WorldSpec, truth_at: str | None = None
                     ) -> DataFrame:
    """The simulated events of the world as numeric columns (``RECORD_COLUMNS``).

    Every user and bot event plus the upload events. With ``truth_at`` (a location from
    ``ground_truth.arrow_location``), each task also writes its blocks' ground truth there.
    """
    schema = pa.schema([(name, _ARROW[kind]) for name, kind in RECORD_COLUMNS])
    ids = spec.id_format()

    def run(batches):
        for batch in batches:
            for block in batch.column(0).to_numpy().tolist():
                cols = simulate_block(spec, int(block))
                if truth_at is not None:
                    ground_truth.write_block(truth_at, int(block), cols, ids)
                yield pa.RecordBatch.from_arrays([pa.array(cols[f.name], f.type) for f in schema],
                                                 schema=schema)

    cfg = spec.cfg
    blocks = spark.range(0, cfg.n_blocks, numPartitions=max(1, min(cfg.partitions, cfg.n_blocks)))
    rows = blocks.mapInArrow(run, RECORD_DDL)
    uploads = pd.DataFrame(upload_events(spec))
    return rows.unionByName(spark.createDataFrame(uploads, RECORD_DDL))


def user_profiles(spark: SparkSession, spec: WorldSpec) -> DataFrame:
    """One row per user: profile codes and initial interests (cheap: no simulation)."""

    def run(batches):
        for batch in batches:
            for block in batch.column(0).to_numpy().tolist():
                cols = profile_columns(spec, int(block))
                interest = cols["interest"]
                arrays = []
                for f in PROFILE_SCHEMA:
                    if f.name == "interest":
                        offsets = np.arange(0, interest.size + 1, interest.shape[1], dtype=np.int32)
                        arrays.append(pa.ListArray.from_arrays(offsets, pa.array(interest.ravel())))
                    else:
                        arrays.append(pa.array(cols[f.name], f.type))
                yield pa.RecordBatch.from_arrays(arrays, schema=PROFILE_SCHEMA)

    cfg = spec.cfg
    blocks = spark.range(0, cfg.n_blocks, numPartitions=max(1, min(cfg.partitions, cfg.n_blocks)))
    return blocks.mapInArrow(run, PROFILE_DDL)


def _write(df: DataFrame, path: str, fmt: str, partition_by: str | None = None) -> None:
    writer = df.write.mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(partition_by)
    if fmt == "json":
        writer.json(path)
    elif fmt == "csv":
        writer.option("header", True).csv(path)
    elif fmt == "text":
        writer.text(path)
    else:
        writer.parquet(path)


def _rename_parts(spark: SparkSession, path: str, old: str, new: str) -> None:
    """Give Spark's part files the extension consumers glob for (``.txt`` -> ``.jsonl``).

    Uses the Hadoop file system of ``path`` when the JVM is reachable, else the local one.
    """
    jvm = getattr(spark, "_jvm", None)
    if jvm is not None:
        hadoop = jvm.org.apache.hadoop.fs
        root = hadoop.Path(path)
        fs = root.getFileSystem(spark._jsc.hadoopConfiguration())
        files = fs.listFiles(root, True)
        while files.hasNext():
            src = files.next().getPath()
            name = src.getName()
            if name.startswith("part-") and name.endswith(old):
                fs.rename(src, hadoop.Path(src.getParent(), name[: -len(old)] + new))
        return
    for src in Path(path).rglob(f"part-*{old}"):
        src.rename(src.with_name(src.name[: -len(old)] + new))


@contextmanager
def _jit_sized_codegen(spark: SparkSession) -> Iterator[None]:
    """Keep generated methods small enough for the JVM's JIT while rendering records.

    HotSpot never compiles a method over 8,000 bytecode bytes; the whole-stage method of the
    record renderer is ~9 KB, so under Spark's default limit (64 KB) it runs interpreted.
    Lowering ``spark.sql.codegen.hugeMethodLimit`` to 8,000 makes Spark fall back to
    per-expression code for that stage: measured 2-4x faster on the raw events. The previous
    value is restored; a session that refuses the change (a locked-down cluster) keeps its own.
    """
    key = "spark.sql.codegen.hugeMethodLimit"
    try:
        before = spark.conf.get(key, None)
        spark.conf.set(key, "8000")
    except Exception:  # noqa: BLE001 - a session may forbid setting confs; rendering still works
        yield
        return
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _tags_frame(spec: WorldSpec) -> pd.DataFrame:
    cat = spec.catalogue
    return pd.DataFrame({
        "index": np.arange(cat.n_tags, dtype=np.int32),
        "tag_id": cat.tag_ids.astype(str),
        "name": [tag_name(t) for t in cat.tag_ids],
        "share": cat.tag_share,
    })


def _tally_names() -> list[str]:
    return (["events", "impressions", "dirty"] + [f"event_{name}" for name in EVENT_TYPES]
            + [f"dirty_{kind}" for kind in dirty.DIRTY_KINDS])


def _tallies() -> list:
    """Counts gathered while the events are written (``observe``: no extra pass)."""
    etype, code = F.col("etype"), F.col("dirty")
    duplicate = code.isin([dirty.DIRTY_CODE[k] for k in dirty.DUPLICATE_KINDS])
    count = lambda cond: F.sum(F.when(cond, 1).otherwise(0)).alias  # noqa: E731
    return [
        F.count(F.lit(1)).alias("events"),
        count((etype == EVENT_CODE["impression"]) & ~duplicate)("impressions"),
        count(code > 0)("dirty"),
        *[count(etype == EVENT_CODE[name])(f"event_{name}") for name in EVENT_TYPES],
        *[count(code == dirty.DIRTY_CODE[kind])(f"dirty_{kind}") for kind in dirty.DIRTY_KINDS],
    ]


def generate_world(spark: SparkSession, cfg: WorldConfig, out: str, truth: bool = True
                   ) -> dict[str, int]:
    """Generate the world of ``cfg`` under ``out`` (overwriting it) and return its counts.

    Args:
        spark: the session (local or cluster; ``out`` must be reachable by every executor).
        cfg: the world's settings.
        out: output folder (local path or any Hadoop URI).
        truth: also write the ground truth under ``out/truth`` (False gives only what a real
            app would deliver: events, content, users). The truth of impressions and dirty
            records is written with pyarrow by the simulating tasks, so ``out`` must be a
            location pyarrow can open (``ground_truth.arrow_location``).
    Returns:
        ``events`` (records written, duplicates and malformed lines included), ``impressions``,
        ``event_<type>`` per event type, ``dirty`` and ``dirty_<kind>`` per kind, ``users``,
        ``bots``, ``items``, ``creators``, ``uploads``.
    Example:
        >>> counts = generate_world(spark, WorldConfig.preset("tiny"), "/tmp/world")  # doctest: +SKIP
        >>> counts["dirty_late_arrival"] > 0
        True
    """
    out = out.rstrip("/")
    spec = build_spec(cfg)
    tz = spark.conf.get("spark.sql.session.timeZone", "UTC")
    cat = spec.catalogue
    ids = spec.id_format()

    truth_at = ground_truth.arrow_location(out) if truth else None
    if truth_at is not None:
        ground_truth.clear(truth_at)
    observation = Observation("world")
    events = simulated_events(spark, spec, truth_at).observe(observation, *_tallies())
    with _jit_sized_codegen(spark):
        # JSON lines are rendered by Spark (to_json) and written as text.
        _write(records.raw_events(events, ids, tz, cfg.format), f"{out}/events",
               "text" if cfg.format == "json" else cfg.format, partition_by="date")
    if truth_at is not None:
        ground_truth.mark_done(truth_at)
    tallies = observation.get

    profiles = user_profiles(spark, spec).persist(StorageLevel.MEMORY_AND_DISK)  # one row per user
    _write(records.raw_users(profiles, ids, spec.calibration, tz), f"{out}/users", cfg.format)
    content = spark.createDataFrame(content_frame(cat, cfg.seed))
    _write(records.raw_content(content, ids, tz, cfg.format, [str(t) for t in cat.tag_ids]),
           f"{out}/content", cfg.format)
    if truth:
        _write(records.truth_users(profiles, ids, spec.calibration), f"{out}/truth/users", "parquet")
        _write(records.truth_items(content, ids), f"{out}/truth/items", "parquet")
        _write(spark.createDataFrame(_tags_frame(spec)), f"{out}/truth/tags", "parquet")
    profiles.unpersist()

    if cfg.format == "json":  # Spark names them .txt (events) and .json; consumers glob *.jsonl
        for folder, suffix in (("events", ".txt"), ("users", ".json"), ("content", ".json")):
            _rename_parts(spark, f"{out}/{folder}", suffix, ".jsonl")

    counts = {name: int(tallies.get(name) or 0) for name in _tally_names()}
    counts.update(users=cfg.n_users, bots=len(spec.bots), items=cat.n_items,
                  creators=cat.n_creators, uploads=cat.n_items - cat.n_initial)
    return counts
