"""An in-process reader of the feed export (``gold.user_candidates``), no Spark, no JVM.

The latest table version is read with deltalake into pyarrow, sorted by (user_id, rank) and
indexed by user_id: a lookup is a dict hit and a slice of a few numpy columns (micro-seconds).

Unknown users (new, or absent from the export) get the **trending fallback**: the items that
appear in the most users' lists of the same export version (ties: higher mean score), cut to
the median list length. It is derived from the export itself, because the candidate stage
writes no trending table of its own (its trending lists are per user, inside
``gold.candidate_pool``), and so the reader depends on one table only. Fallback rows carry
``source = "fallback"``.

In-session re-ranking: ``feed(user, n, session=...)`` re-orders the user's exported list with
what the user did in the current session (:mod:`foryou.rerank.session`: pure numpy, tens of
microseconds for a 50-item list), with the weights the export run learned
(``gold.session_model``, beside the export; the latest row is loaded with each export version).

New versions: every lookup checks, at most once per ``refresh_interval_s``, whether the
table's version (or the session model's) moved (``DeltaTable.update_incremental``, which reads
only the new log entries) and if so loads it and swaps the in-memory snapshot in one
assignment, so readers in other threads see either the old or the new version, never a mix.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from foryou.lake.vocabulary import (CONTENT_ID, CREATOR_ID, GOLD_SESSION_MODEL,
                                   GOLD_USER_CANDIDATES as TABLE, USER_ID)
from foryou.privacy.pseudonyms import pseudonymise
from foryou.rerank.session import FEATURES, Session, SessionModel, rerank

COLUMNS = (USER_ID, "rank", CONTENT_ID, "score", "source", "model_version", "generated_at")
# Optional columns (contract 1.1) the in-session re-ranking reads.
SESSION_COLUMNS = (CREATOR_ID, "tags")
# Without a learned model a session still drops what it has seen, and moves nothing else.
NO_SESSION_MODEL = SessionModel({f: 0.0 for f in FEATURES})
FALLBACK_SOURCE = "fallback"


class FeedReaderError(RuntimeError):
    """The export cannot be served (missing, or not the declared shape); the message says why."""


@dataclass(frozen=True)
class _Snapshot:
    """One loaded table version: columns sorted by (user_id, rank), row ranges per user."""

    version: int
    offsets: dict[str, tuple[int, int]]
    rank: np.ndarray
    content_id: np.ndarray
    score: np.ndarray
    source: np.ndarray
    model_version: np.ndarray
    generated_at: np.ndarray
    fallback: tuple[dict, ...]
    creator_id: np.ndarray | None = None  # with tags: what the in-session re-ranking reads
    tags: np.ndarray | None = None
    session_model: SessionModel | None = None

    def reranked(self, user_id: str, start: int, stop: int, session: Session, n: int | None
                 ) -> list[dict]:
        """The user's rows re-ordered for ``session`` (seen items dropped), ranks renumbered."""
        ids = self.content_id[start:stop].tolist()
        if self.tags is None:  # an export before contract 1.1: no tags to react to
            tags, creators = [()] * len(ids), [None] * len(ids)
        else:
            tags, creators = self.tags[start:stop], self.creator_id[start:stop].tolist()
        order = rerank(session, self.session_model or NO_SESSION_MODEL, ids, tags, creators)
        if n is not None:
            order = order[:n]
        rows = self.rows(user_id, start, stop)
        return [{**rows[i], "rank": r} for r, i in enumerate(order.tolist(), start=1)]

    def rows(self, user_id: str, start: int, stop: int) -> list[dict]:
        # Slices converted column-wise (tolist) then zipped: ~2x faster than per-element indexing.
        span = slice(start, stop)
        return [{USER_ID: user_id, "rank": r, CONTENT_ID: c, "score": s, "source": src,
                 "model_version": m, "generated_at": g}
                for r, c, s, src, m, g in zip(self.rank[span].tolist(), self.content_id[span].tolist(),
                                              self.score[span].tolist(), self.source[span].tolist(),
                                              self.model_version[span].tolist(),
                                              self.generated_at[span].tolist())]


def table_uri(location: str | os.PathLike) -> str:
    """The export table's URI from a lake root (``<root>/gold/user_candidates``) or the table itself."""
    location = str(location)
    if DeltaTable.is_deltatable(location):
        return location
    candidate = location.rstrip("/") + "/gold/user_candidates"
    if DeltaTable.is_deltatable(candidate):
        return candidate
    raise FeedReaderError(f"no {TABLE} Delta table at {location!r} or {candidate!r}: "
                          "run `foryou export --run-date D` first")


