"""Dirty records: the ways a real event stream is broken, injected at a known rate and logged.

Each kind is chosen for a record in the simulation (numpy, per block) and recorded in the
ground truth (``truth/dirty``), never in the record itself. Most kinds are applied when Spark
renders the record (``records.py``); duplicates and arrival times are made here.

==================  ==========================================================================
kind                the record as written (``detail`` selects the variant)
==================  ==========================================================================
exact_duplicate     a second, byte-identical line
resent_duplicate    a second line with the same event_id and a later received_at (client retry)
malformed_json      the JSON line cut off mid-record (JSON format only); detail = tenths kept
missing_field       one required field absent: detail 0 event_id, 1 event_type, 2 user_id,
                    3 event_ts
wrong_type          detail 0: position is "abc"; detail 1: watch_ms is "ten"
unknown_event_type  event_type not in the product's list (``UNKNOWN_EVENT_TYPES[detail]``)
bad_watch_time      view with watch_ms negative (detail 0) or absurd, >= 10^10 (detail 1)
ts_format           the same instant written another way: detail 0 epoch seconds (number),
                    1 epoch millis (number), 2 "YYYY/MM/DD HH:MM:SS" (UTC), 3 "+02:00",
                    4 "-05:00", 5 "+05:30" offsets
future_ts           event_ts ``detail`` years ahead (a broken device clock)
late_arrival        received_at days after event_ts: the event lands in a later day's file
==================  ==========================================================================
"""
from __future__ import annotations

import numpy as np

from foryou.world.vocabulary import UNKNOWN_EVENT_TYPES

DIRTY_KINDS: tuple[str, ...] = (
    "exact_duplicate", "resent_duplicate", "malformed_json", "missing_field", "wrong_type",
    "unknown_event_type", "bad_watch_time", "ts_format", "future_ts", "late_arrival",
)
# Codes are 1-based: 0 is a clean record.
DIRTY_CODE: dict[str, int] = {kind: code for code, kind in enumerate(DIRTY_KINDS, start=1)}
DUPLICATE_KINDS = ("exact_duplicate", "resent_duplicate")
MISSING_FIELDS: tuple[str, ...] = ("event_id", "event_type", "user_id", "event_ts")
WRONG_TYPE_FIELDS: tuple[str, ...] = ("position", "watch_ms")
WRONG_TYPE_VALUES: tuple[str, ...] = ("abc", "ten")
TS_OFFSETS: tuple[tuple[str, int], ...] = (("+02:00", 120), ("-05:00", -300), ("+05:30", 330))
TS_FORMATS: tuple[str, ...] = ("epoch_s", "epoch_ms", "slash", *(f"offset{o}" for o, _ in TS_OFFSETS))
ABSURD_WATCH_MS = 10_000_000_000
MAX_FUTURE_YEARS = 10
MAX_DETAIL = 10  # details are small ints: the largest is MAX_FUTURE_YEARS

# Relative weight of each kind among dirty records (kinds are about equally common).
_WEIGHTS = {kind: 1.0 for kind in DIRTY_KINDS}


def detail_name(kind: str, detail: int) -> str:
    """Human-readable variant of a dirty record, as written to ``truth/dirty`` ("" if none)."""
    names = {
        "missing_field": MISSING_FIELDS,
        "wrong_type": WRONG_TYPE_FIELDS,
        "unknown_event_type": UNKNOWN_EVENT_TYPES,
        "bad_watch_time": ("negative", "absurd"),
        "ts_format": TS_FORMATS,
    }
    if kind in names:
        return names[kind][detail] if 0 <= detail < len(names[kind]) else ""
    if kind == "future_ts" and 1 <= detail <= MAX_FUTURE_YEARS:
        return f"+{detail}y"
    if kind == "malformed_json" and 1 <= detail <= 9:
        return f"truncated_{detail}0pct"
    return ""


def assign(rng: np.random.Generator, n: int, rate: float, is_view: np.ndarray,
           has_position: np.ndarray, json_format: bool) -> tuple[np.ndarray, np.ndarray]:
    """Choose which of ``n`` events are dirty, and how.

    Args:
        rng: the block's generator.
        n: number of events.
        rate: share of events to make dirty.
        is_view: events that carry ``watch_ms``.
        has_position: events that carry ``position``.
        json_format: whether malformed (truncated) lines are possible.
    Returns:
        ``(kind, detail)`` int8 arrays: kind 0 = clean, else ``DIRTY_CODE``.
    """
    kind = np.zeros(n, np.int8)
    detail = np.zeros(n, np.int8)
    if n == 0 or rate <= 0:
        return kind, detail
    kinds = [k for k in DIRTY_KINDS if json_format or k != "malformed_json"]
    w = np.array([_WEIGHTS[k] for k in kinds])
    counts = rng.multinomial(rng.binomial(n, rate), w / w.sum())
    perm = rng.permutation(n)
    used = np.zeros(n, bool)
    # Restrictive kinds first, so they find their candidates.
    order = sorted(range(len(kinds)), key=lambda i: kinds[i] not in ("bad_watch_time", "wrong_type"))
    for i in order:
        name, count = kinds[i], int(counts[i])
        if count == 0:
            continue
        ok = ~used[perm]
        if name == "bad_watch_time":
            ok &= is_view[perm]
        elif name == "wrong_type":
            ok &= is_view[perm] | has_position[perm]
        rows = perm[ok][:count]
        used[rows] = True
        kind[rows] = DIRTY_CODE[name]
        m = len(rows)
        if name == "missing_field":
            detail[rows] = rng.integers(0, len(MISSING_FIELDS), m)
        elif name == "wrong_type":
            # watch_ms on views, position elsewhere (views carry position too: pick either)
            detail[rows] = np.where(is_view[rows] & ((rng.random(m) < 0.5) | ~has_position[rows]), 1, 0)
        elif name == "unknown_event_type":
            detail[rows] = rng.integers(0, len(UNKNOWN_EVENT_TYPES), m)
        elif name == "bad_watch_time":
            detail[rows] = rng.integers(0, 2, m)
        elif name == "ts_format":
            detail[rows] = rng.integers(0, len(TS_FORMATS), m)
        elif name == "future_ts":
            detail[rows] = rng.integers(1, MAX_FUTURE_YEARS + 1, m)
        elif name == "malformed_json":
            detail[rows] = rng.integers(2, 10, m)
    return kind, detail
