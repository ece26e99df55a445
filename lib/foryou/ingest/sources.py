"""Source files: find them, and name each by an identity that changes when its content does.

Listing goes through Hadoop's FileSystem API, so the same code lists a laptop folder, S3,
ADLS or DBFS; where the session has no JVM gateway (Spark Connect) it falls back to the
local file system. Only the driver lists; files are read by the executors.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Iterable, Sequence
from urllib.parse import unquote

from pyspark.sql import SparkSession

# Extensions each raw format is read from (compressed variants are read transparently).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "json": (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz"),
    "csv": (".csv", ".csv.gz", ".tsv", ".txt"),
    "parquet": (".parquet",),
}
# Hive-style folder names that date a landing-zone partition (``events/date=2024-05-02/``).
# A file under one is the data of that day: the ingest for run date D takes only files
# dated D or earlier, so a replay or backfill sees each day's files on that day's run.
DATE_PARTITION_KEYS = ("date", "dt", "ds", "event_date", "ingest_date")
_DATED = re.compile(r"(?:^|/)(?:%s)=(\d{4}-\d{2}-\d{2})(?=/)" % "|".join(DATE_PARTITION_KEYS))
# Sub-folders of a world root (the synthetic world generator's layout).
EVENTS_DIR, CONTENT_DIR, USERS_DIR = "events", "content", "users"


@dataclass(frozen=True)
class SourceFile:
    """One raw file as listed: normalised path, size in bytes and modification time."""

    path: str
    size: int
    modified: dt.datetime

    def identity(self, source: str, target: str) -> str:
        """Stable id of this file version for one adapter and target table: the file
        counts as new again only if it is rewritten (size or mtime change)."""
        text = f"{source}|{target}|{self.path}|{self.size}|{self.modified.isoformat()}"
        return hashlib.sha256(text.encode()).hexdigest()


def normalise(path: str) -> str:
    """One spelling per file: ``file:///a``, ``file:/a`` and ``/a`` all become ``/a``;
    other schemes keep their URI, percent-escapes decoded (Spark's ``_metadata.file_path``
    and Hadoop listings agree after this)."""
    path = unquote(path)
    if path.startswith("file:"):
        path = "/" + path[len("file:"):].lstrip("/")
    return path


def path_date(path: str) -> dt.date | None:
    """The day a file's Hive-style date folder names (the innermost one), or None."""
    found = _DATED.findall(path)
    if not found:
        return None
    try:
        return dt.date.fromisoformat(found[-1])
    except ValueError:
        return None


def due_by(files: Sequence[SourceFile], run_date: dt.date) -> tuple[list[SourceFile], list[SourceFile]]:
    """``files`` split into those a run for ``run_date`` takes (undated, or dated up to
    ``run_date``) and those dated later, which wait for their own run date."""
    due, later = [], []
    for f in files:
        day = path_date(f.path)
        (later if day is not None and day > run_date else due).append(f)
    return due, later


def _hidden(name: str) -> bool:
    return name.startswith(("_", "."))


def _list_hadoop(spark: SparkSession, root: str) -> list[SourceFile] | None:
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return None
    hpath = jvm.org.apache.hadoop.fs.Path(root)
    fs = hpath.getFileSystem(spark._jsc.hadoopConfiguration())
    if not fs.exists(hpath):
        raise FileNotFoundError(f"source path not found: {root}")
    out = []
    status = fs.getFileStatus(hpath)
    if status.isFile():
        statuses = [status]
    else:
        statuses = []
        it = fs.listFiles(hpath, True)
        while it.hasNext():
            statuses.append(it.next())
    for st in statuses:
        p = st.getPath()
        # Skip files under hidden or underscore folders (_SUCCESS, _delta_log, .crc, ...).
        rel = normalise(p.toString())[len(normalise(hpath.toString())):]
        if any(_hidden(part) for part in rel.split("/") if part):
            continue
        out.append(SourceFile(normalise(p.toString()), int(st.getLen()),
                              dt.datetime.fromtimestamp(st.getModificationTime() / 1000,
                                                        dt.timezone.utc).replace(tzinfo=None)))
    return out


def _list_local(root: str) -> list[SourceFile]:
    if not os.path.exists(root):
        raise FileNotFoundError(f"source path not found: {root}")
    paths = [root] if os.path.isfile(root) else [
        os.path.join(folder, name)
        for folder, dirs, names in os.walk(root)
        if not any(_hidden(p) for p in os.path.relpath(folder, root).split(os.sep) if p != ".")
        for name in names if not _hidden(name)
    ]
    out = []
    for p in paths:
        st = os.stat(p)
        out.append(SourceFile(normalise(os.path.abspath(p)), st.st_size,
                              dt.datetime.fromtimestamp(st.st_mtime_ns // 1_000_000 / 1000,
                                                        dt.timezone.utc).replace(tzinfo=None)))
    return out


def list_files(spark: SparkSession, root: str, extensions: Iterable[str] = (),
               patterns: Sequence[str] = ()) -> list[SourceFile]:
    """Files under ``root`` (or ``root`` itself, unfiltered), recursively, sorted by path.

    Args:
        extensions: keep names ending with one of these (case-insensitive); empty keeps all.
        patterns: keep names containing one of these substrings; empty keeps all.
    """
    if "://" not in root and not root.startswith(("file:", "dbfs:")):
        root = os.path.abspath(root)
    files = _list_hadoop(spark, root)
    if files is None:
        files = _list_local(root)
    if len(files) == 1 and files[0].path == normalise(root):
        return files  # a file named explicitly is read whatever its extension
    exts = tuple(e.lower() for e in extensions)
    keep = [f for f in files
            if (not exts or f.path.lower().endswith(exts))
            and (not patterns or any(p in os.path.basename(f.path) for p in patterns))]
    return sorted(keep, key=lambda f: f.path)


def first_line(spark: SparkSession, path: str, limit: int = 1 << 20) -> str:
    """The first line of one file (decompressed when its extension names a codec), read on
    the driver: a CSV header, without a Spark job per file. Bytes that are not UTF-8 become
    U+FFFD; at most ``limit`` characters are read."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(normalise(path), "rt", encoding="utf-8", errors="replace", newline="") as fh:
            return fh.readline(limit).rstrip("\r\n")
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    conf = spark._jsc.hadoopConfiguration()
    stream = hpath.getFileSystem(conf).open(hpath)
    codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(hpath)
    if codec is not None:
        stream = codec.createInputStream(stream)
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
    try:
        line = reader.readLine()
    finally:
        reader.close()
    return "" if line is None else str(line)[:limit]


def is_folder(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` is an existing folder (on any file system Hadoop knows)."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return os.path.isdir(path)
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark._jsc.hadoopConfiguration())
    return bool(fs.exists(hpath) and fs.getFileStatus(hpath).isDirectory())


def join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def is_world_root(spark: SparkSession, root: str) -> bool:
    """Whether ``root`` is a synthetic world's root (holds events/, content/ or users/)."""
    return any(is_folder(spark, join(root, d)) for d in (EVENTS_DIR, CONTENT_DIR, USERS_DIR))
