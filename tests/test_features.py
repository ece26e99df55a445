"""The feature store: hand-computed values, no leakage, incremental = full recompute,
vocabulary stability, negative sampling, bot detection, content vectors.

One tiny world (tests/features_world.py) is written to a lake and built day by day
(as_of D2 through the ``foryou features`` job, then D3 incrementally) once per module.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import pytest
from pyspark.sql import functions as F

import features_world as w
from conftest import TEST_SETTINGS
from foryou.config import load_config
from foryou.features import columns as C
from foryou.features.bots import detection_quality
from foryou.features.build import State, build_day, compute_state, examples_of, read_state
from foryou.features.examples import continued, sample_negatives, split_of
from foryou.features.inputs import Inputs, Window, read_inputs
from foryou.features.items import text_features
from foryou.lake import Lake, table
from foryou_jobs import features as features_job

SETTINGS = TEST_SETTINGS + ["features.smoothing_views=2.0", "features.vocab_min_count=2"]
STATE_KEYS = {C.USER_FEATURES: ("user_id",), C.USER_AFFINITIES: ("user_id", "kind", "key"),
              C.ITEM_FEATURES: ("content_id",), C.VOCABULARIES: ("kind", "token")}
# Columns of an example that are not features: the outcome of the impression itself.
LABELS = set(C.LABEL_COLUMNS)


def _config(root):
    return load_config(overrides=SETTINGS + [f"lake.root={root}"])


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    """Lake A: the tiny world, features built for as_of D2 (job) and D3 (incremental)."""
    root = tmp_path_factory.mktemp("features") / "lake"
    config = _config(root)
    lake = Lake(spark, config)
    w.write_world(spark, lake)
    argv = ["--run-date", str(w.D2)] + [a for s in SETTINGS + [f"lake.root={root}"] for a in ("--set", s)]
    assert features_job.main(argv) == 0
    result = build_day(lake, config.features, w.D3)
    assert result.window == Window(w.D3, w.D2)
    return lake, config


def _rows(df, key) -> dict:
    return {tuple(r[k] for k in key): r.asDict(recursive=True) for r in df.collect()}


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def _diff(a: dict, b: dict, ignore=()) -> list[str]:
    """Keys and columns where two keyed row sets differ (empty when equal)."""
    out = [f"{k}: only in one side" for k in set(a) ^ set(b)]
    for k in set(a) & set(b):
        out += [f"{k}.{c}: {a[k][c]!r} != {b[k][c]!r}" for c in a[k]
                if c not in ignore and not _close(a[k][c], b[k][c])]
    return out


def test_tiny_world_features_equal_hand_computed_values(world):
    lake, _ = world
    users = _rows(lake.read(C.USER_FEATURES, partitions=[w.D3]), ("user_id",))
    u1 = users[("u1",)]
    # Events before D3: D1 impression, view c1 (20 s), like c1, view c2 (1 s), follow k1 on c2;
    # D2 view c1 (30 s), complete_view c1.
    assert (u1["events"], u1["views"], u1["likes"], u1["completes"], u1["follows"]) == (7, 3, 1, 1, 1)
    assert u1["watch_ms"] == 51_000 and u1["active_days"] == 2
    assert u1["engagement"] == 9.0  # D1: view 1 + like 2 + view 1 + follow 3; D2: view 1 + complete 1
    assert u1["engagement_decayed"] == pytest.approx(7 * math.exp(-0.2) + 2 * math.exp(-0.1))
    assert (u1["sessions"], u1["avg_session_s"], u1["contents_per_session"]) == (2, 60.5, 1.5)
    assert u1["recent_content_ids"] == ["c1", "c2"] and u1["recent_tags"] == ["t1", "t2"]
    # Tag weights: c1 (t1, t2) 3 + 2 = 5, c2 (t2) 1 + 3 = 4.
    assert u1["tag_share"] == pytest.approx({"t1": 5 / 14, "t2": 9 / 14})
    assert u1["interest_short"] == pytest.approx({"t1": 0.5, "t2": 0.5})  # D2 only: c1
    mid_t1 = 3 * math.exp(-2 / 7) + 2 * math.exp(-1 / 7)
    mid_t2 = mid_t1 + 4 * math.exp(-2 / 7)
    assert u1["interest_mid"] == pytest.approx({"t1": mid_t1 / (mid_t1 + mid_t2),
                                                "t2": mid_t2 / (mid_t1 + mid_t2)})
    # Last interaction with t2 and k1: D2 09:00:31, i.e. 14:59:29 before D3.
    assert u1["top_tag_days"]["t2"] == pytest.approx(53_969 / 86_400)
    assert u1["top_creator_days"] == pytest.approx({"k1": 53_969 / 86_400})
    assert u1["followed_creators"] == ["k1"]
    # The overnight pause (82,710 s) is not part of the pace of activity.
    assert (u1["gaps"], u1["gap_sum_s"]) == (4, 25 + 30 + 30 + 31)
    assert u1["blind_engagements"] == 1 and u1["blind_share"] == 0.5  # the follow after a 1 s view
    u2 = users[("u2",)]
    assert u2["skip_rate"] == 0.5 and u2["blind_share"] == 1.0  # liked c2 without viewing it
    # Served before D3: r1 c1 (t1, t2; k1) with a valid play, r5 c2 (t2; k1) skipped.
    assert u1["tag_impressions"] == {"t1": 1, "t2": 2} and u1["tag_views"] == {"t1": 1, "t2": 1}
    assert u1["view_rate"] == 0.5
    affinities = _rows(lake.read(C.USER_AFFINITIES, partitions=[w.D3]), ("user_id", "kind", "key"))
    assert [(affinities[("u1", "tag", t)]["impressions"], affinities[("u1", "tag", t)]["views"])
            for t in ("t1", "t2")] == [(1, 1), (2, 1)]
    assert (affinities[("u1", "creator", "k1")]["impressions"],
            affinities[("u1", "creator", "k1")]["views"]) == (2, 1)

    items = _rows(lake.read(C.ITEM_FEATURES, partitions=[w.D3]), ("content_id",))
    c1 = items[("c1",)]
    assert (c1["impressions"], c1["views"], c1["likes"], c1["skips"]) == (2, 1, 1, 1)
    # Global like prior 2 likes / 1 view; 2 pseudo-views: (1 + 2 * 2) / (1 + 2).
    assert c1["like_rate"] == pytest.approx(5 / 3)
    # 1 view in 2 impressions; the global rate 1 / 4 (r1, r2, r3, r5), 2 pseudo-impressions.
    assert c1["view_rate"] == pytest.approx((1 + 2 * 0.25) / (2 + 2))
    assert c1["avg_watch_ratio"] == pytest.approx(2 / 3)
    assert c1["daily_views"][:3] == [0, 1, 0] and c1["growth_rate"] == 1.0
    assert c1["age_days"] == 2.5 and c1["duration_bucket"] == 3
    assert (c1["creator_followers"], c1["creator_items"]) == (1, 2)
    assert c1["hashtags"] == ["cats", "funny"]
    assert c1["hashtag_popularity"] == pytest.approx((math.log(2) + math.log(3)) / 2)
    assert sum(x * x for x in c1["content_vector"]) == pytest.approx(1.0, abs=1e-5)
    assert ("c3",) in items  # uploaded D2: known at D3 ...
    assert ("c3",) not in _rows(lake.read(C.ITEM_FEATURES, partitions=[w.D2]), ("content_id",))

    examples = _rows(lake.read(C.EXAMPLES, partitions=[w.D3]), ("request_id",))
    r4 = examples[("r4",)]
    assert r4["user_events"] == 7 and r4["item_views"] == 0 and r4["click"] == 1
    assert r4["item_index"] == 0  # c3 had no events before D3: out of vocabulary
    assert r4["hour_sin"] == pytest.approx(math.sin(2 * math.pi * 8 / 24))
    assert r4["dow_cos"] == pytest.approx(math.cos(2 * math.pi * 4 / 7))  # 2024-05-03 is a Friday
    assert r4["position"] == 0 and r4["device_index"] > 0 and r4["split"] == "train"
    assert r4["interest_match_short"] == 0.0 and r4["interest_match_mid"] == 0.0  # c3 is t3
    # Rates on a tag and creator never served are the user's own rate (0.5).
    assert (r4["tag_impressions"], r4["tag_view_rate"], r4["creator_view_rate"]) == (0.0, 0.5, 0.5)
    # c1 again: t1 + t2 served 3 times with 2 valid plays, k1 twice with one; 5 pseudo-impressions
    # at 0.5 (features.rate_prior).
    r6 = examples[("r6",)]
    assert r6["tag_impressions"] == 3.0 and r6["user_view_rate"] == 0.5
    assert r6["tag_view_rate"] == pytest.approx((2 + 5 * 0.5) / (3 + 5))
    assert r6["creator_view_rate"] == pytest.approx((1 + 5 * 0.5) / (2 + 5))
    # u1 was served t1 once and t2 twice, the mix of everyone's served mentions (t1 2, t2 4):
    # no lift. c3's t3 was never served to anyone: neutral.
    assert r6["tag_exposure_lift"] == pytest.approx(0.0, abs=1e-12)
    assert r4["tag_exposure_lift"] == 0.0


def _modified_world() -> tuple[list, list]:
    """World B: on D3 one event changed, one added, one deleted, one label changed."""
    events = [e for e in w.EVENTS if e["event_id"] != "e12"]
    events = [{**e, "watch_ms": 5_000} if e["event_id"] == "e13" else e for e in events]
    events.append(w.event("e14", "like", "u2", w.D3, "09:00:00", "c1"))
    impressions = [{**i, "click": 0} if i["request_id"] == "r4" else i for i in w.IMPRESSIONS]
    return events, impressions


def _state_rows(state: State) -> dict:
    return {name: _rows(df, STATE_KEYS[name]) for name, df in
            ((C.USER_AFFINITIES, state.affinities), (C.USER_FEATURES, state.users),
             (C.ITEM_FEATURES, state.items), (C.VOCABULARIES, state.vocab))}


def _assert_same_state(full: dict, incremental: dict) -> None:
    """Every state table of ``incremental`` equals ``full``'s (rows from :func:`_state_rows`)."""
    for name in full:
        # Vocabulary indices depend on the admission order (stable by design), counts do not.
        ignore = {"index", "first_as_of_date"} if name == C.VOCABULARIES else set()
        assert full[name] and not _diff(full[name], incremental[name], ignore), \
            (name, _diff(full[name], incremental[name], ignore))


