"""In-session re-ranking: a user's exported list re-ordered by what they did in this session.

The daily export cannot see the session's mood (today this user wants cooking), but the
session's first events reveal it. This module holds the small model that reacts to them, in
plain numpy so that the reader (:class:`foryou.serving.FeedReader`) runs it per request with no
JVM and the simulator (:mod:`foryou.simulator`) runs the very same code.

- **Session state** (:class:`Session`): per tag and per creator, the sum of
  :data:`foryou.lake.vocabulary.INTEREST_WEIGHTS` over the session's events (the definition
  ``gold.user_short_term`` keeps: likes, shares, completes up; skips, hides, reports down), the
  items shown per tag, and the items seen.
- **Features** of a candidate (:data:`FEATURES`, :func:`features`): the mean over its tags of
  the signed ``log1p`` of the session's tag interest, the same of its creator's, and the mean
  over its tags of ``log1p`` of the items the session has shown with the tag (what it tired of).
- **Score**: the exported order is the prior, ``-ln rank`` (rank 1 first; the export's DPP,
  caps and exploration stay in it), and the session moves an item by ``w . x``: the change in
  log-odds of a play the offline logistic model (:func:`fit`) puts on each feature. With an
  empty session the exported order comes back unchanged; seen items are dropped.
- **The model** (:class:`SessionModel`) is learned offline from logged impressions replayed in
  time order through the same :class:`Session` (no train/serve skew), with the logged position,
  the item's and the user's play rates as controls so the weights measure the session's own
  effect. The export stage writes it to ``gold.session_model`` beside the lists.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from foryou.lake.vocabulary import CONTENT_ID, CREATOR_ID, EVENT_TS, INTEREST_WEIGHTS, USER_ID

FEATURES = ("tag_interest", "creator_interest", "tag_shown")
# Impression labels (silver.impressions, the simulator's outcomes) -> the event each one is.
LABEL_EVENTS: dict[str, str] = {
    "click": "view", "complete": "complete_view", "replay": "replay", "like": "like",
    "comment": "comment", "share": "share", "follow": "follow", "save": "save",
    "skip": "skip", "hide": "hide", "report": "report",
}


def _slog(x: float) -> float:
    """Signed log1p: interest sums grow without bound; their effect should not."""
    return math.copysign(math.log1p(abs(x)), x)


@dataclass
class Session:
    """What a user did in the current session (keys: tag and creator ids, any hashable)."""

    tag_interest: dict = field(default_factory=lambda: defaultdict(float))
    creator_interest: dict = field(default_factory=lambda: defaultdict(float))
    tag_shown: dict = field(default_factory=lambda: defaultdict(float))
    seen: set = field(default_factory=set)

    def record(self, item: Hashable, tags: Iterable[Hashable], creator: Hashable | None,
               events: Iterable[str]) -> None:
        """One item shown in the session and the events the user made on it."""
        tags = list(tags)
        weight = sum(INTEREST_WEIGHTS.get(e, 0.0) for e in events)
        self.seen.add(item)
        for tag in tags:
            self.tag_shown[tag] += 1.0
            if weight:
                self.tag_interest[tag] += weight
        if weight and creator is not None:
            self.creator_interest[creator] += weight

    @classmethod
    def from_short_term(cls, row: Mapping, item_tags: Mapping[str, Sequence[str]] | None = None
                        ) -> "Session":
        """The session of one ``gold.user_short_term`` row (``session_tag_interest``,
        ``session_creator_interest``, ``last_items`` since ``session_start``); ``item_tags``
        gives the tags of the items seen (for the items shown per tag)."""
        s = cls()
        s.tag_interest.update(row.get("session_tag_interest") or {})
        s.creator_interest.update(row.get("session_creator_interest") or {})
        start = row.get("session_start")
        for item in row.get("last_items") or ():
            ts = item.get(EVENT_TS)
            if start is not None and ts is not None and ts < start:
                continue
            s.seen.add(item[CONTENT_ID])
        for content_id in s.seen:
            for tag in (item_tags or {}).get(content_id, ()) or ():
                s.tag_shown[tag] += 1.0
        return s

    def __bool__(self) -> bool:
        return bool(self.seen or self.tag_interest or self.creator_interest)


def events_of(flags: Mapping[str, object]) -> list[str]:
    """The event types an impression's labels stand for (:data:`LABEL_EVENTS`)."""
    return [event for label, event in LABEL_EVENTS.items() if flags.get(label)]


def features(session: Session, tags: Sequence[Sequence[Hashable]], creators: Sequence[Hashable]
             ) -> np.ndarray:
    """``(n, len(FEATURES))``: each candidate's session features (see the module docstring)."""
    out = np.zeros((len(creators), len(FEATURES)))
    if not session:
        return out
    ti, ci, shown = session.tag_interest, session.creator_interest, session.tag_shown
    for i, (item_tags, creator) in enumerate(zip(tags, creators)):
        item_tags = [t for t in (item_tags if item_tags is not None else ()) if t is not None]
        if item_tags:
            out[i, 0] = sum(_slog(ti.get(t, 0.0)) for t in item_tags) / len(item_tags)
            out[i, 2] = sum(math.log1p(shown.get(t, 0.0)) for t in item_tags) / len(item_tags)
        if creator is not None:
            out[i, 1] = _slog(ci.get(creator, 0.0))
    return out


