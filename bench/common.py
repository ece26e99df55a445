"""Shared bench plumbing: a session like the tests', timing, and the JSON result file."""
from __future__ import annotations

import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DataType, DoubleType, FloatType, MapType,
                               StructType)

from foryou.config import load_config
from foryou.spark import get_spark

RESULTS = Path(__file__).resolve().parent / "results"


def overrides(master: str = "local[2]", shuffle_partitions: int = 8, extra: list[str] = ()) -> list[str]:
    """The config overrides every bench session runs with, plus ``extra``."""
    return [f"spark.master={master}", "spark.ui=false", f"spark.shuffle_partitions={shuffle_partitions}",
            "spark.log_level=ERROR", *extra]


def add_overrides(parser, help: str = "a config override (repeatable), e.g. lake.backend=native") -> None:
    """``--set KEY=VALUE``, repeatable: config overrides for the bench's session, as ``args.overrides``."""
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                        help=help)


def session(master: str = "local[2]", shuffle_partitions: int = 8, extra: list[str] = ()):
    config = load_config(overrides=overrides(master, shuffle_partitions, extra))
    return config, get_spark(config)


@contextmanager
def timed(into: dict, name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into[name] = round(time.perf_counter() - start, 3)


def clock(call: Callable[[], object]) -> tuple[float, float]:
    """(wall, thread CPU) seconds of one call. Wall time is what a caller sees; thread CPU
    time leaves out the moments the OS ran other processes (on a loaded shared machine the
    wall p99 is mostly those)."""
    start, start_cpu = time.perf_counter(), time.thread_time()
    call()
    return time.perf_counter() - start, time.thread_time() - start_cpu


def percentiles(into: dict, name: str, wall: np.ndarray, cpu: np.ndarray) -> None:
    """``<name>_p50_ms``, ``<name>_p99_ms`` and their ``_cpu`` twins of per-call seconds."""
    for kind, values in (("", wall), ("_cpu", cpu)):
        for q in (50, 99):
            into[f"{name}_p{q}{kind}_ms"] = round(float(np.percentile(values, q)) * 1e3, 4)


def _canonical(col: Column, kind: DataType) -> Column:
    """``col`` in a form whose hash does not depend on the order Spark met the rows in:
    floating-point values rounded to single precision (a sum of doubles differs in its last
    bits with the order of its terms, which the shuffle decides), map entries sorted by key
    (xxhash64 hashes no maps), and the same inside arrays and structs."""
    if isinstance(kind, (DoubleType, FloatType)):
        return col.cast("float")
    if isinstance(kind, ArrayType):
        return F.transform(col, lambda x: _canonical(x, kind.elementType))
    if isinstance(kind, MapType):
        entries = F.map_entries(F.transform_values(col, lambda _, v: _canonical(v, kind.valueType)))
        return F.array_sort(entries)
    if isinstance(kind, StructType):
        return F.struct(*[_canonical(col[f.name], f.dataType).alias(f.name) for f in kind.fields])
    return col


def digest(df: DataFrame) -> dict[str, int | str]:
    """Rows and an order-independent hash of ``df``'s content (the sum of its rows' xxhash64,
    floating-point values to single precision): two runs wrote the same rows when both
    agree. One pass over the rows, nothing collected but two numbers."""
    row_hash = F.xxhash64(*[_canonical(F.col(f.name), f.dataType) for f in df.schema.fields])
    # bounded: one row of two aggregates
    out = df.agg(F.count(F.lit(1)).alias("rows"),
                 F.coalesce(F.sum(row_hash.cast("decimal(38,0)")), F.lit(0)).alias("hash")).first()
    return {"rows": int(out["rows"]), "hash": str(out["hash"])}


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    result = {"bench": name, "machine": platform.machine(), "cpus": os.cpu_count(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"result written to {path}")
    return path