def _persist(name, df):
    # Materialise and cut the lineage, as the write and read-back of build_day does: a
    # state rolled over in-memory states would otherwise carry every earlier day's plan.
    return df.localCheckpoint()


def _day_state(lake: Lake, config, as_of: dt.date, previous: State | None = None,
               since: dt.date | None = None) -> State:
    """The state of ``as_of`` computed in memory (nothing written): from ``previous`` (the
    state of ``since``) or, without it, from the whole history."""
    window = Window(as_of, since)
    return compute_state(read_inputs(lake, window), previous, window, config.features, _persist)


def test_no_leakage_from_a_changed_day(world, spark, tmp_path):
    lake_a, _ = world
    config = _config(tmp_path / "lake")
    lake_b = Lake(spark, config)
    events, impressions = _modified_world()
    w.write_world(spark, lake_b, events=events, impressions=impressions)
    day = w.D3

    # World B built the way A was (D2 from the history, then day by day), in memory.
    state_b = {w.D2: _day_state(lake_b, config, w.D2)}
    state_b[day] = _day_state(lake_b, config, day, state_b[w.D2], w.D2)
    # No feature with as_of_date <= D changes: they use events strictly before D.
    for d in (w.D2, day):
        got, want = _state_rows(state_b[d]), _state_rows(read_state(lake_a, d))
        for name in got:
            assert got[name] and not _diff(got[name], want[name]), (d, name, _diff(got[name], want[name]))
    # No feature of any example changes: before D nothing at all, on D only the labels.
    key = ("request_id", "position")
    for d, ignore in ((w.D2, set()), (day, LABELS)):
        got = _rows(examples_of(lake_b, state_b[d], d, config.features), key)
        want = _rows(lake_a.read(C.EXAMPLES, partitions=[d]), key)
        assert got and not _diff(got, want, ignore), _diff(got, want, ignore)
        if d == day:
            assert got[("r4", 0)]["click"] == 0 != want[("r4", 0)]["click"]  # the label did change
    # The change does reach as_of D+1 (a window shifted a day late would miss it): u1's D3
    # view now lasts 5 s, u2 liked c1 on D3.
    after = _rows(_day_state(lake_b, config, day + dt.timedelta(days=1), state_b[day], day).users,
                  ("user_id",))
    before = _rows(read_state(lake_a, day).users, ("user_id",))
    assert after[("u1",)]["watch_ms"] == before[("u1",)]["watch_ms"] + 5_000
    assert after[("u2",)]["likes"] == before[("u2",)]["likes"] + 1


