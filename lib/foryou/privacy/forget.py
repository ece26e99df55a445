"""Forgetting users (right to erasure): delete their rows everywhere, then vacuum.

Every catalog table with a ``user_id`` column holds user rows: bronze tables by raw id, silver
and gold tables by pseudonym (:func:`foryou.privacy.pseudonymise`). ``bronze.quarantine`` rows
match by their ``user_id`` or, where a record was rejected before its user id could be read,
by the raw id appearing anywhere in the payload - a substring match that may also remove
another rejected record that happens to contain the same characters, which errs on the side
of erasure. Ids go into the delete predicates ``privacy.forget_chunk_size`` at a time.

Tables that lost rows are then vacuumed with retention 0, so the files holding the deleted
rows are removed from storage, and their Delta logs are expired (:meth:`Lake.expire_log`):
a checkpoint at the current version, every older log entry deleted. The log would otherwise
keep the ids in the removed files' min/max statistics and in the delete predicates. So the
bytes are really gone, data and log, and with them time travel to those tables' versions
before the forget. Raw ids are never logged or recorded; only counts are.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from foryou.lake import Lake, TableSpec
from foryou.lake.catalog import TABLES
from foryou.lake.vocabulary import BRONZE_QUARANTINE as QUARANTINE, PAYLOAD, USER_ID
from foryou.privacy.pseudonyms import pseudonymise

log = logging.getLogger("foryou.privacy")


@dataclass
class ForgetReport:
    """Rows deleted and files vacuumed per table, for the users asked to be forgotten."""

    users: int
    deleted: dict[str, int] = field(default_factory=dict)
    files_removed: dict[str, int] = field(default_factory=dict)
    oldest_version: dict[str, int] = field(default_factory=dict)  # after the log's expiry

    @property
    def total_deleted(self) -> int:
        return sum(self.deleted.values())


def read_ids(path: str | Path) -> list[str]:
    """Raw user ids from a file, one per line (blank lines and ``#`` comments skipped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--ids {path}: no such file")
    ids = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return list(dict.fromkeys(i for i in ids if i and not i.startswith("#")))


def user_tables() -> list[TableSpec]:
    """Every catalog table that holds rows keyed by a user (it has a ``user_id`` column)."""
    return [t for t in TABLES if any(c.name == USER_ID for c in t.columns)]


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _like_anywhere(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sql_string(f"%{escaped}%")


def predicate(spec: TableSpec, ids: Sequence[str]) -> str:
    """The delete predicate for one chunk of ids (raw for bronze, pseudonyms elsewhere)."""
    listed = f"{USER_ID} IN ({', '.join(sql_string(i) for i in ids)})"
    if spec.name != QUARANTINE:
        return listed
    mentions = " OR ".join(f"{PAYLOAD} LIKE {_like_anywhere(i)}" for i in ids)
    return f"({listed}) OR ({USER_ID} IS NULL AND ({mentions}))"


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def forget_users(lake: Lake, raw_ids: Sequence[str], key: bytes, chunk_size: int = 1000,
                 vacuum: bool = True) -> ForgetReport:
    """Delete every row of ``raw_ids``'s users from every user table, then vacuum them.

    Args:
        lake: the lake.
        raw_ids: raw user ids (as in bronze).
        key: the pseudonym key silver and gold were written with.
        chunk_size: ids per delete predicate.
        vacuum: physically remove the files that held the rows (retention 0) and expire
            the tables' logs.
    Returns:
        rows deleted, files removed and the oldest readable version per table.
    """
    report = ForgetReport(len(raw_ids))
    if not raw_ids:
        return report
    pseudonyms = [pseudonymise(i, key) for i in raw_ids]
    for spec in user_tables():
        if not lake.exists(spec.name):
            continue
        ids = raw_ids if spec.layer == "bronze" else pseudonyms
        deleted = sum(lake.delete(spec.name, predicate(spec, chunk))
                      for chunk in _chunks(ids, chunk_size))
        report.deleted[spec.name] = deleted
        log.info("forget-users: %s: %d rows deleted", spec.name, deleted)
    if vacuum:
        for name, deleted in report.deleted.items():
            if deleted:
                report.files_removed[name] = lake.vacuum(name, retention_hours=0)
                report.oldest_version[name] = lake.expire_log(name)
    return report
