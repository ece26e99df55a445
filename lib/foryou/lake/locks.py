"""Serialise writers per table with an OS file lock.

A ``flock`` is released by the kernel when its process dies, so a killed writer never
leaves a table locked. It covers every writer on one host (local mode, local-cluster, one
driver); multi-driver clusters use the native Delta backend and its optimistic commits.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import Iterator

from foryou.lake.errors import ConcurrentWriteError


@contextlib.contextmanager
def table_lock(lock_path: str, table: str, timeout_s: float) -> Iterator[None]:
    """Hold the exclusive write lock of ``table`` or raise after ``timeout_s``."""
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConcurrentWriteError(
                        f"{table}: another writer has held the table for over {timeout_s:.0f}s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