def test_incremental_equals_full_recompute(world):
    lake, config = world
    _assert_same_state(_state_rows(_day_state(lake, config, w.D3)), _state_rows(read_state(lake, w.D3)))


def test_a_user_absent_from_the_window_rolls_forward_as_the_full_recompute_gives(spark, tmp_path):
    """u3 acts on D1 only (views, a like, a follow, served impressions, a session). Rolled
    forward from D2 to D4, a window in which u3 has no row, u3's state only ages: it must
    equal the state computed from the whole history, as must everyone else's. (The module's
    world has every user active in each window, so its equality test never sees this.)"""
    config = _config(tmp_path / "lake")
    lake = Lake(spark, config)
    u3 = [w.event("f1", "impression", "u3", w.D1, "15:00:00", "c1"),
          w.event("f2", "view", "u3", w.D1, "15:00:04", "c1", watch_ms=25_000),
          w.event("f3", "like", "u3", w.D1, "15:00:30", "c1"),
          w.event("f4", "view", "u3", w.D1, "15:01:00", "c2", watch_ms=9_000),
          w.event("f5", "follow", "u3", w.D1, "15:01:10", "c2", creator="k1")]
    served = [w.impression("r7", 0, "u3", "c1", w.D1, "15:00:00", click=1, like=1, watch_ms=25_000,
                           watch_ratio=25 / 30),
              w.impression("r7", 1, "u3", "c2", w.D1, "15:00:50", click=1, watch_ms=9_000, watch_ratio=0.9)]
    session = {**w.SESSIONS[0], "session_id": "s3", "user_id": "u3",
               "session_start": w.ts(w.D1, "15:00:00"), "session_end": w.ts(w.D1, "15:01:10")}
    w.write_world(spark, lake, events=w.EVENTS + u3, impressions=w.IMPRESSIONS + served,
                  sessions=w.SESSIONS + [session])

    d2 = _day_state(lake, config, w.D2)
    # Rolled forward two days at once: the window [D2, D4) holds nothing of u3's.
    window = read_inputs(lake, Window(w.D4, w.D2))
    assert window.events.where(F.col("user_id") == "u3").isEmpty()
    assert window.impressions.where(F.col("user_id") == "u3").isEmpty()
    assert window.sessions.where(F.col("user_id") == "u3").isEmpty()
    d4 = _day_state(lake, config, w.D4, d2, w.D2)
    incremental = _state_rows(d4)
    _assert_same_state(_state_rows(_day_state(lake, config, w.D4)), incremental)

    # What ageing changed for u3 between D2 and D4, and what it kept.
    before = _rows(d2.users, ("user_id",))[("u3",)]
    after = incremental[C.USER_FEATURES][("u3",)]
    assert after["as_of_date"] == w.D4 and after["likes"] == before["likes"] == 1
    assert after["engagement_decayed"] < before["engagement_decayed"]
    assert after["top_tag_days"] == pytest.approx({k: v + 2 for k, v in before["top_tag_days"].items()})
    assert before["interest_short"] and after["interest_short"] == {}
    assert after["interest_mid"] == pytest.approx(before["interest_mid"])
    assert after["followed_creators"] == ["k1"]


