"""Reranking: DPP greedy MAP, exploration, novelty, caps and the per-user feed in Spark."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from foryou.config.rerank import ExplorationConfig, GuardsConfig, RerankConfig
from foryou.rerank import dpp, exploration, novelty
from foryou.rerank.feed import rerank, rerank_user
from foryou.rerank.guards import apply_caps, farmed_items, homogenisation


def _clusters(n_clusters=4, per=6, dim=8, seed=0):
    """Items in tight clusters; relevance favours cluster 0."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    vecs, rel, label = [], [], []
    for c in range(n_clusters):
        for _ in range(per):
            vecs.append(centres[c] + 0.05 * rng.normal(size=dim))
            rel.append(1.0 - 0.3 * c + 0.01 * rng.normal())
            label.append(c)
    return np.array(rel), np.array(vecs), np.array(label)


def _mean_pairwise_cos(vecs):
    u = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    s = u @ u.T
    n = len(u)
    return (s.sum() - n) / (n * (n - 1))


def test_diversity_rises_as_theta_moves_toward_diversity():
    rel, vecs, label = _clusters()
    clusters, sims = [], []
    for theta in (0.99, 0.9, 0.6, 0.2):
        picked = dpp.greedy_map(dpp.kernel(rel, vecs, theta), 6)
        clusters.append(len(set(label[picked])))
        sims.append(_mean_pairwise_cos(vecs[picked]))
    assert clusters == sorted(clusters), clusters
    assert clusters[0] == 1 and clusters[-1] == 4
    assert all(a >= b - 1e-9 for a, b in zip(sims, sims[1:])), sims
    assert sims[0] > sims[-1]


def test_theta_means_the_same_whatever_the_relevance_scale():
    """The trade-off works on relevance standardised per user: a ranker whose scores spread
    over 0.003 gets the same feed as one spreading over 30 (before, a small spread made the
    DPP all but ignore relevance at theta 0.7)."""
    rel, vecs, label = _clusters()
    base = dpp.diversify(rel, vecs, 0.7, 12)
    for scale, shift in ((1e-2, 0.0), (100.0, 0.0), (1.0, 5.0)):
        assert dpp.diversify(rel * scale + shift, vecs, 0.7, 12) == base
    # Relevance still leads at theta 0.7: the first pick is the most relevant item, and the
    # favoured cluster keeps more slots than the least relevant one.
    assert base[0] == int(np.argmax(rel))
    assert (label[base] == 0).sum() > (label[base] == 3).sum()
    assert (dpp.standardised(np.full(4, 2.0)) == 0).all()


def test_greedy_step_never_repeats_an_item_and_stops_at_the_kernel_rank():
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(30, 3))  # rank of S <= 4
    picked = dpp.greedy_map(dpp.kernel(rng.random(30), vecs, 0.5), 30)
    assert len(picked) == len(set(picked))
    assert len(picked) <= 4
    full = dpp.diversify(rng.random(30), vecs, 0.5, 30)
    assert sorted(full) == list(range(30))


def test_fast_greedy_matches_brute_force_greedy_and_small_exact_map():
    rng = np.random.default_rng(7)
    for trial in range(5):
        n, k = 8, 4
        rel, vecs = rng.random(n), rng.normal(size=(n, 5))
        L = dpp.kernel(rel, vecs, 0.6)
        fast = dpp.greedy_map(L, k)
        brute: list[int] = []
        for _ in range(k):
            gains = {j: np.linalg.slogdet(L[np.ix_(brute + [j], brute + [j])])[1]
                     for j in range(n) if j not in brute}
            brute.append(max(gains, key=gains.get))
        assert fast == brute
        # Greedy is a (1 - 1/e)-style approximation; on this small case its log-det is close
        # to the exact MAP found by enumeration.
        best = max(np.linalg.slogdet(L[np.ix_(s, s)])[1] for s in itertools.combinations(range(n), k))
        got = np.linalg.slogdet(L[np.ix_(fast, fast)])[1]
        assert got <= best + 1e-9 and got >= best - 1.0


def test_item_without_vector_is_handled():
    vecs = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.01]])
    s = dpp.similarity(vecs)
    assert np.all(np.linalg.eigvalsh(s) >= -1e-9)
    assert sorted(dpp.diversify(np.array([1.0, 0.5, 0.9]), vecs, 0.5, 3)) == [0, 1, 2]


