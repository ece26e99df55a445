"""The feed simulator: the true best feed beats a random one, seeds fix the result, CIs."""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from foryou.simulator import (
    DAYS_COLUMNS, REPORT_COLUMNS, daily_oracle, daily_random, daily_static, feed_matrix,
    load_world, mean_ci, oracle_policy, oracle_pool_policy, popularity_policy, random_policy,
    simulate_day, simulate_days, simulate_policies, simulate_policies_over_days,
)
from foryou.simulator.environment import unseen
from worlds import WORLD

N_USERS = 80


def reference(truth):
    """80 of the world's users and its catalogue, with the reference feeds."""
    world = load_world(WORLD, truth, n_users=N_USERS, seed=3)
    feeds = {"oracle": oracle_policy(world, length=40),
             "popularity": popularity_policy(world, truth, length=40),
             "random": random_policy(world, length=40, seed=5)}
    return world, feeds


@pytest.fixture(scope="module")
def sim(gold_world):
    return reference(gold_world.truth)


def test_true_best_feed_beats_popularity_and_random(sim, gold_world):
    world, feeds = sim
    report = simulate_policies(WORLD, gold_world.truth, feeds, world=world, seed=11).set_index("policy")
    assert list(report.reset_index().columns) == list(REPORT_COLUMNS)
    assert (report["users"] == N_USERS).all() and (report["feed_coverage"] == 1.0).all()
    oracle, random = report.loc["oracle"], report.loc["random"]
    # Not just a higher mean: the confidence intervals do not overlap.
    assert oracle.time_spent_s_lo > random.time_spent_s_hi, report
    assert oracle.return_rate > random.return_rate, report
    assert report.loc["popularity", "time_spent_s"] > random.time_spent_s, report
    assert (report["sessions_per_s"] > 0).all()
    # Users who reach the end of their list: the same true-best order cut to 3 items runs out
    # for more of them, and holds them for less time, than the 40-item list.
    assert ((report["list_ran_out"] >= 0) & (report["list_ran_out"] <= 1)).all()
    short = oracle_policy(world, length=3)
    cut = simulate_policies(WORLD, None, {"short": short}, world=world, seed=11).iloc[0]
    assert cut.list_ran_out > oracle.list_ran_out and cut.list_ran_out > 0.5, (cut, oracle)
    assert cut.items_per_user <= 3 and cut.time_spent_s < oracle.time_spent_s
    for col in ("time_spent_s", "return_rate"):
        assert ((report[f"{col}_lo"] <= report[col]) & (report[col] <= report[f"{col}_hi"])).all()
    assert ((report["return_rate_lo"] >= 0) & (report["return_rate_hi"] <= 1)).all()


def test_deterministic_for_a_seed(sim, gold_world):
    world, feeds = sim
    pick = {"oracle": feeds["oracle"], "random": feeds["random"]}
    stable = [c for c in REPORT_COLUMNS if c != "sessions_per_s"]
    a = simulate_policies(WORLD, None, pick, world=world, seed=7)[stable]
    b = simulate_policies(WORLD, None, pick, world=world, seed=7)[stable]
    c = simulate_policies(WORLD, None, pick, world=world, seed=8)[stable]
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    # Reloading the world with the same seed picks the same users.
    again = load_world(WORLD, gold_world.truth, n_users=N_USERS, seed=3)
    assert list(again.pseudonyms) == list(world.pseudonyms)
    pd.testing.assert_frame_equal(oracle_policy(again, length=40), feeds["oracle"])


def test_mean_ci_on_a_hand_computed_case():
    mean, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    half = 1.959963984540054 * np.std([1, 2, 3, 4], ddof=1) / 2.0
    assert mean == 2.5 and np.isclose(lo, 2.5 - half) and np.isclose(hi, 2.5 + half)
    assert mean_ci(np.array([5.0])) == (5.0, 5.0, 5.0)


def test_feeds_are_keyed_by_silver_pseudonyms(sim, gold_world, tmp_path):
    world, feeds = sim
    _, lake = gold_world.copy(tmp_path)
    silver_users = {r[0] for r in lake.read("silver.impressions").select("user_id").distinct().collect()}
    active = set(world.pseudonyms) & silver_users
    assert len(active) >= 0.5 * world.n  # most simulated users were served in the logs
    # The oracle serves each user a different feed; random ones are distinct items per user.
    m = feed_matrix(world, feeds["random"])
    assert m.shape == (world.n, 40) and all(len(set(r)) == 40 for r in m.tolist())
    assert len({tuple(r) for r in feed_matrix(world, feeds["oracle"]).tolist()}) > world.n // 2