def test_vocabulary_indices_are_stable_and_appended(world):
    lake, _ = world
    days = {d: _rows(lake.read(C.VOCABULARIES, partitions=[d]), ("kind", "token")) for d in (w.D2, w.D3)}
    old, new = days[w.D2], days[w.D3]
    assert any(r["index"] for r in old.values())
    for k, row in old.items():
        if row["index"] is not None:
            assert new[k]["index"] == row["index"], k
            assert new[k]["first_as_of_date"] == row["first_as_of_date"]
    for kind in C.VOCAB_KINDS:
        indices = [r["index"] for k, r in new.items() if k[0] == kind and r["index"] is not None]
        assert len(indices) == len(set(indices)) and all(i >= 1 for i in indices), kind
        top = max((r["index"] for k, r in old.items() if k[0] == kind and r["index"]), default=0)
        added = [r["index"] for k, r in new.items() if k[0] == kind and r["index"]
                 and (k not in old or old[k]["index"] is None)]
        assert all(i > top for i in added), kind
    # c2: served once before D2 and twice before D3; vocab_min_count is 2.
    assert old[("item", "c2")]["index"] is None and new[("item", "c2")]["index"] == 2
    assert new[("item", "c3")]["index"] is None  # never served before D3


def test_recent_history_keeps_each_items_newest_entry(spark):
    """An item in both the previous history and the window appears once, at its newest
    time; the list is the n newest distinct items, newest first, ties by content id."""
    from foryou.features.users import _recent

    t = lambda h: dt.datetime(2024, 5, 2, h, tzinfo=dt.timezone.utc)
    history = [(t(1), "c1", ["a"]), (t(5), "c1", ["a"]), (t(2), "c2", None), (t(3), "c3", ["b"]),
               (t(3), "c0", ["b"]), (t(4), "c2", ["c"]), (t(0), "c4", ["d"])]
    frame = spark.createDataFrame(
        [("u1", history, None, None), ("u2", [], None, None), ("u3", None, None, None)],
        "user_id string, _history array<struct<ts: timestamp, content_id: string, "
        "tags: array<string>>>, _first_ts timestamp, _prev_last_ts timestamp")
    rows = {r.user_id: r for r in _recent(frame, 3).collect()}
    assert rows["u1"].recent_content_ids == ["c1", "c2", "c3"]  # c3 beats c0 on the tie at 3h
    assert [x.timestamp() for x in rows["u1"].recent_event_ts] == [t(h).timestamp() for h in (5, 4, 3)]
    assert rows["u1"].recent_content_tags == [["a"], ["c"], ["b"]]
    assert rows["u1"].recent_tags == ["a", "c", "b"]
    assert rows["u2"].recent_content_ids == [] and rows["u3"].recent_content_ids == []


