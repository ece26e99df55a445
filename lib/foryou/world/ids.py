"""The string ids of a world: one definition for every place that writes or reads them.

Users, videos and creators are zero-padded numbers with a prefix (``u000123``, ``v0004567``,
``c000042``); the width grows with the count, so ids sort like their numbers. Event, request
and session ids are 64-bit numbers written as 16 lower-case hex digits. Spark renders the raw
records with these formats (``records.id_column``, ``records.hex_id``); the simulating tasks
render the ground truth with the Arrow versions here, and the feed simulator maps its numbers
back to the world's ids with them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PREFIX: dict[str, str] = {"user": "u", "item": "v", "creator": "c"}
MIN_WIDTH: dict[str, int] = {"user": 6, "item": 7, "creator": 6}
_HEX_PAIRS = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


def id_width(kind: str, count: int) -> int:
    """Digits of the ids of ``count`` users, items or creators (numbers 0..count-1)."""
    return max(MIN_WIDTH[kind], len(str(max(count - 1, 0))))


def format_ids(kind: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``numbers`` as ids of ``kind`` with ``width`` digits, as an Arrow string array."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, np.int64)), pa.string()),
                          width=width, padding="0")
    return pc.binary_join_element_wise(PREFIX[kind], digits, "")


def hex_ids(values: np.ndarray) -> pa.Array:
    """64-bit ids as 16 lower-case hex digits (two's complement, like Spark's ``hex``)."""
    raw = np.ascontiguousarray(np.asarray(values, np.int64).astype(">i8")).view(np.uint8)
    pairs = np.ascontiguousarray(_HEX_PAIRS[raw.reshape(-1, 8)])
    return pa.array(pairs.view("S16").ravel(), pa.binary()).cast(pa.string())


@dataclass(frozen=True)
class IdFormat:
    """The id widths of one world (from its numbers of users, items and creators)."""

    n_users: int
    n_items: int
    n_creators: int

    def width(self, kind: str) -> int:
        count = {"user": self.n_users, "item": self.n_items, "creator": self.n_creators}[kind]
        return id_width(kind, count)

    def arrow(self, kind: str, numbers: np.ndarray) -> pa.Array:
        """Ids of ``kind`` for ``numbers`` (all >= 0) as an Arrow string array."""
        return format_ids(kind, numbers, self.width(kind))
