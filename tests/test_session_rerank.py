"""The in-session re-ranker: session state, features, the re-ordering and the offline fit."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from foryou.lake.vocabulary import INTEREST_WEIGHTS
from foryou.rerank.session import (
    FEATURES, Session, SessionModel, events_of, features, fit, replay, rerank,
)

MODEL = SessionModel({"tag_interest": 1.0, "creator_interest": 0.5, "tag_shown": -0.4})


def test_session_state_sums_the_interest_weights_and_counts_what_it_showed():
    s = Session()
    assert not s
    s.record("v1", ["cook", "food"], "c1", ["view", "like"])
    s.record("v2", ["cars"], "c2", ["skip"])
    assert s.seen == {"v1", "v2"}
    assert s.tag_interest["cook"] == INTEREST_WEIGHTS["view"] + INTEREST_WEIGHTS["like"]
    assert s.tag_interest["cars"] == INTEREST_WEIGHTS["skip"]
    assert s.creator_interest["c1"] == pytest.approx(1.2) and s.creator_interest["c2"] == -0.5
    assert s.tag_shown == {"cook": 1.0, "food": 1.0, "cars": 1.0}
    x = features(s, [["cook", "pets"], ["cars"], []], ["c1", "c9", None])
    assert x.shape == (3, len(FEATURES))
    # cook: log1p(1.2), pets: 0 -> their mean; creator c1: log1p(1.2); shown: mean of log1p(1), 0.
    assert x[0].tolist() == pytest.approx([math.log1p(1.2) / 2, math.log1p(1.2), math.log(2) / 2])
    assert x[1].tolist() == pytest.approx([-math.log1p(0.5), 0.0, math.log(2)])
    assert x[2].tolist() == [0.0, 0.0, 0.0]
    assert events_of({"click": 1, "complete": True, "skip": 0}) == ["view", "complete_view"]


def test_an_empty_session_keeps_the_exported_order_and_a_session_moves_items():
    ids = ["a", "b", "c", "d"]
    tags = [["cars"], ["pets"], ["cook"], ["cook"]]
    creators = ["c1", "c2", "c3", "c4"]
    assert rerank(Session(), MODEL, ids, tags, creators).tolist() == [0, 1, 2, 3]
    s = Session()
    s.record("z", ["cook"], "c9", ["view", "like", "share"])  # the session wants cooking
    got = [ids[i] for i in rerank(s, MODEL, ids, tags, creators)]
    # c: -ln 3 + log1p(3.2) - 0.4 ln 2 = 0.06 > a: 0 > d: -ln 4 + 1.43 - 0.28 = -0.23 > b: -ln 2
    assert got == ["c", "a", "d", "b"]
    s.record("b", ["pets"], "c2", ["skip"])                    # seen: dropped
    assert "b" not in [ids[i] for i in rerank(s, MODEL, ids, tags, creators)]
    # Weights of zero only drop what was seen.
    still = SessionModel({f: 0.0 for f in FEATURES})
    assert rerank(s, still, ids, tags, creators).tolist() == [0, 2, 3]


def test_the_model_round_trips_and_refuses_missing_weights():
    m = SessionModel({"tag_interest": 0.3, "creator_interest": -0.1, "tag_shown": 0.05}, 120, 0.01,
                     "2024-05-07")
    assert SessionModel.from_json(m.to_json()) == m
    with pytest.raises(ValueError, match="tag_shown"):
        SessionModel({"tag_interest": 1.0, "creator_interest": 0.0})


def test_a_short_term_row_gives_the_session_since_it_started():
    start = dt.datetime(2024, 5, 5, 12, 0)
    row = {"session_start": start, "session_tag_interest": {"cook": 2.0},
           "session_creator_interest": {"c1": 1.0},
           "last_items": [{"event_ts": start - dt.timedelta(hours=2), "content_id": "old"},
                          {"event_ts": start, "content_id": "v1"},
                          {"event_ts": start + dt.timedelta(minutes=1), "content_id": "v2"}]}
    s = Session.from_short_term(row, {"v1": ["cook"], "v2": ["cook", "cars"]})
    assert s.seen == {"v1", "v2"}
    assert s.tag_interest["cook"] == 2.0 and s.creator_interest["c1"] == 1.0
    assert s.tag_shown == {"cook": 2.0, "cars": 1.0}


def logged_sessions(n_sessions: int, seed: int) -> pd.DataFrame:
    """Sessions whose user wants one tag today (a hidden session mood, as in the world): plays
    of that tag are likelier, so the session's first plays reveal it."""
    rng = np.random.default_rng(seed)
    tags = ["cook", "cars", "pets", "sport", "music"]
    rows = []
    for s in range(n_sessions):
        mood = rng.integers(len(tags))
        for pos in range(12):
            t = rng.integers(len(tags))
            p = 0.6 if t == mood else 0.15
            click = rng.random() < p
            rows.append({"session": f"s{s}", "user_id": f"u{s % 40}", "position": pos,
                         "event_ts": pd.Timestamp("2024-05-05") + pd.Timedelta(seconds=30 * pos),
                         "content_id": f"v{rng.integers(300)}", "creator_id": f"c{rng.integers(50)}",
                         "tags": [tags[t]], "click": int(click), "complete": int(click and rng.random() < 0.5),
                         "skip": int(not click)})
    return pd.DataFrame(rows)


def test_replay_computes_each_impressions_features_before_its_outcome():
    frame = logged_sessions(3, seed=1)
    out = replay(frame)
    first = out.groupby("session").head(1)
    assert (first[list(FEATURES)] == 0).all().all()       # nothing seen before the first item
    s = out[out["session"] == "s0"].reset_index(drop=True)
    state = Session()
    for i, r in s.iterrows():
        assert s.loc[i, list(FEATURES)].tolist() == pytest.approx(
            features(state, [r["tags"]], [r["creator_id"]])[0].tolist())
        state.record(r["content_id"], r["tags"], r["creator_id"], events_of(r))


def test_fit_learns_that_a_tag_played_in_the_session_is_played_again():
    model = fit(logged_sessions(600, seed=2), label="click", seed=0)
    assert model.weights["tag_interest"] > 0.3
    assert model.auc_gain is not None and model.auc_gain > 0.01
    assert model.examples == 600 * 12
    with pytest.raises(ValueError, match="nothing to learn"):
        fit(logged_sessions(600, seed=2).assign(click=0))