def test_exposure_lift_compares_the_users_served_tags_with_the_mix_of_all(spark):
    """Served mentions: a 3 (c1 three times), b 4 (c1 three times, c2 once); c3's tag c was
    never served. A user served b 4 times (of 4 mentions) has lift 4/3 on b and 5/9 on a
    (with 5 pseudo-mentions at the mix); a tag nobody was served, or a user with no
    history, is neutral (0)."""
    from foryou.features.examples import exposure_lift, tag_mix

    items = spark.createDataFrame(
        [("c1", ["a", "b"], 3), ("c2", ["b"], 1), ("c3", ["c"], 0)],
        "content_id string, tags array<string>, impressions long")
    mix = {r.token: r.share for r in tag_mix(items).collect()}
    assert mix == pytest.approx({"a": 3 / 7, "b": 4 / 7})
    rows = spark.createDataFrame(
        [("u1", "c1", {"b": 4}, 4, ["a", "b"], [3 / 7, 4 / 7]),
         ("u1", "c3", {"b": 4}, 4, ["c"], [None]),
         ("u9", "c2", None, None, ["b"], [4 / 7])],
        "user_id string, content_id string, served map<string,long>, mentions long, "
        "tags array<string>, mix array<double>")
    slots, lift = exposure_lift("served", "mentions", "tags", "mix", max_tags=2, prior=5.0)
    got = {(r.user_id, r.content_id): r.tag_exposure_lift
           for r in rows.select("*", *slots).select("user_id", "content_id", lift).collect()}
    assert got[("u1", "c1")] == pytest.approx((math.log(5 / 9) + math.log(4 / 3)) / 2)
    assert got[("u1", "c3")] == 0.0 and got[("u9", "c2")] == pytest.approx(0.0, abs=1e-12)


def test_continued_marks_impressions_the_session_went_on_after(spark):
    """The continuation label: the user's next impression of the day within the gap (by time,
    then position); the last one, one followed after a long pause, and rows of a log
    without impressions are not."""
    at = lambda h, m=0: dt.datetime(2024, 5, 1, h, m)  # noqa: E731
    rows = [("u1", "r1", 0, at(9), True), ("u1", "r1", 1, at(9), True),      # same request
            ("u1", "r2", 0, at(9, 20), True),                                 # 20 min later
            ("u1", "r3", 0, at(11), True),                                    # after a pause: new session
            ("u2", "r4", 0, at(10), True),                                    # alone
            ("u3", "x1", 0, at(10), False), ("u3", "x2", 0, at(10, 1), False)]  # interaction log
    df = spark.createDataFrame(rows, "user_id string, request_id string, position int, "
                                     "event_ts timestamp, has_impressions boolean")
    got = {(r["request_id"], r["position"]): r["c"]
           for r in df.select("request_id", "position", continued(30).alias("c")).collect()}
    assert got == {("r1", 0): 1, ("r1", 1): 1, ("r2", 0): 0, ("r3", 0): 0, ("r4", 0): 0,
                   ("x1", 0): None, ("x2", 0): None}
    assert {r["c"] for r in df.select(continued(120).alias("c")).where("request_id = 'r2'").collect()} == {1}