@dataclass(frozen=True)
class SessionModel:
    """The weights of :data:`FEATURES` (log-odds per unit) and what they were learned from."""

    weights: dict[str, float]
    examples: int = 0
    auc_gain: float | None = None  # held-out AUC with session features minus without
    trained_until: str | None = None

    def __post_init__(self):
        missing = [f for f in FEATURES if f not in self.weights]
        if missing:
            raise ValueError(f"session model lacks weight(s) for {missing}")

    @property
    def vector(self) -> np.ndarray:
        return np.array([self.weights[f] for f in FEATURES])

    def to_json(self) -> str:
        return json.dumps({"weights": self.weights, "examples": self.examples,
                           "auc_gain": self.auc_gain, "trained_until": self.trained_until})

    @classmethod
    def from_json(cls, text: str) -> "SessionModel":
        d = json.loads(text)
        return cls({k: float(v) for k, v in d["weights"].items()}, int(d.get("examples", 0)),
                   d.get("auc_gain"), d.get("trained_until"))


def rerank(session: Session, model: SessionModel, content_ids: Sequence[Hashable],
           tags: Sequence[Sequence[Hashable]], creators: Sequence[Hashable]) -> np.ndarray:
    """Indices of the list (given in exported rank order) in the session's order, items the
    session has seen left out. An empty session gives the exported order."""
    keep = np.array([c not in session.seen for c in content_ids], bool)
    prior = -np.log(np.arange(1, len(content_ids) + 1, dtype=np.float64))
    if not session:
        return np.nonzero(keep)[0]
    score = prior + features(session, tags, creators) @ model.vector
    order = np.argsort(-score, kind="stable")
    return order[keep[order]]


# --- learning the weights offline --------------------------------------------------------------

EXAMPLE_COLUMNS = ("session", EVENT_TS, "position", CONTENT_ID, CREATOR_ID, "tags", *LABEL_EVENTS)


def replay(impressions: pd.DataFrame) -> pd.DataFrame:
    """Each impression's session features as the session stood just before it.

    ``impressions`` has :data:`EXAMPLE_COLUMNS` (``session``: any id of the session the row
    belongs to); rows are replayed per session in ``event_ts`` (then ``position``) order through
    :class:`Session`. Returns the frame in that order with the :data:`FEATURES` columns added.
    """
    frame = impressions.sort_values(["session", EVENT_TS, "position"], kind="stable")
    out = np.zeros((len(frame), len(FEATURES)))
    labels = [c for c in LABEL_EVENTS if c in frame.columns]
    flags = frame[labels].fillna(0).astype(bool).to_numpy()
    sessions = frame["session"].to_numpy()
    items, creators, tags = (frame[CONTENT_ID].to_numpy(), frame[CREATOR_ID].to_numpy(),
                             frame["tags"].to_numpy())
    current, state = None, Session()
    for i in range(len(frame)):
        if sessions[i] != current:
            current, state = sessions[i], Session()
        item_tags = list(tags[i]) if tags[i] is not None else []
        out[i] = features(state, [item_tags], [creators[i]])[0]
        state.record(items[i], item_tags, creators[i],
                     [LABEL_EVENTS[c] for c, on in zip(labels, flags[i]) if on])
    return frame.assign(**{f: out[:, j] for j, f in enumerate(FEATURES)})


def fit(impressions: pd.DataFrame, label: str = "click", holdout: float = 0.2, seed: int = 0,
        trained_until: str | None = None) -> SessionModel:
    """Learn :class:`SessionModel` from logged impressions (:data:`EXAMPLE_COLUMNS`).

    A logistic regression (scikit-learn, L2) of ``label`` on the session features and three
    controls: ``ln(position + 1)`` (the logging policy's order), the item's and the user's
    smoothed log play rates in the training sessions (users are the session's ``user_id``
    column when present). Only the session weights are kept. ``auc_gain`` is the held-out AUC
    (sessions split by ``holdout``) of the model minus that of the controls alone.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    frame = replay(impressions)
    y = frame[label].fillna(0).astype(int).to_numpy()
    if len(frame) < 50 or y.min() == y.max():
        raise ValueError(f"session model: {len(frame)} impressions with label {label!r} all "
                         f"{'equal' if len(frame) else 'absent'}: nothing to learn from")
    rng = np.random.default_rng(seed)
    ids = frame["session"].unique()
    test_ids = set(rng.choice(ids, size=max(1, int(len(ids) * holdout)), replace=False)) \
        if len(ids) > 4 else set()
    test = frame["session"].isin(test_ids).to_numpy()
    train = frame[~test]
    prior = (y[~test].sum() + 1.0) / ((~test).sum() + 2.0)

    def rate(key: str) -> np.ndarray:
        if key not in frame.columns:
            return np.zeros(len(frame))
        g = train.groupby(key)[label].agg(["sum", "count"])
        s = frame[key].map(g["sum"]).fillna(0.0).to_numpy()
        n = frame[key].map(g["count"]).fillna(0.0).to_numpy()
        return np.log((s + 5 * prior) / (n + 5))

    controls = np.column_stack([np.log1p(frame["position"].fillna(0).to_numpy(np.float64)),
                                rate(CONTENT_ID), rate(USER_ID)])
    x = np.column_stack([frame[list(FEATURES)].to_numpy(), controls])
    full = LogisticRegression(C=1.0, max_iter=500).fit(x[~test], y[~test])
    gain = None
    if test.any() and 0 < y[test].sum() < test.sum():
        base = LogisticRegression(C=1.0, max_iter=500).fit(controls[~test], y[~test])
        gain = float(roc_auc_score(y[test], full.decision_function(x[test]))
                     - roc_auc_score(y[test], base.decision_function(controls[test])))
    weights = {f: float(w) for f, w in zip(FEATURES, full.coef_[0][:len(FEATURES)])}
    return SessionModel(weights, int(len(frame)), gain, trained_until)
