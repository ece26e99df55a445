"""Ingest of raw JSON-lines events vs the floor (read JSON, write Parquet, no checks).

    python bench/ingest.py [--rows 2000000] [--files 8]

Writes ``--files`` files of raw events (1% malformed lines, 1% wrong types, the timestamp
shapes producers send), then times ``foryou.ingest.runs.ingest_native`` (from_json against a
string schema, typing with reasons, line numbers, quarantine, Delta commits, manifest) against
``spark.read.json(...).write.parquet(...)``, and a second run over the same folder, which
must read no file. Prints the figures and the ratio.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyspark.sql import functions as F  # noqa: E402

from common import save, session, timed  # noqa: E402
from foryou.ingest.runs import ingest_native  # noqa: E402
from foryou.lake import Lake  # noqa: E402

SHAPES = ["iso", "offset", "epoch_s", "epoch_ms", "slash"]


def write_raw(spark, rows: int, files: int, out: Path) -> None:
    """Raw event lines, generated on the executors."""
    ids = spark.range(rows, numPartitions=files)
    ms = F.lit(1714521600000) + F.col("id") * 997 % 864_000_000
    ts = F.element_at(F.array(
        F.date_format(F.timestamp_millis(ms), "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"),
        F.concat(F.date_format(F.timestamp_millis(ms + 7_200_000), "yyyy-MM-dd'T'HH:mm:ss.SSS"),
                 F.lit("+02:00")),
        F.floor(ms / 1000).cast("string"), ms.cast("string"),
        F.date_format(F.timestamp_millis(ms), "yyyy/MM/dd HH:mm:ss"),
    ), (F.col("id") % len(SHAPES) + 1).cast("int"))
    record = F.to_json(F.struct(
        F.concat(F.lit("e"), F.col("id").cast("string")).alias("event_id"),
        F.element_at(F.array(*map(F.lit, ["impression", "view", "like", "skip"])),
                     (F.col("id") % 4 + 1).cast("int")).alias("event_type"),
        F.concat(F.lit("u"), (F.col("id") % 100_000).cast("string")).alias("user_id"),
        ts.alias("event_ts"),
        F.concat(F.lit("c"), (F.col("id") % 20_000).cast("string")).alias("content_id"),
        F.when(F.col("id") % 100 == 1, F.lit("abc")).otherwise((F.col("id") % 20).cast("string"))
        .alias("position"),
        (F.col("id") * 7919 % 60_000).alias("watch_ms"),
        F.lit("phone").alias("device_type"), F.lit("android").alias("os"),
    ))
    line = F.when(F.col("id") % 100 == 0, F.substring(record, 1, 40)).otherwise(record)
    ids.select(line.alias("value")).write.text(str(out))
    for part in out.glob("part-*.txt"):
        part.rename(part.with_suffix(".jsonl"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="foryou-bench-ingest-"))
    config, spark = session(extra=[f"lake.root={work / 'lake'}"])
    lake = Lake(spark, config)
    t: dict = {}
    try:
        raw = work / "events"
        with timed(t, "generate_s"):
            write_raw(spark, args.rows, args.files, raw)
        with timed(t, "floor_s"):
            spark.read.json(str(raw)).write.parquet(str(work / "floor"))
        with timed(t, "ingest_s"):
            [report] = ingest_native(spark, lake, str(raw), dt.date(2024, 5, 11))
        with timed(t, "rerun_s"):
            [again] = ingest_native(spark, lake, str(raw), dt.date(2024, 5, 12))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert report.records == args.rows == report.accepted + report.quarantined, report
    assert again.files_new == 0 and again.records == 0, again
    ratio = t["ingest_s"] / t["floor_s"]
    print(f"\n{args.rows:,} raw events in {args.files} files on {spark.sparkContext.master}:")
    print(f"  floor (read.json -> parquet): {t['floor_s']:.2f}s ({args.rows / t['floor_s']:,.0f} rows/s)")
    print(f"  ingest: {t['ingest_s']:.2f}s ({args.rows / t['ingest_s']:,.0f} rows/s), "
          f"{report.accepted:,} accepted + {report.quarantined:,} quarantined")
    print(f"  ingest / floor = {ratio:.2f}x; re-run over the same folder: {t['rerun_s']:.2f}s, "
          f"{again.files_skipped} files skipped")
    save("ingest", {"rows": args.rows, "files": args.files, **t, "ratio": round(ratio, 3),
                    "accepted": report.accepted, "quarantined": report.quarantined})
    return 0


if __name__ == "__main__":
    sys.exit(main())