def test_linucb_bonus_favours_what_the_user_has_not_explored():
    history = np.array([[1.0, 0.0, 0.0]] * 5)
    cands = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    b = exploration.linucb_bonus(cands, history, alpha=0.5)
    assert b[0] < b[1]
    assert b[1] == pytest.approx(0.5) and b[2] == pytest.approx(0.5)
    assert b[0] == pytest.approx(0.5 / np.sqrt(6))
    # No history: every direction equally uncertain.
    fresh = exploration.linucb_bonus(cands[:2], np.zeros((0, 3)), alpha=0.5)
    assert fresh[0] == pytest.approx(fresh[1])


def test_exploration_bonus_changes_the_feed():
    # Two equally relevant clusters; the user's history lies in cluster A, so LinUCB lifts B.
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([0.0, 1.0, 0.0])
    cands = pd.DataFrame({
        "content_id": [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)],
        "creator_id": [f"c{i}" for i in range(10)],
        "source": ["ann"] * 10,
        "relevance": [1.0 + 0.001 * i for i in range(5)] + [1.0 - 0.001 * i for i in range(5)],
        "tags": [["x"]] * 10,
        "vector": [a] * 5 + [b] * 5,
    })
    history = pd.Series([a] * 10)
    cfg = RerankConfig(list_size=3, theta=1.0, novelty_share=0.0,
                       exploration=ExplorationConfig(mode="linucb", alpha=0.5),
                       guards=GuardsConfig(max_per_tag=10, max_per_creator=10))
    top = rerank_user(cands, history, [], cfg)
    assert set(top["content_id"]).issubset({f"b{i}" for i in range(5)})
    off = rerank_user(cands, history, [], cfg.model_copy(update={"exploration": ExplorationConfig(mode="off")}))
    assert list(off["content_id"]) == ["a4", "a3", "a2"]
    eps = exploration.epsilon_bonus(np.arange(1000.0), 0.2, "u1|2024-05-05", 17)
    assert 0.15 < (eps > 0).mean() < 0.25
    assert np.array_equal(eps, exploration.epsilon_bonus(np.arange(1000.0), 0.2, "u1|2024-05-05", 17))


def test_novelty_share_is_injected_and_spread():
    order = list(range(40))
    novel = [i >= 30 for i in order]  # the novel items rank last
    out = novelty.inject(order, novel, 20, 0.15)
    assert len(out) == 20 and len(set(out)) == 20
    assert sum(novel[i] for i in out) == 3
    positions = [p for p, i in enumerate(out) if novel[i]]
    assert positions[0] >= 5 and positions[-1] == 19  # spread, not bunched at the top
    # Familiar items keep their order.
    assert [i for i in out if not novel[i]] == list(range(17))
    # The share is a floor, not a quota: a novel item the ranker placed early keeps its place
    # and counts towards the share; with a share of 0 the order is left as it is.
    early = novelty.inject([30, *range(30), *range(31, 40)], novel, 20, 0.15)
    assert early[0] == 30 and sum(novel[i] for i in early) == 3
    assert [p for p, i in enumerate(early) if novel[i]] == [0, 13, 19]  # 2nd and 3rd on schedule
    assert novelty.inject([0, 1, 2, 3], [False, True, False, True], 4, 0.0) == [0, 1, 2, 3]
    # A share the novel items cannot meet (20 of 40, 10 novel): all 10, one every 4 slots.
    assert novelty.inject(order, novel, 40, 0.5)[:8] == [0, 1, 2, 30, 3, 4, 5, 31]
    # Too few familiar or novel items: the other kind fills the list.
    assert len(novelty.inject([0, 1, 2, 3], [True, True, True, False], 4, 0.15)) == 4
    assert novelty.inject([0, 1, 2, 3, 4], [True, False, True, True, True], 5, 0.2) == [0, 1, 2, 3, 4]
    assert novelty.is_novel(["a"], set()) and not novelty.is_novel(["a", "b"], {"b"})


