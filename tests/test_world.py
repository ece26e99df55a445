"""The synthetic world: calibration, the user model, and invariants of a generated tiny world."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from foryou.world import WorldConfig, ground_truth
from foryou.world.calibration import load_calibration
from foryou.world.dirty import DIRTY_KINDS
from foryou.world.generate import generate_world
from foryou.world.ids import IdFormat, hex_ids
from foryou.world.model import Items, UserModel
from foryou.world.vocabulary import EVENT_TYPES

SESSION_GAP = dt.timedelta(minutes=30)
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


# ---- config and calibration (no Spark) ------------------------------------------------------

def test_presets_scale_linearly_and_forbid_unknown_keys():
    tiny, small, large = (WorldConfig.preset(s) for s in ("tiny", "small", "large"))
    user_days = [c.n_users * c.days for c in (tiny, small, large)]
    # ~10^4, ~2*10^5, ~10^7 events at ~63 events per user-day
    assert [round(np.log10(63 * u), 1) for u in user_days] == pytest.approx([4.0, 5.3, 7.0], abs=0.15)
    assert WorldConfig.preset("tiny", seed=3).seed == 3
    with pytest.raises(ValidationError, match="n_user"):
        WorldConfig(n_user=5)
    with pytest.raises(ValueError, match="unknown world size"):
        WorldConfig.preset("huge")


def test_kuairand_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("FORYOU_KUAIRAND_DIR", raising=False)
    assert WorldConfig().kuairand_path().name == "kuairand_pure"
    assert WorldConfig().kuairand_path().is_absolute()
    monkeypatch.setenv("FORYOU_KUAIRAND_DIR", str(tmp_path))
    assert WorldConfig().kuairand_path() == tmp_path
    assert WorldConfig(kuairand_dir="/x/y").kuairand_path() == Path("/x/y")  # explicit wins


def test_calibration_bootstraps_from_kuairand():
    cfg = WorldConfig.preset("tiny")
    cal = load_calibration(str(cfg.kuairand_path()))
    real = pd.read_csv(cfg.kuairand_path() / "video_features_basic_pure.csv", usecols=["video_duration"])
    lo, hi = real["video_duration"].min(), real["video_duration"].max()
    draws = cal.sample_durations(np.random.default_rng(0), 10_000)
    assert lo <= draws.min() and draws.max() <= hi
    assert abs(np.median(draws) - real["video_duration"].median()) < 0.1 * real["video_duration"].median()
    tags = cal.sample_tag_sets(np.random.default_rng(0), 1_000)
    assert ((tags >= -1) & (tags < cal.n_tags)).all() and (tags[:, 0] >= 0).all()
    assert cal.tag_frequency.sum() == pytest.approx(1.0)
    assert "full_active" in cal.activity_degrees
    users = cal.sample_users(np.random.default_rng(0), 100)
    assert (users["follow_count"] >= 0).all() and len(users["activity"]) == 100


# ---- the user model (pure numpy) ------------------------------------------------------------

def _one_user(model: UserModel, rng, favourite: int = 0):
    users = model.new_users(rng, np.zeros(1, np.int8), np.full(model.n_tags, 1 / model.n_tags))
    users.interest[:] = 0.01 / (model.n_tags - 1)
    users.interest[0, favourite] = 0.99
    users.propensity[:] = 0.0
    sessions = model.start_sessions(rng, users, np.array([0]))
    sessions.mood[:] = 0.0
    sessions.tag_mood[:] = 1.0
    return users, sessions


def _items(tag: int, n: int, duration_ms: int = 30_000) -> Items:
    return Items(tags=np.tile([tag, -1, -1], (n, 1)), duration_ms=np.full(n, duration_ms),
                 quality=np.zeros(n), creator=np.arange(n))


def test_affinity_raises_click_probability_and_watch_time():
    rng = np.random.default_rng(1)
    model = UserModel(n_tags=8, activity_degrees=("full_active",))
    users, sessions = _one_user(model, rng)
    rows = np.zeros(20_000, np.int64)
    liked, other = _items(0, len(rows)), _items(5, len(rows))
    p_liked = model.probabilities(users, sessions, rows, liked)
    p_other = model.probabilities(users, sessions, rows, other)
    assert p_liked.affinity[0] > 0 > p_other.affinity[0]
    for name in ("p_click", "p_long_view", "p_complete", "p_like", "expected_watch_ms"):
        assert getattr(p_liked, name)[0] > getattr(p_other, name)[0], name
    assert p_liked.p_skip[0] < p_other.p_skip[0]
    watched = model.sample(rng, p_liked, liked).watch_ms.mean()
    skipped = model.sample(rng, p_other, other).watch_ms.mean()
    assert watched > 1.5 * skipped
    # sampled frequencies match the closed-form probabilities
    out = model.sample(rng, p_liked, liked)
    assert out.click.mean() == pytest.approx(p_liked.p_click[0], abs=0.02)
    assert out.long_view.mean() == pytest.approx(p_liked.p_long_view[0], abs=0.02)
    assert out.watch_ms.mean() == pytest.approx(p_liked.expected_watch_ms[0], rel=0.05)


def test_labels_follow_kuairand_definitions():
    rng = np.random.default_rng(2)
    model = UserModel(n_tags=4, activity_degrees=("full_active",))
    users, sessions = _one_user(model, rng)
    n = 30_000
    durations = rng.choice([5_000, 6_500, 12_000, 30_000, 200_000], n)
    items = Items(tags=np.tile([0, -1, -1], (n, 1)), duration_ms=durations, quality=np.zeros(n),
                  creator=np.arange(n))
    out = model.sample(rng, model.probabilities(users, sessions, np.zeros(n, np.int64), items), items)
    play, d = out.play_ms, durations
    assert (out.click == np.where(d <= 7_000, play >= d, play > 7_000)).all()
    assert (out.long_view == (play >= np.minimum(d, 18_000))).all()
    assert (out.complete == (play >= d)).all()
    assert (out.watch_ms >= play).all() and (out.watch_ms[~out.replay] == play[~out.replay]).all()
    assert not (out.like & ~out.click).any() and not (out.hide & ~out.skip).any()


def test_satiation_tires_a_user_of_a_topic_and_recovers_with_time():
    from foryou.world.model import UserModelParams

    rng = np.random.default_rng(4)
    model = UserModel(n_tags=8, activity_degrees=("full_active",), params=UserModelParams(satiation=0.4))
    users, sessions = _one_user(model, rng)
    probe = _items(0, 1)
    fresh = model.affinity(users, sessions, np.zeros(1, np.int64), probe)[0]
    # Ten requests of the favourite topic, each item watched: its appeal falls.
    for _ in range(10):
        k = 6
        step = model.request(rng, users, sessions, np.zeros(k, np.int64), _items(0, k),
                             np.arange(k), np.ones((1, k), bool))
        assert step.shown.sum() >= 1
    assert users.satiation[0, 0] > 1.0 and (users.satiation[0, 1:] == 0).all()
    tired = model.affinity(users, sessions, np.zeros(1, np.int64), probe)[0]
    other = model.affinity(users, sessions, np.zeros(1, np.int64), _items(5, 1))[0]
    assert tired < fresh - 0.3
    assert other == pytest.approx(model.affinity(*_one_user(model, rng), np.zeros(1, np.int64), _items(5, 1))[0])
    # A new session and a night restore most of it (geometric decay).
    level = users.satiation[0, 0]
    model.start_sessions(rng, users, np.array([0]))
    assert users.satiation[0, 0] == pytest.approx(level * model.params.satiation_session_retention)
    model.end_day(rng, users, np.array([0.5]), np.zeros_like(users.interest))
    assert users.satiation[0, 0] == pytest.approx(
        level * model.params.satiation_session_retention * model.params.satiation_day_retention)
    # Strength 0: the same exposure leaves the appeal as it was (the model without satiation).
    calm = UserModel(n_tags=8, activity_degrees=("full_active",))
    u0, s0 = _one_user(calm, rng)
    before = calm.affinity(u0, s0, np.zeros(1, np.int64), probe)[0]
    calm.request(rng, u0, s0, np.zeros(6, np.int64), _items(0, 6), np.arange(6), np.ones((1, 6), bool))
    assert calm.affinity(u0, s0, np.zeros(1, np.int64), probe)[0] == before


def test_satiation_is_a_world_parameter():
    from foryou.world.generate import build_spec

    assert WorldConfig().satiation == 0.15
    assert build_spec(WorldConfig.preset("tiny", satiation=0.4)).user_model().params.satiation == 0.4
    with pytest.raises(ValidationError, match="satiation"):
        WorldConfig(satiation=-0.1)


def test_return_probability_rises_with_satisfaction():
    model = UserModel(n_tags=4, activity_degrees=("full_active", "middle_active"))
    users = model.new_users(np.random.default_rng(3), np.array([0, 0, 0, 1], np.int8), np.ones(4) / 4)
    users.satisfaction[:] = [0.0, 0.3, 0.8, 0.3]
    p = model.return_probability(users)
    assert p[0] < p[1] < p[2]
    assert p[3] < p[1]  # a less active degree returns less often at the same satisfaction


def test_blocks_are_deterministic_per_seed():
    from foryou.world.generate import build_spec
    from foryou.world.simulate import simulate_block

    cfg = WorldConfig.preset("tiny")
    first, again = simulate_block(build_spec(cfg), 1), simulate_block(build_spec(cfg), 1)
    other = simulate_block(build_spec(cfg.model_copy(update={"seed": cfg.seed + 1})), 1)
    assert all(np.array_equal(first[k], again[k], equal_nan=True) for k in first)
    assert not np.array_equal(first["eid"][:100], other["eid"][:100])
    assert len(np.unique(first["eid"])) + (first["dirty"] > 0).sum() >= len(first["eid"])


# ---- a generated tiny world -----------------------------------------------------------------

@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    cfg = WorldConfig.preset("tiny")
    out = tmp_path_factory.mktemp("world")
    counts = generate_world(spark, cfg, str(out))
    lines = []  # (arrival date, raw line)
    for path in sorted(out.glob("events/date=*/part-*.jsonl")):
        day = path.parent.name.split("=", 1)[1]
        lines += [(day, line) for line in path.read_text().splitlines()]
    truth = {name: pd.read_parquet(out / "truth" / name) for name in ("impressions", "dirty", "users")}
    return cfg, out, counts, lines, truth


def _records(lines):
    """Parsed records that are well formed (malformed lines skipped)."""
    out = []
    for day, line in lines:
        try:
            out.append((day, json.loads(line)))
        except json.JSONDecodeError:
            continue  # a malformed line: one of the dirty kinds, checked on its own
    return out


def _clean(world) -> pd.DataFrame:
    """The clean records of the world (no dirty kind), typed."""
    _, _, _, lines, truth = world
    dirty_ids = set(truth["dirty"]["event_id"])
    rows = [dict(rec, arrival=day) for day, rec in _records(lines)
            if rec.get("event_id") not in dirty_ids]
    df = pd.DataFrame(rows)
    df["ts"] = pd.to_datetime(df["event_ts"], format=ISO)
    return df


def test_world_layout_and_counts(world):
    cfg, out, counts, lines, truth = world
    assert 5_000 <= counts["events"] <= 20_000
    assert counts["events"] == len(lines)
    for folder in ("content", "users", "truth/items", "truth/tags"):
        assert any((out / folder).glob("part-*")), folder
    assert counts["bots"] >= 1 and truth["users"]["is_bot"].sum() == counts["bots"]
    assert len(truth["users"]) == cfg.n_users
    interest = np.stack(truth["users"]["interest"].to_numpy())
    assert np.allclose(interest.sum(axis=1), 1.0)
    assert counts["impressions"] == len(truth["impressions"])


def test_every_event_type_appears(world):
    _, _, counts, lines, _ = world
    seen = Counter(rec.get("event_type") for _, rec in _records(lines))
    for name in EVENT_TYPES:
        assert seen[name] > 0 and counts[f"event_{name}"] > 0, name
    records = [rec for _, rec in _records(lines)]
    by_type = defaultdict(list)
    for rec in records:
        by_type[rec.get("event_type")].append(rec)
    assert all("platform" in r for r in by_type["share"])
    assert all("reason" in r for r in by_type["report"])
    assert all(r.get("comment_text") for r in by_type["comment"])
    assert all("request_id" in r and "position" in r for r in by_type["impression"])
    assert sum("watch_ms" in r for r in by_type["view"]) >= 0.99 * len(by_type["view"])
    assert {r["device_type"] for r in records if "device_type" in r} <= {"phone", "tablet", "desktop"}


def test_every_dirty_kind_appears_and_shows_in_the_records(world):
    _, _, counts, lines, truth = world
    dirty = truth["dirty"]
    for kind in DIRTY_KINDS:
        assert (dirty["kind"] == kind).sum() > 0 and counts[f"dirty_{kind}"] > 0, kind
    assert 0.01 < len(dirty) / len(lines) < 0.04
    malformed = 0
    for _, line in lines:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            malformed += 1
    assert malformed == counts["dirty_malformed_json"]
    exact = Counter(line for _, line in lines)
    assert sum(n - 1 for n in exact.values()) == counts["dirty_exact_duplicate"]
    received = defaultdict(set)
    records = _records(lines)
    for _, rec in records:
        if "event_id" in rec:
            received[rec["event_id"]].add(rec.get("received_at"))
    resent = dirty.loc[dirty["kind"] == "resent_duplicate", "event_id"]
    assert all(len(received[e]) == 2 for e in resent)
    kinds = dict(zip(dirty["event_id"], dirty["kind"]))
    wrong = [rec for _, rec in records if kinds.get(rec.get("event_id")) == "wrong_type"]
    assert wrong and all(rec.get("position") == "abc" or rec.get("watch_ms") == "ten" for rec in wrong)
    bad_watch = [rec["watch_ms"] for _, rec in records if kinds.get(rec.get("event_id")) == "bad_watch_time"]
    assert bad_watch and all(w < 0 or w >= 10**10 for w in bad_watch)
    unknown = {rec.get("event_type") for _, rec in records
               if kinds.get(rec.get("event_id")) == "unknown_event_type"}
    assert unknown and not unknown & set(EVENT_TYPES)
    details = dict(zip(dirty["event_id"], dirty["detail"]))
    ts_forms = [(details[rec["event_id"]], rec["event_ts"]) for _, rec in records
                if kinds.get(rec.get("event_id")) == "ts_format" and "event_ts" in rec]
    assert ts_forms
    for form, value in ts_forms:
        if form == "epoch_s":
            assert isinstance(value, int) and 10**9 < value < 10**10
        elif form == "epoch_ms":
            assert isinstance(value, int) and 10**12 < value < 10**13
        elif form == "slash":
            assert dt.datetime.strptime(value, "%Y/%m/%d %H:%M:%S")
        else:
            assert dt.datetime.fromisoformat(value).utcoffset() == dt.datetime.fromisoformat(
                "2024-01-01T00:00:00" + form.removeprefix("offset")).utcoffset()
    future = [rec["event_ts"] for _, rec in records if kinds.get(rec.get("event_id")) == "future_ts"]
    assert all(int(t[:4]) > 2024 for t in future)
    late = dirty[dirty["kind"] == "late_arrival"]
    assert (pd.to_datetime(late["arrival_date"]).dt.date > late["event_ts"].dt.date).all()
    missing = [rec for _, rec in records if "event_id" not in rec or "event_type" not in rec
               or "user_id" not in rec or "event_ts" not in rec]
    assert len(missing) == counts["dirty_missing_field"]


def test_clean_records_arrive_in_their_receipt_day_file(world):
    cfg = world[0]
    clean = _clean(world)
    assert clean["ts"].min() >= pd.Timestamp(cfg.start_date)
    views = clean[clean["event_type"] == "view"]
    assert (views["watch_ms"] >= 0).all() and (views["watch_ms"] < 10**8).all()
    received = pd.to_datetime(clean["received_at"], format=ISO)
    assert (received.dt.strftime("%Y-%m-%d") == clean["arrival"]).all()
    assert (received >= clean["ts"]).all()
    # context fields are stable per user
    ctx = clean.dropna(subset=["user_id"]).groupby("user_id")[["country", "os", "device_type"]].nunique()
    assert (ctx <= 1).all().all()


def test_positions_of_a_request_are_a_prefix(world):
    cfg, _, _, _, truth = world
    imp = truth["impressions"]
    per = imp.groupby("request_id")["position"].agg(["min", "max", "count", "nunique"])
    assert (per["min"] == 0).all()
    assert (per["max"] == per["count"] - 1).all() and (per["count"] == per["nunique"]).all()
    assert (per["count"] <= cfg.items_per_request).all()
    assert imp.groupby("request_id")["user_id"].nunique().max() == 1


def test_sessions_are_separated_by_more_than_30_minutes(world):
    _, _, _, _, truth = world
    clean = _clean(world)
    session_of = truth["impressions"].drop_duplicates("request_id").set_index("request_id")["session_id"]
    ev = clean.dropna(subset=["request_id"]).copy()
    ev["session_id"] = ev["request_id"].map(session_of)
    spans = ev.groupby(["user_id", "session_id"])["ts"].agg(["min", "max"]).reset_index()
    spans = spans.sort_values(["user_id", "min"])
    gaps = spans.groupby("user_id")["min"].shift(-1) - spans["max"]
    assert gaps.notna().sum() > 10
    assert (gaps.dropna() > SESSION_GAP).all()
    inner = ev.sort_values("ts").groupby(["user_id", "session_id"])["ts"].diff().dropna()
    assert (inner <= SESSION_GAP).all()


def test_engagement_rates_are_kuairand_like(world):
    imp = world[4]["impressions"]
    assert 0.30 <= imp["click"].mean() <= 0.55
    assert 0.20 <= imp["long_view"].mean() <= 0.42
    assert 0.005 <= imp["like"].mean() <= 0.04
    assert imp["follow"].mean() < 0.01
    assert imp["p_click"].mean() == pytest.approx(imp["click"].mean(), abs=0.05)
    assert (imp["p_long_view"] <= imp["p_click"] + 1e-6).all()
    assert (imp["p_complete"] <= imp["p_long_view"] + 1e-6).all()
    assert imp["source"].isin(["popular", "interest", "following", "fresh", "explore"]).all()


def test_uploaded_items_are_served_after_their_upload(world):
    clean = _clean(world)
    uploads = clean[clean["event_type"] == "upload"].set_index("content_id")["ts"]
    served = clean[(clean["event_type"] == "impression") & clean["content_id"].isin(uploads.index)]
    assert len(served) > 0
    assert (served["ts"].to_numpy() >= uploads.loc[served["content_id"]].to_numpy()).all()


def test_bots_act_like_metronomes(world):
    _, _, _, _, truth = world
    clean = _clean(world)
    bots = set(truth["users"].loc[truth["users"]["is_bot"], "user_id"])

    def regular_share(frame):
        """Share of a user's in-session gaps within 5% of the median gap."""
        gaps = frame.sort_values("ts").groupby("user_id")["ts"].diff().dt.total_seconds().dropna()
        gaps = gaps[(gaps > 0) & (gaps < SESSION_GAP.total_seconds())]
        return (abs(gaps - gaps.median()) <= 0.05 * gaps.median()).mean()

    bot_events = clean[clean["user_id"].isin(bots)]
    assert len(bot_events) > 0 and not bot_events["event_type"].isin(["view", "impression"]).any()
    assert regular_share(bot_events) > 0.8
    humans = clean[~clean["user_id"].isin(bots) & clean["user_id"].str.startswith("u")]
    assert regular_share(humans) < 0.3