def test_negatives_are_popular_items_the_user_never_engaged_with(spark, config):
    cfg = config.features.model_copy(update={"negative_ratio": 3, "negative_pool_size": 50})
    schema = table(C.EXAMPLES).schema
    positives = spark.createDataFrame(
        [(f"q{i}", 0, f"u{i % 5}", f"c{i % 7}", w.ts(w.D1, "10:00:00"), False, "phone", "ios",
          "wifi", w.D1) for i in range(60)],
        "request_id string, position int, user_id string, content_id string, event_ts timestamp, "
        "has_impressions boolean, device_type string, os string, network_type string, event_date date")
    items = spark.createDataFrame([(f"c{i}", f"k{i % 3}", 100 if i == 10 else i % 4) for i in range(40)],
                                  "content_id string, creator_id string, views long")
    users = spark.createDataFrame([(f"u{u}", [f"c{20 + u}", "c0"]) for u in range(5)],
                                  "user_id string, recent_content_ids array<string>")
    negatives = sample_negatives(positives, items, users, cfg)
    rows = negatives.collect()
    engaged = {(f"u{i % 5}", f"c{i % 7}") for i in range(60)} | {(f"u{u}", c) for u in range(5)
                                                                   for c in (f"c{20 + u}", "c0")}
    assert not {(r.user_id, r.content_id) for r in rows} & engaged
    per_positive = Counter(r.request_id.split("#")[0] for r in rows)
    assert set(per_positive) == {f"q{i}" for i in range(60)} and max(per_positive.values()) <= 3
    assert len(rows) >= 0.9 * 60 * 3  # draws landing on engaged items are replaced by spare draws
    # Popularity-weighted: c10 (100 views) is drawn far more often than any other item.
    (top, n), (_, second) = Counter(r.content_id for r in rows).most_common(2)
    assert top == "c10" and n > 3 * second
    assert all(r.sampled_negative and r.click == 0 and r.like == 0 for r in rows)
    assert len({(r.request_id, r.position) for r in rows}) == len(rows)
    assert sorted(map(tuple, negatives.collect())) == sorted(map(tuple, rows))  # deterministic
    # Context columns ride along until the examples turn them into vocabulary indices.
    assert set(negatives.columns) <= set(schema.fieldNames()) | {C.DEVICE_TYPE, C.OS, C.NETWORK_TYPE}


def test_world_negatives_never_sample_a_positive(world):
    lake, _ = world
    examples = lake.read(C.EXAMPLES, partitions=[w.D3])
    sampled = examples.where(F.col(C.SAMPLED_NEGATIVE)).collect()
    assert sampled and all(r.request_id.startswith("i1#neg") for r in sampled)
    # u2 interacted with c1 that day and holds c2 in its history: only c3 is left to draw.
    assert {r.content_id for r in sampled} == {"c3"}


def _bot_world(spark):
    """Five scripted accounts like the same items in the same minute at a steady 10 s pace,
    without viewing them; three people browse and like what they watched."""
    rows = []
    for b in range(5):
        for i in range(40):
            rows.append(w.event(f"b{b}-{i}", "like", f"bot{b}", w.D1,
                                f"10:{(i * 10) // 60:02d}:{(i * 10) % 60:02d}", f"c{i % 3 + 1}"))
    clocks = ["08:00:00", "08:00:07", "08:03:40", "09:15:00", "09:15:30", "13:02:11",
              "13:30:00", "18:45:09", "18:45:50", "21:10:00", "21:12:33", "22:00:00"]
    for h in range(3):
        for i, clock in enumerate(clocks):
            item = f"c{(h + i) % 3 + 1}"
            rows.append(w.event(f"h{h}-{i}v", "view", f"human{h}", w.D1, clock, item, watch_ms=15_000))
            if i % 3 == 0:
                rows.append(w.event(f"h{h}-{i}l", "like", f"human{h}", w.D1,
                                    clock[:-2] + f"{int(clock[-2:]) + 5:02d}", item))
    return spark.createDataFrame(rows, w._schema("silver.events", rows[0]))