def test_caps_per_creator_and_tag_in_the_window():
    n = 60
    creators = [f"c{i % 4}" for i in range(n)]
    tags = [[f"t{i % 4}"] for i in range(n)]
    cfg = GuardsConfig(cap_window=10, max_per_creator=3, max_per_tag=3, max_top_interest_share=1.0)
    out = apply_caps(list(range(n)), creators, tags, 30, cfg)
    assert len(out) == 30 and len(set(out)) == 30
    window = out[:10]
    assert max(pd.Series([creators[i] for i in window]).value_counts()) <= 3
    assert max(pd.Series([tags[i][0] for i in window]).value_counts()) <= 3
    # Candidates that cannot fill the window: the list is cut rather than a cap broken.
    short = apply_caps(list(range(8)), ["same"] * 8, [[]] * 8, 30, cfg)
    assert short == [0, 1, 2]
    # Over-personalisation: at most 40% of the list carries the user's top tag.
    cfg2 = GuardsConfig(cap_window=5, max_per_creator=99, max_per_tag=99, max_top_interest_share=0.4)
    heavy = apply_caps(list(range(20)), [None] * 20, [["top"]] * 15 + [["other"]] * 5, 10, cfg2, "top")
    assert sum("top" in (["top"] * 15 + ["other"] * 5)[i] for i in heavy) <= 4


