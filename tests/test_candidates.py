"""Candidate sources, filters, quotas and the pool: hand-built frames and the gold world."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.ann_source import ann_candidates_from_lake
from foryou.candidates.build import build_day, fallback_fill
from foryou.candidates.cold_start import (
    DROPPED, EXPLORING, cohorts, evidence, latest_waves, next_waves, user_interests)
from foryou.candidates.covisit import covisit_candidates, history_candidates, neighbours
from foryou.candidates.filters import (
    apply_filters, apply_quotas, excluded_creators, negative_pairs, seen_pairs, spam_creators)
from foryou.candidates.followed import followed_candidates
from foryou.candidates.inputs import interaction_log
from foryou.candidates.interest import interest_candidates, watch_per_impression
from foryou.candidates.pool import merge
from foryou.candidates.trending import trending_candidates
from foryou.config.candidates import (
    CandidatesConfig, ColdStartConfig, CovisitConfig, FiltersConfig, InteractionLogConfig,
    InterestConfig, TrendingConfig)
from foryou.config.settings import CandidatesSettings
from foryou.lake import table

AS_OF = dt.date(2024, 5, 10)


def ts(day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """A time on 2024-05-<day>."""
    return dt.datetime(2024, 5, day, hour, minute)


def impressions(spark, rows: list[dict]):
    """silver.impressions rows from dicts (missing columns null, event_date from event_ts)."""
    schema = table(C.IMPRESSIONS).schema
    full = [{**{f.name: None for f in schema}, "event_date": r["event_ts"].date(), **r} for r in rows]
    return spark.createDataFrame([tuple(r[f.name] for f in schema) for r in full], schema)


def no_bots(spark):
    return spark.createDataFrame([], "user_id string")


def by_user(df) -> dict[str, list[str]]:
    """user_id -> content ids in source_rank order."""
    out: dict[str, list[str]] = {}
    for r in df.orderBy(C.USER_ID, C.SOURCE_RANK).collect():
        out.setdefault(r[C.USER_ID], []).append(r[C.CONTENT_ID])
    return out


# --- co-visitation ---------------------------------------------------------------------------

def test_covisit_neighbours_come_from_the_same_session_and_recent_ones_weigh_more(spark):
    engaged = spark.createDataFrame([
        ("u1", "A", ts(9, 12, 0)), ("u1", "B", ts(9, 12, 5)), ("u1", "C", ts(9, 12, 9)),
        # u2: A and D in one session; E two hours later is another session.
        ("u2", "A", ts(9, 20, 0)), ("u2", "D", ts(9, 20, 10)), ("u2", "E", ts(9, 22, 10)),
        # u4: A and F co-visited a week ago: a neighbour, but a weaker one.
        ("u4", "A", ts(2, 8, 0)), ("u4", "F", ts(2, 8, 3)),
        # u3 only engaged with A: their candidates are A's neighbours.
        ("u3", "A", ts(9, 9, 0)),
    ], "user_id string, content_id string, event_ts timestamp")
    cfg = CovisitConfig(session_gap_minutes=30, half_life_days=3.0)
    nb = {r["neighbour_id"]: r["covisit"] for r in neighbours(engaged, AS_OF, cfg)
          .where(F.col(C.CONTENT_ID) == "A").collect()}
    assert set(nb) == {"B", "C", "D", "F"}           # E was in a later session of u2
    assert nb["D"] > nb["F"]                          # same single co-visit, but a week older
    got = by_user(covisit_candidates(engaged, AS_OF, cfg, k=3))
    # The latest co-visit first; the seed itself and E (another session) never; F cut by k=3.
    assert got["u3"] == ["D", "C", "B"]
    # k is respected for everyone.
    assert all(len(v) <= 3 for v in got.values())


def test_interaction_log_pairs_across_history_with_rp3beta_and_penalises_popular_neighbours(spark):
    day = lambda d: dt.datetime(2024, 3, d, 12)  # noqa: E731
    engaged = spark.createDataFrame([
        # u1 rated A and B 19 days apart: no session holds both, the history does.
        ("u1", "A", day(1)), ("u1", "B", day(20)),
        ("u2", "A", day(2)), ("u2", "B", day(2)), ("u2", "C", day(3)),
        ("u3", "A", day(4)), ("u3", "P", day(5)),
        ("u4", "B", day(4)), ("u4", "P", day(6)), ("u5", "C", day(6)), ("u5", "P", day(7)),
        ("u6", "P", day(8)), ("u6", "X", day(8)),
        ("u9", "A", day(9)),
    ], "user_id string, content_id string, event_ts timestamp")
    # Walks from A: B 1/2 (u1) + 1/3 (u2), C 1/3 (u2), P 1/2 (u3); degrees B 3, C 2, P 4.
    flat = by_user(history_candidates(engaged, InteractionLogConfig(popularity_penalty=0.0), k=5))
    assert flat["u9"] == ["B", "P", "C"]
    penalised = by_user(history_candidates(engaged, InteractionLogConfig(popularity_penalty=1.0), k=5))
    assert penalised["u9"] == ["B", "C", "P"]        # P neighbours everything: divided by 4
    # A user's own items are never proposed back, whatever their age.
    assert not {"A", "B"} & set(penalised["u1"])
    assert all(len(v) <= 5 for v in penalised.values())


def test_an_interaction_log_is_a_window_of_impressions_none_of_them_served(spark):
    rows = lambda served: impressions(spark, [  # noqa: E731
        {"user_id": "u1", "content_id": "A", "click": 1, "event_ts": ts(9), "has_impressions": s}
        for s in served])
    assert interaction_log(rows([False, False]))
    assert not interaction_log(rows([False, True]))   # any served feed: the app's sources
    assert not interaction_log(rows([]))              # a first day: nothing known yet


def test_pool_interleaves_sources_by_rank_or_lists_them_in_a_given_order(spark):
    cands = spark.createDataFrame([
        ("u1", "X", "ann", 0.9, 1), ("u1", "Y", "ann", 0.8, 2),
        ("u1", "Y", "covisit", 3.0, 1), ("u1", "Z", "covisit", 2.0, 2),
    ], f"{C.USER_ID} string, {C.CONTENT_ID} string, {C.SOURCE} string, {C.SCORE} double, {C.SOURCE_RANK} int")
    items = spark.createDataFrame([(i, "c", ["t"]) for i in "XYZ"],
                                  f"{C.CONTENT_ID} string, {C.CREATOR_ID} string, {C.TAGS} array<string>")
    waves = spark.createDataFrame([], f"{C.CONTENT_ID} string, wave int")

    def order(**kw) -> list[str]:
        pool = merge(cands, items, waves, AS_OF, 10, **kw)
        return [r[C.CONTENT_ID] for r in pool.orderBy("pool_rank").collect()]

    assert order() == ["X", "Y", "Z"]                            # rank 1 of each source, then rank 2
    assert order(order=["covisit", "ann"]) == ["Y", "Z", "X"]     # covisit's list, then ann's
    pool = merge(cands, items, waves, AS_OF, 10, order=["covisit", "ann"])
    y = pool.where(F.col(C.CONTENT_ID) == "Y").first()
    assert y[C.SOURCE] == "covisit" and sorted(y["sources"]) == ["ann", "covisit"]
    assert y["source_scores"]["ann"] == pytest.approx(0.8)


# --- trending --------------------------------------------------------------------------------

def _views(spark, rows):
    """silver.impressions rows: (user, item, date) with a valid play."""
    return impressions(spark, [{"user_id": u, "content_id": i, "click": 1,
                                "event_ts": dt.datetime.combine(d, dt.time(12))} for u, i, d in rows])


def test_trending_is_per_country_grows_and_ignores_bots(spark):
    d = lambda n: AS_OF - dt.timedelta(days=n)  # noqa: E731
    users = spark.createDataFrame([
        ("fr1", "FR", "fr"), ("fr2", "FR", "fr"), ("fr3", "FR", "fr"),
        ("de1", "DE", "de"), ("de2", "DE", "de"), ("bot", "FR", "fr"), ("nowhere", None, None),
    ], "user_id string, country string, language string")
    rows = []
    # X grows in France (3 recent views, none before); steady S has 3 before and 3 recent.
    rows += [("fr1", "X", d(1)), ("fr2", "X", d(1)), ("fr3", "X", d(2))]
    rows += [("fr1", "S", d(1)), ("fr2", "S", d(2)), ("fr3", "S", d(3)),
             ("fr1", "S", d(4)), ("fr2", "S", d(5)), ("fr3", "S", d(6))]
    # Y grows in Germany only.
    rows += [("de1", "Y", d(1)), ("de2", "Y", d(1))]
    # A bot farms Z: 20 recent views.
    rows += [("bot", "Z", d(1))] * 20
    bots = spark.createDataFrame([("bot",)], "user_id string")
    cfg = TrendingConfig(window_days=3, min_views=2, segment_by=["country", "language"])
    got = by_user(trending_candidates(_views(spark, rows), users, bots, AS_OF, cfg, k=10))
    assert got["fr3"][0] == "X" and got["fr3"].index("X") < got["fr3"].index("S")
    assert got["de1"][0] == "Y"
    assert "X" in got["de1"] and got["de1"].index("Y") < got["de1"].index("X")  # global list after
    assert all("Z" not in items for items in got.values())
    assert "nowhere" in got                                     # unknown country: global list


# --- interest --------------------------------------------------------------------------------

def test_interest_proposes_the_best_watched_items_of_the_users_top_tags(spark):
    items = spark.createDataFrame([
        ("long", ["cook"], 100, 3_000_000),   # 30 s per impression
        ("short", ["cook"], 100, 500_000),    # 5 s
        ("once", ["cook"], 1, 60_000),        # 60 s, but seen once: the prior pulls it down
        ("both", ["cook", "cars"], 100, 2_000_000),
        ("car", ["cars"], 100, 4_000_000),
        ("cat", ["cats"], 100, 5_000_000),    # the best item, in a tag u1 cares little for
        ("untagged", None, 100, 1_000_000),
    ], "content_id string, tags array<string>, impressions long, watch_ms long")
    users = spark.createDataFrame([
        ("u1", {"cook": 0.7, "cars": 0.2, "cats": 0.1}),
        ("u2", {"cats": 1.0}),
        ("bot", {"cook": 1.0}),
        ("new", None),
    ], "user_id string, interest_long map<string,double>")
    bots = spark.createDataFrame([("bot",)], "user_id string")
    cfg = InterestConfig(tags_per_user=2, items_per_tag=3, prior_impressions=20)
    smoothed = {r["content_id"]: r["watch_s"] for r in watch_per_impression(items, 20).collect()}
    mean = 15.56e6 / 601 / 1000  # the catalogue's watch seconds per impression
    assert smoothed["once"] == pytest.approx((60 + 20 * mean) / 21)
    assert smoothed["long"] > smoothed["once"] > smoothed["short"]   # 60 s once ranks below 30 s
    got = by_user(interest_candidates(users, items, bots, cfg, k=10))
    # u1: the 3 best of each of its two top tags (short is 4th of cook; cats is not a top tag),
    # by interest x watch summed over matched tags.
    score = {"long": 0.7 * smoothed["long"], "once": 0.7 * smoothed["once"],
             "both": 0.9 * smoothed["both"], "car": 0.2 * smoothed["car"]}
    assert got["u1"] == sorted(score, key=score.get, reverse=True)
    assert got["u2"] == ["cat"]
    assert "bot" not in got and "new" not in got                 # bots and users without interests
    assert interest_candidates(users, items, bots, cfg, k=1).groupBy("user_id").count() \
        .where("count > 1").count() == 0


# --- followed creators -----------------------------------------------------------------------

def test_followed_creators_recent_uploads_appear(spark):
    features = spark.createDataFrame([("u1", ["c1"]), ("u2", [])],
                                     "user_id string, followed_creators array<string>")
    content = spark.createDataFrame([
        ("new1", "c1", ts(9)), ("new2", "c1", ts(8)), ("old", "c1", ts(1)),
        ("other", "c2", ts(9)), ("future", "c1", ts(11)),
    ], "content_id string, creator_id string, upload_ts timestamp")
    got = by_user(followed_candidates(features, content, AS_OF, CandidatesConfig().followed, k=5))
    assert got == {"u1": ["new1", "new2"]}


# --- filters and quotas ----------------------------------------------------------------------

def test_filters_drop_seen_hidden_reported_blocked_and_spam_creators(spark):
    events = spark.createDataFrame([
        ("u1", "seen", "impression", None, AS_OF - dt.timedelta(days=1)),
        ("u1", "hidden", "hide", None, AS_OF - dt.timedelta(days=30)),
        ("u1", "reported", "report", None, AS_OF - dt.timedelta(days=60)),
        ("u1", "seen_long_ago", "view", None, AS_OF - dt.timedelta(days=20)),
    ] + [(f"bot{i}", "farmed", "like", "spammer", AS_OF - dt.timedelta(days=2)) for i in range(6)]
      + [("u2", "farmed", "like", "spammer", AS_OF - dt.timedelta(days=2))]
      + [(f"fan{i}", "fine", "like", "good", AS_OF - dt.timedelta(days=2)) for i in range(6)],
        "user_id string, content_id string, event_type string, creator_id string, event_date date")
    content = spark.createDataFrame(
        [("seen", "good"), ("hidden", "good"), ("reported", "good"), ("seen_long_ago", "good"),
         ("farmed", "spammer"), ("fine", "good"), ("blocked_item", "blocked")],
        "content_id string, creator_id string")
    bots = spark.createDataFrame([(f"bot{i}",) for i in range(6)], "user_id string")
    cfg = FiltersConfig(seen_days=3, negative_days=90, blocked_creators=["blocked"])
    in_days = lambda n: events.where(F.col(C.EVENT_DATE) >= F.lit(AS_OF - dt.timedelta(days=n)))  # noqa: E731
    spam = spam_creators(events, content, bots, cfg)
    assert [r[C.CREATOR_ID] for r in spam.collect()] == ["spammer"]
    candidates = spark.createDataFrame(
        [("u1", c, "trending", 1.0, 1) for c in
         ("seen", "hidden", "reported", "seen_long_ago", "farmed", "fine", "blocked_item")],
        "user_id string, content_id string, source string, score double, source_rank int"
    ).join(content, C.CONTENT_ID)
    kept = apply_filters(candidates, seen_pairs(in_days(cfg.seen_days)),
                         negative_pairs(in_days(cfg.negative_days)),
                         excluded_creators(spark, spam, cfg))
    assert sorted(r[C.CONTENT_ID] for r in kept.collect()) == ["fine", "seen_long_ago"]


def test_fallback_tops_short_pools_up_unseen_items_first_and_never_filtered_ones(spark):
    views = {"p1": 60, "p2": 50, "p3": 40, "p4": 30, "p5": 20, "p6": 10}
    items = spark.createDataFrame(
        [(c, "blocked" if c == "p3" else "good", n, dt.datetime(2024, 5, 1)) for c, n in views.items()],
        "content_id string, creator_id string, views long, upload_ts timestamp")
    users = spark.createDataFrame([(u,) for u in ("new", "short", "full", "saw_all")], "user_id string")
    # What the other sources kept: "short" has two distinct items (one from two sources).
    kept = spark.createDataFrame(
        [("short", "k1", "trending"), ("short", "p1", "trending"), ("short", "p1", "cold_start")]
        + [("full", c, "interest") for c in ("a", "b", "c")],
        "user_id string, content_id string, source string")
    seen = spark.createDataFrame([("short", "p2")] + [("saw_all", c) for c in ("p1", "p2", "p4", "p5", "p6")],
                                 "user_id string, content_id string")
    negative = spark.createDataFrame([("new", "p4")], "user_id string, content_id string")
    creators = spark.createDataFrame([("blocked",)], "creator_id string")
    fill = fallback_fill(users, kept, items, seen, negative, creators, floor=3, fetch=6)
    assert {r[C.SOURCE] for r in fill.collect()} == {"fallback"}
    assert by_user(fill) == {
        "new": ["p1", "p2", "p5"],    # p3's creator is excluded, p4 hidden by this user
        "short": ["p4"],              # one short of 3; p1 it has, p2 seen goes after p4
        "saw_all": ["p1", "p2", "p4"],  # seen items only when nothing unseen is left
    }                                 # "full" has 3 already: nothing


def test_quotas_cut_each_source_per_user(spark):
    rows = [(u, f"{s}{i}", s, float(-i), i + 1) for u in ("u1", "u2")
            for s in ("trending", "covisit") for i in range(10)]
    df = spark.createDataFrame(rows, "user_id string, content_id string, source string, score double, "
                                     "source_rank int")
    cut = apply_quotas(df, {"trending": 3, "covisit": 5})
    counts = {(r[C.USER_ID], r[C.SOURCE]): r["count"] for r in cut.groupBy(C.USER_ID, C.SOURCE).count().collect()}
    assert counts == {("u1", "trending"): 3, ("u2", "trending"): 3, ("u1", "covisit"): 5, ("u2", "covisit"): 5}
    assert {r[C.CONTENT_ID] for r in cut.where((F.col(C.USER_ID) == "u1") & (F.col(C.SOURCE) == "trending"))
            .collect()} == {"trending0", "trending1", "trending2"}
    assert apply_quotas(df, {"trending": 0}).count() == 0


# --- cold start waves ------------------------------------------------------------------------

def _staged_world(spark, good_engaged: int, poor_engaged: int):
    """Items and impressions: 40 baseline items (same age and duration bucket, 1 in 5 impressions
    engaged) and two new items 'good' and 'poor' with 10 impressions each on their first day."""
    items, imps = [], []
    upload = ts(9, 0)
    for i in range(40):
        items.append((f"base{i}", f"c{i}", upload, 1.0, 2, ["t1"], 0))
        for j in range(10):
            imps.append((f"base{i}", f"v{j}", ts(9, 6 + j), 1 if j < 2 else 0))
    # The poor item's creator has a million followers, the good one's none: irrelevant.
    items.append(("good", "small_creator", upload, 1.0, 2, ["t1", "t2"], 0))
    items.append(("poor", "famous_creator", upload, 1.0, 2, ["t1"], 1_000_000))
    for j in range(10):
        imps.append(("good", f"v{j}", ts(9, 6 + j), 1 if j < good_engaged else 0))
        imps.append(("poor", f"v{j}", ts(9, 6 + j), 1 if j < poor_engaged else 0))
    items_df = spark.createDataFrame(items, "content_id string, creator_id string, upload_ts timestamp, "
                                            "age_days double, duration_bucket int, tags array<string>, "
                                            "creator_followers bigint")
    imps_df = impressions(spark, [{"content_id": c, "user_id": u, "event_ts": t, "click": 1,
                                   "long_view": lv, "has_impressions": True} for c, u, t, lv in imps])
    return items_df, imps_df


def _waves(spark, items, imps, previous, as_of, cfg):
    young = items.where(F.col(C.CONTENT_ID).isin("good", "poor"))
    proof = evidence(imps, items, no_bots(spark))
    out = next_waves(young, latest_waves(previous, as_of), proof, as_of, cfg)
    return {r[C.CONTENT_ID]: r.asDict() for r in out.collect()}


def test_cold_start_good_early_performance_widens_the_next_wave_poor_does_not(spark):
    cfg = ColdStartConfig(min_impressions=5, threshold=1.2, wave_cohort_sizes=[10, 30, 90])
    items, imps = _staged_world(spark, good_engaged=6, poor_engaged=1)
    schema = "content_id string, wave int, status string, as_of_date date"
    start = spark.createDataFrame([("good", 0, EXPLORING, AS_OF - dt.timedelta(days=1)),
                                   ("poor", 0, EXPLORING, AS_OF - dt.timedelta(days=1))], schema)
    day1 = _waves(spark, items, imps, start, AS_OF, cfg)
    assert day1["good"]["performance"] > 1.2 > day1["poor"]["performance"]
    assert (day1["good"]["wave"], day1["good"]["status"], day1["good"]["cohort_size"]) == (1, EXPLORING, 30)
    assert (day1["poor"]["wave"], day1["poor"]["status"], day1["poor"]["cohort_size"]) == (0, DROPPED, 0)

    # Next day: the stored wave carries over; still good, with enough impressions for wave 1, it widens again.
    stored = spark.createDataFrame([(c, r["wave"], r["status"], AS_OF) for c, r in day1.items()], schema)
    day2 = _waves(spark, items, imps, stored, AS_OF + dt.timedelta(days=1), cfg)
    assert (day2["good"]["wave"], day2["good"]["cohort_size"]) == (2, 90)
    assert day2["poor"]["status"] == DROPPED

    # Follower counts play no part: swapping them changes nothing.
    swapped = items.withColumn("creator_followers", F.when(F.col(C.CONTENT_ID) == "good", 10 ** 6).otherwise(0))
    assert _waves(spark, swapped, imps, start, AS_OF, cfg) == day1


def test_cold_start_waits_for_evidence_and_cohorts_match_interests(spark):
    cfg = ColdStartConfig(min_impressions=50, wave_cohort_sizes=[5, 15], hash_buckets=50, seed=3)
    items, imps = _staged_world(spark, good_engaged=10, poor_engaged=0)
    empty = spark.createDataFrame([], "content_id string, wave int, status string, as_of_date date")
    waves = _waves(spark, items, imps, empty, AS_OF, cfg)
    # 10 impressions < 50: nobody is judged yet, both explore wave 0.
    assert {c: (r["wave"], r["status"]) for c, r in waves.items()} == {"good": (0, EXPLORING),
                                                                        "poor": (0, EXPLORING)}
    features = spark.createDataFrame(
        [(f"t2fan{i}", {"t2": 1.0}) for i in range(20)] + [(f"t9fan{i}", {"t9": 1.0}) for i in range(20)],
        "user_id string, tag_share map<string,double>")
    users = features.select(C.USER_ID).unionByName(
        spark.createDataFrame([("newcomer",)], "user_id string"))
    interests = user_interests(features, users, no_bots(spark), cfg)
    young = items.where(F.col(C.CONTENT_ID) == "good")
    state = next_waves(young, latest_waves(empty, AS_OF), evidence(imps, items, no_bots(spark)), AS_OF, cfg)
    cohort = cohorts(state, items, interests, AS_OF, cfg).collect()
    members = {r[C.USER_ID] for r in cohort}
    assert len(members) == 5                                   # exactly the wave-0 cohort size
    assert all(u.startswith("t2fan") or u == "newcomer" for u in members)  # tag overlap (or no history)
    again = {r[C.USER_ID] for r in cohorts(state, items, interests, AS_OF, cfg).collect()}
    assert again == members                                     # seeded: deterministic


# --- the gold world: the job, the pool's invariants, waves across days ----------------------

NEWCOMER = "newcomer-without-history"


@pytest.fixture(scope="module")
def world(gold_world, tmp_path_factory):
    """The gold world's lake with a user without history added, and candidates built for its
    last two days (the first through the job, so its metrics are recorded)."""
    from foryou.cli import main as foryou

    root = tmp_path_factory.mktemp("candidates_world")
    config, lake = gold_world.copy(root)
    spec = table(C.USERS)
    lake.append(C.USERS, lake.spark.createDataFrame(
        [{**{f.name: None for f in spec.schema}, "user_id": NEWCOMER,
          "updated_at": dt.datetime(2024, 5, 1)}], spec.schema))
    first, last = gold_world.dates[-2], gold_world.dates[-1]
    assert foryou(["build-candidates", "--run-date", str(first), *gold_world.args(root / "lake")]) == 0
    build_day(lake, CandidatesSettings.of(config), last)
    return config, lake, first, last


def write_random_embeddings(lake, dim: int) -> None:
    """Seeded random vectors for every known user and item, as one model_version."""
    rng = np.random.default_rng(5)
    users = sorted(r[0] for r in lake.read(C.USER_FEATURES).select(C.USER_ID).distinct().collect())
    items = sorted(r[0] for r in lake.read(C.ITEM_FEATURES).select(C.CONTENT_ID).distinct().collect())
    spark = lake.spark
    lake.append(C.USER_EMBEDDINGS, spark.createDataFrame(
        [(u, rng.normal(size=dim).astype("float32").tolist(), "test-v1", None) for u in users],
        table(C.USER_EMBEDDINGS).schema))
    lake.append(C.ITEM_EMBEDDINGS, spark.createDataFrame(
        [(c, rng.normal(size=dim).astype("float32").tolist(), "collaborative", "test-v1", None)
         for c in items],
        table(C.ITEM_EMBEDDINGS).schema))


def test_gold_world_pool_is_unique_filtered_and_within_quotas(world):
    config, lake, first, last = world
    cfg = config.candidates
    pool = lake.read(C.CANDIDATE_POOL, partitions=[last]).cache()
    assert pool.count() > 0
    assert pool.groupBy(C.USER_ID, C.CONTENT_ID).count().where("count > 1").count() == 0
    assert pool.agg(F.max("pool_rank")).first()[0] <= cfg.max_candidates
    assert set(pool.select(C.SOURCE).distinct().toPandas()[C.SOURCE]) >= {"covisit", "trending", "cold_start"}
    # Per source and user, no more rows than the quota (counting every proposing source).
    per_source = (pool.select(C.USER_ID, F.explode("sources").alias("s")).groupBy(C.USER_ID, "s").count()
                  .collect())
    assert all(r["count"] <= cfg.quota(r["s"]) for r in per_source)
    # The pool of run date D uses events strictly before D.
    events = lake.read(C.EVENTS).where(F.col(C.CONTENT_ID).isNotNull() & (F.col(C.EVENT_DATE) < F.lit(last)))
    pairs = [C.USER_ID, C.CONTENT_ID]
    seen = events.where(F.col(C.EVENT_DATE) >= F.lit(last - dt.timedelta(days=cfg.filters.seen_days)))
    assert pool.join(seen.select(*pairs), pairs).count() == 0
    negative = events.where(F.col(C.EVENT_TYPE).isin("hide", "report")).select(*pairs)
    assert negative.count() > 0 and pool.join(negative, pairs).count() == 0
    # Every user gets candidates, the one without any history included.
    users = lake.read(C.USERS).select(C.USER_ID)
    assert users.join(pool, C.USER_ID, "left_anti").count() == 0
    newcomer = {r[C.SOURCE] for r in pool.where(F.col(C.USER_ID) == NEWCOMER).collect()}
    assert newcomer and newcomer <= {"trending", "cold_start", "fallback"}
    # The fallback tops every pool up to its quota: no user's feed is left short.
    sizes = pool.groupBy(C.USER_ID).count()
    assert sizes.where(F.col("count") < cfg.quota("fallback")).count() == 0


def test_gold_world_ann_candidates_are_the_nearest_items_by_inner_product(world):
    config, lake, first, last = world
    assert ann_candidates_from_lake(lake, 5) is None          # no embeddings: skipped, no error
    write_random_embeddings(lake, dim=8)
    fetch = config.candidates.fetch("ann")
    ann = ann_candidates_from_lake(lake, fetch, config.embeddings.ann).toPandas()
    assert len(ann) > 0 and (ann.groupby(C.USER_ID).size() == fetch).all()
    vec = lambda name, key: {r[0]: np.asarray(r[1]) for r in lake.read(name).select(key, "vector").collect()}  # noqa: E731
    users, items = vec(C.USER_EMBEDDINGS, C.USER_ID), vec(C.ITEM_EMBEDDINGS, C.CONTENT_ID)
    ids = sorted(items)
    matrix = np.stack([items[c] for c in ids])
    for user, rows in list(ann.groupby(C.USER_ID))[:20]:
        exact = matrix @ users[user]
        nearest = {ids[i] for i in np.argsort(-exact)[:fetch]}
        assert set(rows[C.CONTENT_ID]) == nearest              # exact index below exact_max_items
        for c, score in zip(rows[C.CONTENT_ID], rows["score"]):
            assert score == pytest.approx(float(items[c] @ users[user]), rel=1e-4, abs=1e-4)


def test_gold_world_waves_carry_over_and_the_job_records_rows_per_source(world):
    config, lake, first, last = world
    waves = lake.read(C.COLD_START_WAVES)
    before = {r[C.CONTENT_ID]: r for r in waves.where(F.col(C.AS_OF_DATE) == first).collect()}
    after = {r[C.CONTENT_ID]: r for r in waves.where(F.col(C.AS_OF_DATE) == last).collect()}
    carried = set(before) & set(after)
    assert carried
    for c in carried:
        assert after[c]["wave"] >= before[c]["wave"]
        if before[c]["status"] != EXPLORING:            # dropped and graduated items stay so
            assert after[c]["status"] == before[c]["status"]
    metrics = {r["name"]: r["value"] for r in lake.read("gold.metrics", partitions=[first])
               .where(F.col("stage") == "build-candidates").collect()}
    assert metrics["candidates.covisit"] > 0 and metrics["candidates.trending"] > 0
    assert metrics["rows_written.gold.candidate_pool"] > 0
    # No embeddings on the first day: the ANN source was skipped with a warning, not an error.
    assert metrics["candidates.skipped_sources"] == 1 and metrics["candidates.ann"] == 0


def test_empty_and_tiny_catalogues_fall_back_clearly(spark, config):
    from foryou.lake import Lake

    lake = Lake(spark, config)
    with pytest.raises(FileNotFoundError, match="foryou features"):
        build_day(lake, CandidatesSettings.of(config), AS_OF)
    users = table(C.USERS)
    lake.append(C.USERS, spark.createDataFrame(
        [{**{f.name: None for f in users.schema}, "user_id": u, "updated_at": ts(1)} for u in ("a", "b")],
        users.schema))
    items = table(C.ITEM_FEATURES)
    lake.create(C.ITEM_FEATURES)
    empty = build_day(lake, CandidatesSettings.of(config), AS_OF)
    assert empty.users == 0 and lake.read(C.CANDIDATE_POOL, partitions=[AS_OF]).count() == 0
    # One old item nobody has seen: no source but the fallback proposes it, to every user.
    lake.append(C.ITEM_FEATURES, spark.createDataFrame(
        [{**{f.name: None for f in items.schema}, "content_id": "only", "creator_id": "c",
          "views": 3, "age_days": 100.0, "tags": ["t"], "as_of_date": AS_OF}], items.schema))
    tiny = build_day(lake, CandidatesSettings.of(config), AS_OF, force=True)
    pool = lake.read(C.CANDIDATE_POOL, partitions=[AS_OF]).collect()
    assert tiny.users == 2 and {(r[C.USER_ID], r[C.CONTENT_ID], r[C.SOURCE]) for r in pool} == {
        ("a", "only", "fallback"), ("b", "only", "fallback")}