def test_engagement_farming_is_flagged(spark, config):
    cfg = config.features
    empty = lambda name: spark.createDataFrame([], table(name).schema)
    content = spark.createDataFrame([{**c, "updated_at": w.ts(w.D1, "00:00:00")} for c in w.CONTENT],
                                    table("silver.content").schema)
    window = Window(w.D2)
    inputs = Inputs(_bot_world(spark), empty("silver.impressions"), empty("silver.sessions"), content)
    users = compute_state(inputs, None, window, cfg).users
    flags = {r.user_id: r for r in users.collect()}
    assert all(flags[f"bot{b}"].suspected_bot for b in range(5)), {u: r.anomaly_score for u, r in flags.items()}
    assert not any(flags[f"human{h}"].suspected_bot for h in range(3))
    assert flags["bot0"].burst_share == 1.0 and flags["bot0"].blind_share == 1.0
    truth = spark.createDataFrame([(f"bot{b}", True) for b in range(5)] + [("human0", False), ("human1", False)],
                                  "user_id string, is_bot boolean")
    quality = detection_quality(users, truth)
    assert quality["precision"] == 1.0 and quality["recall"] == 1.0 and quality["tp"] == 5


def test_a_small_farm_working_in_bursts_hours_apart_is_flagged(spark, config):
    """Three scripted accounts (fewer than a 'crowd' burst needs) like items 2 s apart in two
    bursts six hours apart: the pauses between bursts must not hide their metronome pace."""
    rows = [w.event(f"f{b}-{burst}-{i}", "like", f"farm{b}", w.D1,
                    f"{hour}:{(i * 2) // 60:02d}:{(i * 2) % 60:02d}", f"c{i % 3 + 1}")
            for b in range(3) for burst, hour in enumerate(("10", "16")) for i in range(15)]
    humans = _bot_world(spark).where(F.col("user_id").startswith("human"))
    events = humans.unionByName(spark.createDataFrame(rows, humans.schema))
    empty = lambda name: spark.createDataFrame([], table(name).schema)
    content = spark.createDataFrame([{**c, "updated_at": w.ts(w.D1, "00:00:00")} for c in w.CONTENT],
                                    table("silver.content").schema)
    inputs = Inputs(events, empty("silver.impressions"), empty("silver.sessions"), content)
    users = {r.user_id: r for r in compute_state(inputs, None, Window(w.D2), config.features).users.collect()}
    assert all(users[f"farm{b}"].suspected_bot for b in range(3)), {u: r.anomaly_score for u, r in users.items()}
    assert users["farm0"].gaps == 28 and users["farm0"].gap_cv < 0.01
    assert not any(users[f"human{h}"].suspected_bot for h in range(3))


def test_content_vector_takes_visual_vectors_when_present(spark, config):
    cfg = config.features
    rows = [{**c, "updated_at": w.ts(w.D1, "00:00:00")} for c in w.CONTENT]
    plain = spark.createDataFrame(rows, table("silver.content").schema)
    visual = plain.withColumn("visual_vector", F.when(F.col("content_id") == "c1", F.array(
        *[F.lit(float(i)) for i in range(8)])).cast("array<float>"))
    a = {r.content_id: r for r in text_features(plain, cfg).collect()}
    b = {r.content_id: r for r in text_features(visual, cfg).collect()}
    for r in b.values():
        assert len(r.content_vector) == cfg.vector_dim and len(r.text_vector) == cfg.vector_dim
        assert sum(x * x for x in r.content_vector) == pytest.approx(1.0, abs=1e-5)
    assert a["c1"].content_vector != b["c1"].content_vector
    assert a["c2"].content_vector == b["c2"].content_vector
    assert sum(abs(x) for x in a["c3"].text_vector) > 0  # "news of the day"
    # No catalogue at all (an interaction log): an empty frame of the same columns, not
    # Spark's "IDF: Haven't seen any document yet".
    none = text_features(plain.limit(0), cfg)
    assert none.columns == text_features(plain, cfg).columns and none.count() == 0


def test_split_markers_by_date(config):
    cfg = config.features.model_copy(update={"validation_start": w.D2, "test_start": w.D4})
    assert [split_of(d, cfg) for d in (w.D1, w.D2, w.D3, w.D4)] == ["train", "validation", "validation", "test"]
    assert split_of(w.D4, config.features) == "train"  # no markers: everything trains