def sibling_uri(table: str, name: str) -> str | None:
    """The location of table ``name`` beside the export's (``<root>/gold/<table>``), or None
    when the export's location does not end in its own name (a catalog-managed location)."""
    own = "/" + TABLE.replace(".", "/")
    stripped = table.rstrip("/")
    if not stripped.endswith(own):
        return None
    return stripped[: -len(own)] + "/" + name.replace(".", "/")


def _fallback(table: pa.Table, users: int) -> tuple[dict, ...]:
    """Items in the most users' lists (ties: higher mean score), as many as the median list."""
    if table.num_rows == 0:
        return ()
    stats = table.group_by(CONTENT_ID).aggregate([(USER_ID, "count"), ("score", "mean")])
    order = pc.sort_indices(stats, sort_keys=[("user_id_count", "descending"),
                                              ("score_mean", "descending"),
                                              (CONTENT_ID, "ascending")])
    per_user = table.group_by(USER_ID).aggregate([("rank", "count")])["rank_count"].to_numpy()
    size = max(1, int(np.median(per_user)))
    top = stats.take(order[:size]).to_pylist()
    return tuple({"rank": i + 1, CONTENT_ID: r[CONTENT_ID], "score": r["user_id_count"] / users,
                  "source": FALLBACK_SOURCE} for i, r in enumerate(top))


