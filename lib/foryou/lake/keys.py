"""Commit keys and write results shared by both backends."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class CommitKey:
    """Idempotency key of one job's output for one run date.

    A table records the keys it committed (Delta ``txn`` actions); a second write with the
    same key is skipped unless forced, in which case it commits as the next attempt.
    """

    job: str
    run_date: dt.date | str
    part: str = ""

    @property
    def app_id(self) -> str:
        base = f"foryou/{self.job}/{self.run_date}"
        return f"{base}/{self.part}" if self.part else base

    def sub(self, part: str) -> "CommitKey":
        """The key of one of this run's several writes (``part`` appended to this key's)."""
        return CommitKey(self.job, self.run_date, f"{self.part}{part}")


@dataclass(frozen=True)
class WriteResult:
    """What one write committed: the table version after it and the rows it added."""

    table: str
    version: int | None
    rows: int
    files: int
    skipped: bool = False
    removed_rows: int = 0


@dataclass(frozen=True)
class TableInfo:
    """Operator view of a table (``foryou tables``)."""

    name: str
    location: str
    version: int | None
    rows: int | None
    size_bytes: int | None
    files: int | None
    last_operation: str | None
    last_commit: dt.datetime | None