def _pool_frame(spark, users=6, items=40, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        for i in rng.choice(items, 25, replace=False):
            rows.append((f"u{u}", f"i{i}", f"c{i % 5}", "ann", float(rng.random()), [f"t{i % 7}"],
                         [float(x) for x in rng.normal(size=4)]))
    return spark.createDataFrame(
        rows, "user_id string, content_id string, creator_id string, source string, relevance double, "
              "tags array<string>, vector array<float>")


def test_rerank_in_spark_per_user(spark):
    cands = _pool_frame(spark)
    users = spark.createDataFrame([("u1", [[1.0, 0.0, 0.0, 0.0]], ["t0", "t1"]), ("u3", None, ["t1"])],
                                  "user_id string, history array<array<float>>, interests array<string>")
    cfg = RerankConfig(list_size=12, guards=GuardsConfig(cap_window=12, max_per_creator=3, max_per_tag=3))
    out = rerank(cands, users, cfg, seed="2024-05-05").toPandas()
    assert set(out["user_id"]) == {f"u{u}" for u in range(6)}
    for user, g in out.groupby("user_id"):
        assert sorted(g["rank"]) == list(range(1, len(g) + 1))
        assert g["content_id"].is_unique
        assert 0 < len(g) <= 12
        assert g["content_id"].str[1:].astype(int).mod(5).value_counts().max() <= 3
    with pytest.raises(ValueError, match="candidates lack column"):
        rerank(cands.drop("vector"), users, cfg)
    with pytest.raises(ValueError, match="users lack column"):
        rerank(cands, users.drop("interests"), cfg)


def test_the_spark_rerank_is_the_pandas_rerank_of_each_user(spark):
    """Spark reads each user's candidates from Arrow (vectors from the flat values buffer); the
    feed must be the one :func:`rerank_user` gives from pandas, awkward rows included: a
    repeated candidate, a null or wrongly sized vector, a null relevance, tags or creator, a
    user with history but no candidates, users without history or without a per-user row."""
    rng = np.random.default_rng(5)
    rows = []
    for u in range(5):
        for k, i in enumerate(rng.choice(60, 30, replace=False)):
            vector = [float(x) for x in rng.normal(size=4)]
            rows.append((f"u{u}", f"i{i}", f"c{i % 6}" if k != 3 else None, "ann",
                         float(rng.random()) if k != 4 else None,
                         [f"t{i % 7}", f"t{i % 3}"] if k != 5 else None,
                         vector if k not in (6, 7) else ([1.0, 2.0, 3.0] if k == 7 else None)))
        rows.append(rows[-1])  # the same candidate twice: it appears once
    schema = ("user_id string, content_id string, creator_id string, source string, relevance double, "
              "tags array<string>, vector array<float>")
    cands = spark.createDataFrame(rows, schema)
    # u1: two history vectors and interests; u2: interests only; u3: a null vector among its
    # history and null interests; u0 and u4: no row; "nobody": a row but no candidates.
    side_rows = [("u1", [[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]], ["t1", "t2"]),
                 ("u2", None, ["t3"]), ("u3", [None, [0.0, 0.0, 1.0, 0.0]], None),
                 ("nobody", [[0.0, 1.0, 0.0, 0.0]], ["t1"])]
    users = spark.createDataFrame(side_rows, "user_id string, history array<array<float>>, interests array<string>")
    cfg = RerankConfig(list_size=15, guards=GuardsConfig(cap_window=10, max_per_creator=2, max_per_tag=4))

    got = rerank(cands, users, cfg, seed="2024-05-05").toPandas()
    assert set(got["user_id"]) == {f"u{u}" for u in range(5)}  # "nobody" has no candidates
    frame = pd.DataFrame(rows, columns=[c.split()[0] for c in schema.split(", ")])
    side = {u: (h, i) for u, h, i in side_rows}
    for user, g in got.groupby("user_id"):
        history, interests = side.get(user, (None, None))
        mine = [np.array(v, np.float32) if v is not None else None for v in history or []]
        want = rerank_user(frame[frame["user_id"] == user], pd.Series(mine, dtype=object), interests,
                           cfg, f"{user}|2024-05-05")
        g = g.sort_values("rank")
        assert list(g["content_id"]) == list(want["content_id"]), user
        np.testing.assert_allclose(g["score"], want["score"].astype(float))
        assert list(g["creator_id"].fillna("-")) == list(pd.Series(want["creator_id"]).fillna("-"))
        assert [list(t) for t in g["tags"]] == [list(t) for t in want["tags"]]
        assert list(g["rank"]) == list(range(1, len(g) + 1)) and g["content_id"].is_unique


def test_farmed_items_and_homogenisation(spark):
    events = spark.createDataFrame(
        [(f"b{k}", "like", "farmed") for k in range(6)] + [("h1", "like", "farmed")]
        + [(f"h{k}", "like", "organic") for k in range(6)] + [("b0", "like", "organic")],
        "user_id string, event_type string, content_id string")
    bots = spark.createDataFrame([(f"b{k}",) for k in range(6)], "user_id string")
    got = {r.content_id: r.bot_share for r in farmed_items(events, bots, GuardsConfig()).collect()}
    assert set(got) == {"farmed"} and got["farmed"] == pytest.approx(6 / 7)

    same = spark.createDataFrame([(f"u{u}", f"i{i}") for u in range(10) for i in range(5)],
                                 "user_id string, content_id string")
    h = homogenisation(same, top_items=5)
    assert h["top_items_share"] == pytest.approx(1.0) and h["neighbour_jaccard"] == pytest.approx(1.0)
    apart = spark.createDataFrame([(f"u{u}", f"i{u}-{i}") for u in range(10) for i in range(5)],
                                  "user_id string, content_id string")
    h2 = homogenisation(apart, top_items=5)
    assert h2["neighbour_jaccard"] == 0.0 and h2["top_items_share"] == pytest.approx(0.1)


def test_items_without_a_fitting_vector_count_as_vectorless_in_the_rerank():
    """A candidate with no vector, or one of another width, is a row of zeros, and LinUCB gives
    it the widest bonus (nothing is known about it). The fitting vectors keep their values,
    whatever their float type."""
    from foryou.rerank.feed import _matrix

    vectors = pd.Series([np.array([1.0, 0.0], np.float32), None, [0.0, 2.0], np.array([1.0, 1.0, 1.0])])
    np.testing.assert_array_equal(_matrix(vectors, 2), [[1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    assert _matrix(pd.Series([None, None]), 2).tolist() == [[0.0, 0.0], [0.0, 0.0]]

    cfg = RerankConfig(list_size=4, exploration=ExplorationConfig(mode="linucb", alpha=1.0))
    cands = pd.DataFrame({"content_id": ["a", "b", "c", "d"], "creator_id": ["k1", "k2", "k3", "k4"],
                          "source": "ann", "relevance": [0.5, 0.5, 0.5, 0.5],
                          "tags": [["t1"], ["t2"], ["t3"], ["t4"]],
                          "vector": list(vectors)})
    history = pd.Series([np.array([1.0, 0.0]), np.array([1.0, 0.0])])
    out = rerank_user(cands, history, None, cfg).set_index("content_id")["score"]
    # Vectorless b and d get alpha / sqrt(ridge) = 1. With A = I + 2 e1 e1', a (along the
    # history) gets sqrt(1/3) and c (across it) 1, as much as knowing nothing.
    assert out["b"] == pytest.approx(1.5) and out["d"] == pytest.approx(1.5)
    assert out["a"] == pytest.approx(0.5 + np.sqrt(1 / 3)) and out["c"] == pytest.approx(1.5)
