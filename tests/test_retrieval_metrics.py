"""Retrieval metrics: hand-computed values, and the Spark versions agree with numpy."""
from __future__ import annotations

import math

import numpy as np
import pytest

from foryou.evaluation import retrieval as R

LISTS = {"A": ["a", "b", "c", "d"], "B": ["x", "y"], "D": ["a", "x"]}
POSITIVES = {"A": {"b", "d", "z"}, "B": {"x"}, "C": {"q"}}
L3 = 1 / math.log2(3)
# A: one hit at rank 2 of 3 positives; B: one hit at rank 1 of 1; C has no list, D no positives.
HAND = {
    "recall": (1 / 3 + 1) / 2,
    "precision": (1 / 3 + 1 / 3) / 2,
    "ndcg": (L3 / (1 + L3 + 0.5) + 1) / 2,
    "map": ((1 / 2) / 3 + 1) / 2,
}


def test_user_and_mean_metrics_by_hand():
    a = R.user_metrics(LISTS["A"], POSITIVES["A"], 3)
    assert a["recall"] == pytest.approx(1 / 3)
    assert a["ndcg"] == pytest.approx(L3 / (1 + L3 + 0.5))
    assert a["map"] == pytest.approx(1 / 6)
    got = R.ranking_metrics_pd(LISTS, POSITIVES, 3)
    assert got["users"] == 2
    for m, v in HAND.items():
        assert got[m] == pytest.approx(v), m
    perfect = R.user_metrics(["p", "q"], {"p", "q"}, 2)
    assert perfect == {"recall": 1.0, "precision": 1.0, "ndcg": pytest.approx(1.0), "map": 1.0}
    with pytest.raises(ValueError, match="without positives"):
        R.user_metrics(["a"], set(), 3)


def test_gini_coverage_diversity_novelty_by_hand():
    assert R.gini([1, 1, 1, 1]) == 0.0
    assert R.gini([0, 0, 0, 4]) == pytest.approx(0.75)
    assert R.gini([1, 3]) == pytest.approx(0.25)
    assert R.coverage_pd(LISTS, 10, 3) == pytest.approx(0.5)  # a b c x y
    vectors = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0]), "c": np.array([2.0, 0.0]),
               "x": np.array([1.0, 1.0]), "y": np.array([3.0, 3.0])}
    # A: cos(a,b)=0, cos(a,c)=1, cos(b,c)=0 -> 1 - 1/3; B: identical directions -> 0; D: cos 1/sqrt2.
    want = ((1 - 1 / 3) + 0.0 + (1 - 1 / math.sqrt(2))) / 3
    assert R.intra_list_diversity_pd(LISTS, vectors, 3) == pytest.approx(want)
    assert R.novelty_pd({"u": ["a"]}, {"a": 1}, 3, 3) == pytest.approx(1.0)


def test_spark_versions_agree_with_numpy(spark):
    recs = spark.createDataFrame(
        [(u, r, c, "s1") for u, lst in LISTS.items() for r, c in enumerate(lst, start=1)]
        + [("A", 1, "d", "s2"), ("B", 1, "y", "s2")],
        "user_id string, rank int, content_id string, source string")
    pos = spark.createDataFrame([(u, c) for u, s in POSITIVES.items() for c in s],
                                "user_id string, content_id string")
    by_source = R.ranking_metrics(recs, pos, 3, group_by="source").set_index("source")
    for m, v in HAND.items():
        assert by_source.loc["s1", m] == pytest.approx(v), m
    # s2: A hits d at rank 1 (1 of 3 positives), B misses.
    assert by_source.loc["s2", "recall"] == pytest.approx((1 / 3) / 2)
    assert by_source.loc["s2", "map"] == pytest.approx((1 / 3) / 2)
    assert by_source.loc["s2", "users"] == 2

    s1 = recs.where("source = 's1'")
    assert R.coverage(s1, 10, 3) == pytest.approx(0.5)
    vecs = spark.createDataFrame([("a", [1.0, 0.0]), ("b", [0.0, 1.0]), ("c", [2.0, 0.0]),
                                  ("x", [1.0, 1.0]), ("y", [3.0, 3.0])],
                                 "content_id string, vector array<float>")
    want = ((1 - 1 / 3) + 0.0 + (1 - 1 / math.sqrt(2))) / 3
    assert R.intra_list_diversity(s1, vecs, 3) == pytest.approx(want, abs=1e-6)
    inter = spark.createDataFrame([("A", "a"), ("B", "a"), ("C", "b")], "user_id string, content_id string")
    slots = [c for lst in LISTS.values() for c in lst[:3]]
    want_nov = np.mean([-math.log2(({"a": 2, "b": 1}.get(c, 0) + 1) / 4) for c in slots])
    assert R.novelty(s1, inter, 3) == pytest.approx(want_nov)
    items = spark.createDataFrame([("a", "k1"), ("b", "k1"), ("c", "k1"), ("d", "k2"), ("x", "k2"), ("y", "k3")],
                                  "content_id string, creator_id string")
    # top-3 slots: A a,b,c (k1 x3), B x,y (k2, k3), D a,x (k1, k2) -> exposure k1 4, k2 2, k3 1
    assert R.creator_gini(s1, items, 3) == pytest.approx(R.gini([4, 2, 1]))
    creators = spark.createDataFrame([("k1",), ("k2",), ("k3",), ("k4",)], "creator_id string")
    assert R.creator_gini(s1, items, 3, creators) == pytest.approx(R.gini([4, 2, 1, 0]))