def test_bad_feeds_and_mismatched_worlds_are_refused(sim, gold_world):
    world, feeds = sim
    bad = feeds["random"].copy()
    bad.loc[0, "content_id"] = "v-nope"
    with pytest.raises(ValueError, match="policy 'bad': content_id 'v-nope'"):
        simulate_policies(WORLD, None, {"bad": bad}, world=world)
    with pytest.raises(ValueError, match="lacks column"):
        feed_matrix(world, feeds["random"].drop(columns=["rank"]), "x")
    with pytest.raises(ValueError, match="not the config that generated"):
        load_world(WORLD.model_copy(update={"seed": WORLD.seed + 1}), gold_world.truth, n_users=5)
    # A user with no feed opens no session and returns at the base rate.
    half = feeds["oracle"][feeds["oracle"]["user_id"].isin(world.pseudonyms[: world.n // 2])]
    report = simulate_policies(WORLD, None, {"half": half}, world=world, seed=1)
    assert report.loc[0, "feed_coverage"] == pytest.approx(0.5, abs=0.02)


def test_oracle_pool_takes_the_true_best_items_of_each_users_pool(sim):
    world, feeds = sim
    rng = np.random.default_rng(0)
    users = world.pseudonyms[:5]
    pool = pd.DataFrame([(u, c) for u in users for c in rng.choice(world.content_ids, 30, replace=False)],
                        columns=["user_id", "content_id"])
    pool.loc[len(pool)] = ("someone-not-simulated", world.content_ids[0])
    best = oracle_pool_policy(world, pool, length=10)
    assert set(best["user_id"]) == set(users)          # users without a pool get no feed
    assert best.groupby("user_id").size().eq(10).all()
    pairs = set(map(tuple, pool.to_numpy()))
    assert all((u, c) in pairs for u, c in best[["user_id", "content_id"]].to_numpy())
    # Best first, and no pool item outside the feed beats the feed's last one.
    from foryou.simulator.policies import true_expected_watch
    row = 0
    watch = true_expected_watch(world, np.array([row]))[0]
    index = {c: i for i, c in enumerate(world.content_ids)}
    mine = best[best["user_id"] == users[row]].sort_values("rank")
    shown = [watch[index[c]] for c in mine["content_id"]]
    rest = [watch[index[c]] for c in pool[pool["user_id"] == users[row]]["content_id"]
            if c not in set(mine["content_id"])]
    assert shown == sorted(shown, reverse=True) and min(shown) >= max(rest)
    # The same truth as a relevance per pool pair (a perfect ranker's scores): pairs outside
    # the world left out, each pair its true expected watch.
    from foryou.simulator.policies import true_relevance
    rel = true_relevance(world, pool)
    assert len(rel) == len(pool) - 1 and "someone-not-simulated" not in set(rel["user_id"])
    mine = rel[rel["user_id"] == users[row]]
    assert np.allclose(mine["relevance"], [watch[index[c]] for c in mine["content_id"]])
    # A pool shorter than the list: the whole pool, no padding.
    short = oracle_pool_policy(world, pool[pool["user_id"] == users[0]].head(4), length=10)
    assert len(short) == 4 and list(short["rank"]) == [1, 2, 3, 4]


def test_lift_shares_place_each_policy_between_random_and_the_oracle(sim):
    world, feeds = sim
    pool = feeds["random"]  # the random feed as a pool: its best ordering beats it
    report = simulate_policies(WORLD, None, {**feeds, "oracle_pool": oracle_pool_policy(world, pool, 40)},
                               world=world, seed=11).set_index("policy")
    assert report.loc["oracle", "time_share"] == 1.0 and report.loc["random", "time_share"] == 0.0
    assert report.loc["oracle", "return_share"] == 1.0 and report.loc["random", "return_share"] == 0.0
    expect = ((report.loc["popularity", "time_spent_s"] - report.loc["random", "time_spent_s"])
              / (report.loc["oracle", "time_spent_s"] - report.loc["random", "time_spent_s"]))
    assert report.loc["popularity", "time_share"] == pytest.approx(expect)
    assert 0 < report.loc["oracle_pool", "time_share"] < 1
    # Without both references the shares are unknown, not made up.
    alone = simulate_policies(WORLD, None, {"popularity": feeds["popularity"]}, world=world, seed=11)
    assert alone["time_share"].isna().all() and alone["return_share"].isna().all()


def test_stage_split_reads_the_path_from_the_oracle_to_the_export():
    from foryou.evaluation.report import stage_split

    sim = pd.DataFrame({"policy": ["oracle", "oracle_pool", "ranker_pool", "champion", "random"],
                        "time_share": [1.0, 0.5, 0.3, 0.2, 0.0],
                        "return_share": [1.0, 0.9, 0.95, 0.7, 0.0]})
    history = pd.DataFrame({"name": ["simulator.champion.time_share"] * 2 + ["simulator.oracle_pool.time_share"],
                            "value": [0.2, 0.1, 0.5]})
    split = stage_split(sim, history).set_index("policy")
    assert list(split.index) == ["oracle", "oracle_pool", "ranker_pool", "champion"]
    assert split.loc["champion", "time_share_mean_over_runs"] == pytest.approx(0.15)
    assert split.loc["champion", "runs"] == 2
    assert np.isnan(split.loc["ranker_pool", "time_share_mean_over_runs"])
    assert split.loc["ranker_pool", "return_share"] == 0.95


def test_an_ablation_merges_nested_sections_and_validates():
    from foryou.config.rerank import RerankConfig
    from foryou.export.build import ABLATIONS, ablated

    base = RerankConfig()
    off = ablated(base, ABLATIONS["no_exploration"])
    assert off.exploration.mode == "off"
    assert off.exploration.alpha == base.exploration.alpha  # the rest is kept
    assert ablated(base, ABLATIONS["no_diversity"]).theta == 1.0
    no_caps = ablated(base, ABLATIONS["no_caps"]).guards
    assert no_caps.max_top_interest_share == 1.0 and no_caps.max_per_tag >= base.list_size
    assert no_caps.cap_window == base.guards.cap_window
    assert base.theta < 1.0 and base.exploration.mode != "off"  # untouched
    with pytest.raises(Exception, match="theta"):
        ablated(base, {"theta": 2.0})


def test_unseen_drops_what_each_user_saw_and_moves_the_rest_up():
    feeds = np.array([[3, 1, 4, -1], [2, 0, 1, 3]])
    seen = np.zeros((2, 5), bool)
    seen[0, 1] = seen[1, [2, 3]] = True
    assert unseen(feeds, seen, 3).tolist() == [[3, 4, -1], [0, 1, -1]]
    assert unseen(feeds, seen, 5).tolist() == [[3, 4, -1, -1, -1], [0, 1, -1, -1, -1]]


def test_several_days_carry_the_users_state_and_gate_each_day_by_return(sim):
    world, feeds = sim
    days, length = 4, 30
    oracle = daily_oracle(world, length)
    a = simulate_days(world, oracle, days, length, seed=2)
    b = simulate_days(world, oracle, days, length, seed=2)
    np.testing.assert_array_equal(a.watch_ms, b.watch_ms)              # deterministic
    assert a.watch_ms.shape == (world.n, days) and a.active[:, 0].all()
    assert (a.watch_ms[~a.active] == 0).all()                          # a day away watches nothing
    assert 0 < a.active[:, 1:].mean() < 1                              # returns gate the days
    # Day 0 is the one-day simulation of the same feed and seed.
    one = simulate_day(world, feed_matrix(world, oracle_policy(world, length)), seed=2)
    np.testing.assert_array_equal(a.watch_ms[:, 0], one.watch_ms)
    # No item is served twice to a user: a static list moves on to its unseen items.
    logs = []
    seen_by = {}

    def watching(day, state, seen, history):
        logs.append(history)
        seen_by[day] = seen.copy()
        return feed_matrix(world, feeds["popularity"])
    simulate_days(world, watching, 3, 10, seed=2)
    last = logs[-1]
    assert set(last["day"]) == {0, 1} and not last.duplicated(["row", "item"]).any()
    assert seen_by[2].sum() == len(last) and seen_by[0].sum() == 0
    with pytest.raises(ValueError, match="days"):
        simulate_days(world, oracle, 0, length)


def test_over_days_the_oracle_beats_random_and_the_difference_is_paired(sim):
    world, feeds = sim
    policies = {"oracle": daily_oracle(world, 30), "random": daily_random(world, 30, seed=1),
                "popularity": daily_static(world, feeds["popularity"], "popularity")}
    table = simulate_policies_over_days(world, policies, 3, 30, seed=4, reference="random")
    assert list(table.columns) == list(DAYS_COLUMNS)
    t = table.set_index("policy")
    assert t.loc["oracle", "time_spent_s_lo"] > t.loc["random", "time_spent_s_hi"]
    assert t.loc["oracle", "time_share"] == 1.0 and t.loc["random", "time_share"] == 0.0
    assert t.loc["random", "time_vs_ref_s"] == 0.0
    assert t.loc["oracle", "time_vs_ref_s"] == pytest.approx(
        t.loc["oracle", "time_spent_s"] - t.loc["random", "time_spent_s"])
    assert t.loc["oracle", "time_vs_ref_s_lo"] > 0
    # Users who tire of topics spend less time on the same myopic oracle.
    tired = world.with_satiation(1.5)
    calm = world.with_satiation(0.0)
    spent = [simulate_policies_over_days(w, {"oracle": daily_oracle(w, 30)}, 3, 30, seed=4)
             .at[0, "time_spent_s"] for w in (calm, tired)]
    assert spent[1] < spent[0]
    assert world.model.params.satiation == WORLD.satiation  # with_satiation copies


def test_the_daily_export_moves_on_with_what_the_users_did(sim):
    from foryou.config.rerank import RerankConfig
    from foryou.evaluation.multiday import daily_export
    from foryou.rerank.feed import rerank_user

    world, _ = sim
    rng = np.random.default_rng(0)
    users = list(world.pseudonyms[:3])
    items = rng.choice(world.content_ids, 80, replace=False)
    cands = pd.DataFrame([dict(user_id=u, content_id=c, creator_id=f"c{i % 17}", source="ann",
                               relevance=float(rng.random()), tags=[str(i % 9)],
                               vector=rng.normal(size=4))
                          for u in users for i, c in enumerate(items)])
    side = pd.DataFrame({"user_id": users[:2], "history": [[rng.normal(size=4)], None],
                         "interests": [["1", "2"], ["3"]]})
    cfg = RerankConfig(list_size=20)
    as_of = dt.date(2024, 5, 6)
    policy = daily_export(world, cands, side, cfg, as_of)
    index = {c: i for i, c in enumerate(world.content_ids)}
    seen = np.zeros((world.n, len(world.content_ids)), bool)
    empty = pd.DataFrame({"row": [], "item": [], "click": [], "negative": [], "day": []})
    day0 = policy(0, world.state, seen, empty)
    # Day 0 is the export's own rerank of the candidates, with the run date's seed.
    expect = rerank_user(cands[cands["user_id"] == users[0]], pd.Series(side["history"][0]), ["1", "2"],
                         cfg, f"{users[0]}|{as_of.isoformat()}")
    assert [world.content_ids[i] for i in day0[0] if i >= 0] == list(expect["content_id"])
    assert (day0[3:] < 0).all()                            # users without candidates: no feed
    # User 0 saw two items and hid a third (outside today's list): none comes back; neither
    # does anything exported yesterday (repeat_days = 1).
    shown = day0[0, :2]
    seen[0, shown] = True
    hidden = index[next(c for c in items if index[c] not in set(day0[0]))]
    log = pd.DataFrame({"row": [0, 0, 0], "item": [*shown, hidden], "click": [True, False, False],
                        "negative": [False, False, True], "day": [0, 0, 0]})
    day1 = policy(1, world.state, seen, log)
    first = set(day1[0][day1[0] >= 0])
    assert first and not first & (set(day0[0]) | {hidden})
    assert len(first) == 20


def test_a_feed_re_ranked_within_each_session(sim):
    from foryou.rerank.session import FEATURES, SessionModel
    from foryou.simulator import SESSION_TRUTH

    world, feeds = sim
    static = feed_matrix(world, feeds["popularity"])
    kept = static.copy()
    day = simulate_day(world, static, seed=6)
    # Weights of zero re-order nothing (a session only drops what it saw, which a feed served
    # in order has already passed): the same day, draw for draw.
    still = simulate_day(world, static, seed=6, reactive=SessionModel({f: 0.0 for f in FEATURES}))
    np.testing.assert_array_equal(still.watch_ms, day.watch_ms)
    # A session that lifts what it played changes what is served; the caller's feeds are kept.
    eager = SessionModel({"tag_interest": 2.0, "creator_interest": 1.0, "tag_shown": 0.0})
    moved = simulate_day(world, static, seed=6, reactive=eager)
    assert not np.array_equal(moved.watch_ms, day.watch_ms)
    np.testing.assert_array_equal(static, kept)
    # The session's truth re-orders by true expected watch: the ceiling beats the static list.
    truth = simulate_day(world, static, seed=6, reactive=SESSION_TRUTH)
    assert truth.watch_ms.mean() > day.watch_ms.mean()
    table = simulate_policies(WORLD, None, {"static": feeds["popularity"],
                                            "session_truth": feeds["popularity"]},
                              seed=6, world=world, reactive={"session_truth": SESSION_TRUTH})
    t = table.set_index("policy")["time_spent_s"]
    assert t["session_truth"] == pytest.approx(truth.watch_ms.mean() / 1000)
    assert t["static"] == pytest.approx(day.watch_ms.mean() / 1000)
    with pytest.raises(ValueError, match="reactive"):
        simulate_day(world, static, reactive="nonsense")


def test_diversity_pays_reads_the_paired_differences():
    from foryou.evaluation.report import diversity_pays

    days = pd.DataFrame({"satiation": ["none"] * 3 + ["strong"] * 3, "strength": [0.0] * 3 + [0.5] * 3,
                         "policy": ["champion", "no_diversity", "random"] * 2,
                         "time_vs_ref_s": [0.0, 10.0, -50.0, 0.0, -20.0, -60.0],
                         "time_vs_ref_s_lo": [0.0, 2.0, -70.0, 0.0, -30.0, -80.0],
                         "time_vs_ref_s_hi": [0.0, 18.0, -30.0, 0.0, -10.0, -40.0]})
    pays = diversity_pays(days).set_index("satiation")
    assert list(pays["ablation"]) == ["no_diversity", "no_diversity"]
    assert pays.loc["none", "champion_minus_ablation_s"] == -10.0      # diversity costs
    assert (pays.loc["none", "lo"], pays.loc["none", "hi"]) == (-18.0, -2.0)
    assert pays.loc["strong", "champion_minus_ablation_s"] == 20.0     # diversity pays


@pytest.mark.slow
def test_reference_feeds_rebuild_the_export_when_nothing_is_switched_off(fed_world, spark, tmp_path):
    from foryou.config.settings import ExportSettings
    from foryou.export.build import reference_feeds

    config, lake = fed_world.copy(tmp_path)
    run_date = fed_world.dates[-1]
    export = lake.read("gold.user_candidates").select("user_id", "rank", "content_id")
    users = export.select("user_id").distinct().orderBy("user_id").limit(12)
    refs = reference_feeds(lake, ExportSettings.of(config), users, run_date,
                           {"same": {}, "no_exploration": {"exploration": {"mode": "off"}}})
    feeds = refs.ablations
    expected = (export.join(users, "user_id", "left_semi").toPandas()
                .sort_values(["user_id", "rank"]).reset_index(drop=True))
    same = feeds["same"].sort_values(["user_id", "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(same, expected, check_dtype=False)
    # Without its bonus the order changes for some user: the ablation is not a no-op.
    assert not feeds["no_exploration"].sort_values(["user_id", "rank"]).reset_index(drop=True) \
        .equals(same)
    # The ranker-only feed and the pool: the sampled users' guarded pool rows, and per user
    # the pool's items in relevance order, at most list_size of them.
    pool, ranked = refs.pool, refs.ranker_pool
    assert set(pool["user_id"]) <= set(users.toPandas()["user_id"]) and len(pool) >= len(expected)
    assert set(map(tuple, ranked[["user_id", "content_id"]].to_numpy())) <= \
        set(map(tuple, pool[["user_id", "content_id"]].to_numpy()))
    assert ranked.groupby("user_id").size().max() <= config.rerank.list_size
    assert set(map(tuple, expected[["user_id", "content_id"]].to_numpy())) <= \
        set(map(tuple, pool[["user_id", "content_id"]].to_numpy()))  # the export comes from the pool
    # Another relevance replaces the champion's score (bench/feed_choices.py's choices): here
    # the pool's own rank, its last candidate first.
    from pyspark.sql import functions as F

    last_first = (lake.read("gold.candidate_pool", partitions=[run_date])
                  .select("user_id", "content_id", F.col("pool_rank").cast("double").alias("relevance")))
    other = reference_feeds(lake, ExportSettings.of(config), users, run_date, {}, relevance=last_first)
    worst = other.candidates.sort_values(["relevance", "content_id"], ascending=[False, True]) \
        .groupby("user_id").head(1).set_index("user_id")["content_id"]
    firsts = other.ranker_pool[other.ranker_pool["rank"] == 1].set_index("user_id")["content_id"]
    assert firsts.sort_index().equals(worst.sort_index()) and not firsts.equals(
        ranked[ranked["rank"] == 1].set_index("user_id")["content_id"].reindex(firsts.index))


@pytest.mark.slow
def test_evaluate_simulates_the_champion_its_ablations_and_the_baselines(fed_world, tmp_path, capsys):
    from foryou.cli import main as foryou
    from worlds import BUILD_ARGS

    config, lake = fed_world.copy(tmp_path)
    run_date = fed_world.dates[-1]
    # On native Delta, like the worlds' build: the end of the suite's native pipeline run.
    code = foryou(["evaluate", "--run-date", str(run_date), "--set", "evaluation.simulator_users=60",
                   "--set", "evaluation.satiation_days=2",
                   # The references score the pool on the per-user rank scale (the export's
                   # default is the model's own score): both ways of scoring run here.
                   "--set", "rerank.score_scale=user_rank",
                   *fed_world.args(tmp_path / "lake"), *BUILD_ARGS])
    assert code == 0
    metrics = lake.read("gold.metrics").where("stage = 'evaluate'")
    rows = metrics.where("name LIKE 'simulator.%'").toPandas()
    value = dict(zip(rows["name"], rows["value"]))
    days = metrics.where("name LIKE 'simulator_days.%'").toPandas()
    over = dict(zip(days["name"], days["value"]))
    # Over days: the champion and its ablations at each satiation level, beside the references.
    assert {tuple(n.split(".")[1:3]) for n in over} == {
        (level, policy) for level in ("none", "default", "strong")
        for policy in ("champion", "no_diversity", "no_exploration", "no_caps", "oracle", "random")}
    assert over["simulator_days.default.oracle.time_share"] == 1.0
    assert over["simulator_days.default.champion.time_spent_s"] > 0
    policies = {name.split(".")[1] for name in value}
    assert policies == {"champion", "no_diversity", "no_exploration", "no_caps", "popularity", "random",
                        "oracle", "oracle_pool", "ranker_pool", "reactive", "session_truth"}
    # In-session re-ranking of the export: by the model the export learned (each export run
    # appends one to gold.session_model), and the ceiling.
    learned = lake.read("gold.session_model").toPandas()
    assert len(learned) >= 1 and (learned["examples"] > 0).all()
    assert "simulator.reactive.time_lift" in value and value["simulator.session_truth.time_lift"] > 0
    for p in policies:
        assert value[f"simulator.{p}.users"] == 60
        assert value[f"simulator.{p}.feed_coverage"] > 0.5, p   # the export covers most users
        assert value[f"simulator.{p}.sessions"] > 0, p
    assert value["simulator.oracle.time_spent_s"] > value["simulator.random.time_spent_s"]
    # The stage split: shares of the oracle's lift, 1 at the oracle and 0 at random; the best
    # of the pool cannot beat the best of the catalogue.
    assert value["simulator.oracle.time_share"] == 1.0 and value["simulator.random.time_share"] == 0.0
    assert value["simulator.oracle_pool.time_spent_s"] <= value["simulator.oracle.time_spent_s"]
    assert value["simulator.oracle_pool.time_share"] > value["simulator.random.time_share"]
    report = re.search(r"report: (\S+)", capsys.readouterr().out).group(1)
    text = open(report).read()
    assert "Feed simulator: champion against baselines" in text
    assert "no_diversity" in text and "no_exploration" in text
    assert "Where the value is lost" in text and "retrieval: true best within the pool" in text
    assert "Diversity over days: when it pays" in text and "champion_minus_ablation_s" in text