def test_same_seed_same_world_whatever_the_partitioning(spark, world, tmp_path):
    cfg, _, counts, lines, _ = world
    again = generate_world(spark, cfg.model_copy(update={"partitions": 3}), str(tmp_path / "w"))
    assert again == counts
    other = [(p.parent.name.split("=", 1)[1], line)
             for p in sorted((tmp_path / "w").glob("events/date=*/part-*.jsonl"))
             for line in p.read_text().splitlines()]
    assert Counter(other) == Counter(lines)
    truth = pd.read_parquet(tmp_path / "w" / "truth" / "impressions")
    assert truth.sort_values("event_id", ignore_index=True).equals(
        world[4]["impressions"].sort_values("event_id", ignore_index=True))


def test_truth_is_one_file_per_block_and_a_rerun_leaves_no_stale_file(spark, tmp_path):
    cfg = WorldConfig.preset("tiny").model_copy(update={"days": 1})
    out = tmp_path / "w"
    stale = out / "truth" / "impressions" / "part-999999.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"not parquet: a previous world's file")
    counts = generate_world(spark, cfg, str(out))
    for table in ground_truth.TABLES:
        folder = out / "truth" / table
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["_SUCCESS"] + [f"part-{b:06d}.parquet" for b in range(cfg.n_blocks)], table
    assert len(pd.read_parquet(out / "truth" / "impressions")) == counts["impressions"]
    assert len(pd.read_parquet(out / "truth" / "dirty")) == counts["dirty"]


