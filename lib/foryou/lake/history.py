"""One table commit, the same whichever backend wrote or reads it.

Delta-Spark's ``DESCRIBE HISTORY`` and delta-rs's ``DeltaTable.history()`` describe a commit
with different keys and types (a timestamp, or epoch milliseconds; the commit key in
``userMetadata`` JSON, or as a top-level custom field). Everything above the lake reads
:class:`Commit`.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

KEY_FIELD = "foryou.key"


@dataclass(frozen=True)
class Commit:
    """A table version: when, which operation, its parameters and metrics, its commit key.

    ``metrics`` keeps the writer's own names (Delta-Spark: ``numOutputRows``; delta-rs:
    ``num_added_rows``)."""

    version: int
    timestamp: dt.datetime
    operation: str
    parameters: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    key: str | None = None


def _key_from_user_metadata(text: str | None) -> str | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value.get(KEY_FIELD) or None if isinstance(value, dict) else None


def commit_from_spark(row: dict) -> Commit:
    """A ``DESCRIBE HISTORY`` row (as a dict) as a :class:`Commit`."""
    ts = row["timestamp"]
    ts = ts.replace(tzinfo=dt.timezone.utc) if ts.tzinfo is None else ts.astimezone(dt.timezone.utc)
    return Commit(int(row["version"]), ts, str(row["operation"]),
                  {k: str(v) for k, v in (row.get("operationParameters") or {}).items()},
                  {k: str(v) for k, v in (row.get("operationMetrics") or {}).items()},
                  _key_from_user_metadata(row.get("userMetadata")))


def commit_from_deltars(entry: dict) -> Commit:
    """A ``deltalake.DeltaTable.history()`` entry as a :class:`Commit`."""
    ts = dt.datetime.fromtimestamp(entry["timestamp"] / 1000, dt.timezone.utc)
    key = entry.get(KEY_FIELD) or _key_from_user_metadata(entry.get("userMetadata"))
    return Commit(int(entry["version"]), ts, str(entry.get("operation")),
                  {k: str(v) for k, v in (entry.get("operationParameters") or {}).items()},
                  {k: str(v) for k, v in (entry.get("operationMetrics") or {}).items()},
                  key or None)
