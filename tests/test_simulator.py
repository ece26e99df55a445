"""The feed simulator: the true best feed beats a random one, seeds fix the result, CIs."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from foryou.simulator import (
    REPORT_COLUMNS, feed_matrix, load_world, mean_ci, oracle_policy, oracle_pool_policy,
    popularity_policy, random_policy, simulate_policies,
)
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
    assert base.theta < 1.0 and base.exploration.mode != "off"  # untouched
    with pytest.raises(Exception, match="theta"):
        ablated(base, {"theta": 2.0})


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


@pytest.mark.slow
def test_evaluate_simulates_the_champion_its_ablations_and_the_baselines(fed_world, tmp_path, capsys):
    from foryou.cli import main as foryou
    from worlds import BUILD_ARGS

    config, lake = fed_world.copy(tmp_path)
    run_date = fed_world.dates[-1]
    # On native Delta, like the worlds' build: the end of the suite's native pipeline run.
    code = foryou(["evaluate", "--run-date", str(run_date), "--set", "evaluation.simulator_users=60",
                   *fed_world.args(tmp_path / "lake"), *BUILD_ARGS])
    assert code == 0
    rows = lake.read("gold.metrics").where("stage = 'evaluate' AND name LIKE 'simulator.%'").toPandas()
    value = dict(zip(rows["name"], rows["value"]))
    policies = {name.split(".")[1] for name in value}
    assert policies == {"champion", "no_diversity", "no_exploration", "popularity", "random", "oracle",
                        "oracle_pool", "ranker_pool"}
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