def test_evaluate_retrieval_against_baselines(spark, config):
    """Export, per-source, ALS-only (ann) and popularity lists scored on the held-out day."""
    import datetime as dt

    from foryou.lake import Lake, table

    def frame(name, rows):
        spec = table(name)
        return spark.createDataFrame([tuple(r.get(f.name) for f in spec.schema) for r in rows], spec.schema)

    day = dt.date(2024, 5, 5)
    lake = Lake(spark, config)
    # Held out on day 5: u1 likes i1 and i2, u2 long-views i3. Before: u9 viewed i9 a lot.
    imps = [{"request_id": f"r{k}", "position": 0, "user_id": u, "content_id": c, "event_ts": dt.datetime(2024, 5, d),
             "event_date": dt.date(2024, 5, d), "like": like, "long_view": lv}
            for k, (u, c, d, like, lv) in enumerate([("u1", "i1", 5, 1, 0), ("u1", "i2", 5, 1, 0),
                                                     ("u2", "i3", 5, 0, 1), ("u9", "i9", 4, 1, 1)])]
    lake.append("silver.impressions", frame("silver.impressions", imps))
    lake.append("gold.item_features", frame("gold.item_features", [
        {"content_id": f"i{k}", "creator_id": f"c{k % 2}", "views": 100 if k == 9 else k, "as_of_date": day}
        for k in range(10)]))
    pool = [("u1", "i1", "ann", 1), ("u1", "i5", "ann", 2), ("u1", "i2", "trending", 1),
            ("u2", "i4", "ann", 1), ("u2", "i3", "trending", 1)]
    lake.append("gold.candidate_pool", frame("gold.candidate_pool", [
        {"user_id": u, "content_id": c, "sources": [s], "source": s, "source_rank": r, "as_of_date": day}
        for u, c, s, r in pool]))
    export = spark.createDataFrame([("u1", 1, "i1"), ("u1", 2, "i2"), ("u2", 1, "i3"), ("u2", 2, "i4")],
                                   "user_id string, rank int, content_id string")
    got = R.evaluate_retrieval(lake, day, k=2, export=export).set_index("list")
    assert set(got.index) == {"merged", "ann", "trending", "als_only", "popularity"}
    assert got.loc["merged", "recall"] == pytest.approx(1.0)
    assert got.loc["ann", "recall"] == pytest.approx((0.5 + 0.0) / 2)
    assert got.loc["trending", "recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert got.loc["als_only", "recall"] == got.loc["ann", "recall"]
    # Popularity: everyone gets i9, i8 -> no hits.
    assert got.loc["popularity", "recall"] == 0.0 and got.loc["popularity", "coverage"] == pytest.approx(0.2)
    assert got.loc["merged", "coverage"] == pytest.approx(0.4)
    assert got.loc["popularity", "novelty"] < got.loc["merged", "novelty"]  # i9 was engaged before