def _load(dt_table: DeltaTable, session_model: SessionModel | None = None) -> _Snapshot:
    names = dt_table.schema().to_arrow().names
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise FeedReaderError(f"{TABLE} at {dt_table.table_uri} lacks column(s) {missing}")
    extra = [c for c in SESSION_COLUMNS if c in names]
    table = dt_table.to_pyarrow_table(columns=list(COLUMNS) + extra)
    table = table.take(pc.sort_indices(table, sort_keys=[(USER_ID, "ascending"), ("rank", "ascending")]))
    users = table[USER_ID].to_numpy(zero_copy_only=False)
    if len(users):
        starts = np.concatenate([[0], np.flatnonzero(users[1:] != users[:-1]) + 1])
        stops = np.append(starts[1:], len(users))
        offsets = dict(zip(users[starts].tolist(), zip(starts.tolist(), stops.tolist())))
    else:
        offsets = {}
    column = lambda name: table[name].to_numpy(zero_copy_only=False)  # noqa: E731
    # One export run has one or a few generated_at values: convert those, not a million rows.
    encoded = pc.dictionary_encode(table["generated_at"]).combine_chunks()
    generated = np.array(encoded.dictionary.to_pylist() + [None], dtype=object)[
        encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
    reacts = len(extra) == len(SESSION_COLUMNS)
    return _Snapshot(dt_table.version(), offsets, column("rank"), column(CONTENT_ID),
                     column("score"), column("source"), column("model_version"), generated,
                     _fallback(table, max(1, len(offsets))),
                     column(CREATOR_ID) if reacts else None,
                     pd.Series(table["tags"].to_pylist(), dtype=object).to_numpy() if reacts else None,
                     session_model)


def _open(location: str | None, storage_options: dict[str, str] | None) -> DeltaTable | None:
    """The Delta table at ``location``, or None while there is none."""
    if location is None or not DeltaTable.is_deltatable(location, storage_options=storage_options):
        return None
    return DeltaTable(location, storage_options=storage_options)


def _latest_model(table: DeltaTable | None) -> SessionModel | None:
    """The model of ``gold.session_model``'s latest row (by run date, then training time)."""
    if table is None:
        return None
    rows = table.to_pyarrow_table(columns=["run_date", "trained_at", "model"])
    if rows.num_rows == 0:
        return None
    latest = pc.sort_indices(rows, sort_keys=[("run_date", "descending"),
                                              ("trained_at", "descending")])[0].as_py()
    return SessionModel.from_json(rows["model"][latest].as_py())


class FeedReader:
    """Per-user feeds from the latest ``gold.user_candidates`` version, in process.

    Args:
        location: the table's location (``foryou export`` prints it; for a catalog table
            ``DESCRIBE DETAIL <catalog>.gold.user_candidates`` gives it), or a path lake's
            root (the table is then ``<root>/gold/user_candidates``).
        refresh_interval_s: lookups check for a new table version at most this often
            (0: on every lookup; None: only when :meth:`refresh` is called).
        storage_options: passed to deltalake for object stores.
    Example:
        >>> reader = FeedReader("./lakehouse")            # doctest: +SKIP
        >>> reader.feed(user_id, n=10)[0]["content_id"]  # doctest: +SKIP
    """

    def __init__(self, location: str | os.PathLike, refresh_interval_s: float | None = 10.0,
                 storage_options: dict[str, str] | None = None,
                 session_model_location: str | None = None):
        self.uri = table_uri(location) if not storage_options else str(location)
        self.refresh_interval_s = refresh_interval_s
        self._options = storage_options
        self._session_uri = session_model_location or sibling_uri(self.uri, GOLD_SESSION_MODEL)
        self._table = DeltaTable(self.uri, storage_options=storage_options)
        self._session_table = _open(self._session_uri, storage_options)
        self._snapshot = _load(self._table, _latest_model(self._session_table))
        self._session_version = self._session_table.version() if self._session_table else None
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def from_lake(cls, lake, **kwargs) -> "FeedReader":
        """The reader of ``lake``'s export, wherever the lake keeps it (for a catalog table,
        the location the catalog's ``DESCRIBE DETAIL`` gives), with the lake's
        ``gold.session_model``. Needs the lake's Spark session once, to find the tables;
        reads go through deltalake as always."""
        if lake.exists(GOLD_SESSION_MODEL):
            kwargs.setdefault("session_model_location", lake.location(GOLD_SESSION_MODEL))
        return cls(lake.location(TABLE), **kwargs)

    @property
    def version(self) -> int:
        """The table version being served."""
        return self._snapshot.version

    @property
    def users(self) -> int:
        """Users with a list in the served version."""
        return len(self._snapshot.offsets)

    def refresh(self) -> bool:
        """Load the table's newest version if it moved; True when a new version was loaded."""
        with self._lock:
            self._checked = time.monotonic()
            self._table.update_incremental()
            if self._session_table is None:
                self._session_table = _open(self._session_uri, self._options)
            else:
                self._session_table.update_incremental()
            session_version = self._session_table.version() if self._session_table else None
            export_moved = self._table.version() != self._snapshot.version
            if not export_moved and session_version == self._session_version:
                return False
            model = (_latest_model(self._session_table) if session_version != self._session_version
                     else self._snapshot.session_model)
            # Only the session model moved: the loaded lists stay, with the new weights.
            self._snapshot = (_load(self._table, model) if export_moved
                              else dataclasses.replace(self._snapshot, session_model=model))
            self._session_version = session_version
            return True

    def _maybe_refresh(self) -> None:
        interval = self.refresh_interval_s
        if interval is not None and time.monotonic() - self._checked >= interval:
            self.refresh()

    def feed(self, user_id: str, n: int | None = None, session: Session | None = None) -> list[dict]:
        """The user's feed (ranks 1..), at most ``n`` items (None: all); an unknown user gets
        the trending fallback (rows with ``source = "fallback"``).

        ``session``: what the user did in the current session (a
        :class:`foryou.rerank.session.Session`, e.g. ``Session.from_short_term`` of the
        user's ``gold.user_short_term`` row). The list is then re-ordered by the export's
        ``gold.session_model`` (items the session saw dropped, engaged tags and creators
        lifted, tired ones pushed down) and ranks renumbered; without a session model only the
        seen items are dropped.
        """
        if n is not None and n < 0:
            raise ValueError(f"feed: n must be >= 0, got {n}")
        self._maybe_refresh()
        snap = self._snapshot
        span = snap.offsets.get(user_id)
        if span is not None and session:
            return snap.reranked(user_id, span[0], span[1], session, n)
        if span is None:
            rows = snap.fallback if n is None else snap.fallback[:n]
            model = snap.model_version[0] if len(snap.model_version) else None
            generated = snap.generated_at[0] if len(snap.generated_at) else None
            return [{USER_ID: user_id, **r, "model_version": model, "generated_at": generated}
                    for r in rows]
        start, stop = span
        return snap.rows(user_id, start, stop if n is None else min(stop, start + n))

    def feed_for_raw_id(self, raw_user_id: str, key: bytes, n: int | None = None) -> list[dict]:
        """The feed of a raw (not yet pseudonymised) user id, pseudonymised with ``key``
        (the pipeline's key, ``foryou.privacy.pseudonyms.load_key``)."""
        return self.feed(pseudonymise(raw_user_id, key), n)

    def is_known(self, user_id: str) -> bool:
        """Whether the served version holds a list for the user."""
        return user_id in self._snapshot.offsets

    def generated_at(self) -> dt.datetime | None:
        """When the served lists were generated (the newest generated_at)."""
        snap = self._snapshot
        return max(snap.generated_at) if len(snap.generated_at) else None