def test_arrow_ids_equal_the_spark_rendering(spark):
    from pyspark.sql import functions as F

    from foryou.world.records import hex_id, id_column

    values = np.array([0, 1, 255, 2**31, -1, -(2**63), 2**63 - 1, 0x0123456789ABCDEF], np.int64)
    ids = IdFormat(n_users=1_234_567, n_items=15, n_creators=1_000)
    counts = {"user": ids.n_users, "item": ids.n_items, "creator": ids.n_creators}
    frame = spark.createDataFrame(pd.DataFrame(
        {"v": values, **{kind: values % n for kind, n in counts.items()}}))
    rows = frame.select(hex_id(F.col("v")).alias("hex"),
                        *[id_column(ids, kind, F.col(kind)).alias(kind) for kind in counts]
                        ).toPandas()
    assert hex_ids(values).to_pylist() == rows["hex"].tolist()
    for kind, n in counts.items():
        assert ids.arrow(kind, values % n).to_pylist() == rows[kind].tolist(), kind
    assert ids.arrow("user", np.array([42])).to_pylist() == ["u0000042"]  # 7 digits: 1,234,566
    assert ids.arrow("item", np.array([42])).to_pylist() == ["v0000042"]  # the minimum, 7


def test_truth_locations_pyarrow_opens(tmp_path):
    assert ground_truth.arrow_location(str(tmp_path)) == str(tmp_path)
    assert ground_truth.arrow_location("dbfs:/mnt/worlds/a") == "/dbfs/mnt/worlds/a"
    with pytest.raises(ValueError, match="'gopher://host/world'.*truth=False"):
        ground_truth.arrow_location("gopher://host/world")
