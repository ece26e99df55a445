"""Evaluation: business metrics, retention, trends, PSI and the A/B test on hand-built frames."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from foryou.evaluation import abtest, business
from foryou.evaluation.trends import trending
from foryou.monitoring.drift import feature_psi, psi

D1, D2, D3, D4 = (dt.date(2024, 5, d) for d in (1, 2, 3, 4))
IMP_SCHEMA = ("user_id string, content_id string, creator_id string, event_date date, click int, "
              "like int, comment int, share int, follow int, save int, watch_ms bigint, "
              "has_impressions boolean")


def _events(spark, rows):
    return spark.createDataFrame(rows, "user_id string, event_date date")


def _imp(user, item, creator, day, click=0, like=0, follow=0, watch_ms=0, has=True):
    return (user, item, creator, day, click, like, 0, 0, follow, 0, watch_ms, has)


def test_retention_matches_hand_count(spark):
    # Day 1: a b c d; day 2: a b; day 3: a c e; day 4: e.
    events = _events(spark, [("a", D1), ("a", D1), ("b", D1), ("c", D1), ("d", D1),
                             ("a", D2), ("b", D2),
                             ("a", D3), ("c", D3), ("e", D3), ("e", D4)])
    table = {(r.cohort_day, r.lag): (r.cohort_size, r.retained)
             for r in business.retention(events, 3, "active").collect()}
    assert table[(D1, 1)] == (4, 2)      # a, b back on day 2
    assert table[(D1, 2)] == (4, 2)      # a, c on day 3
    assert table[(D1, 3)] == (4, 0)      # nobody of day 1 on day 4
    assert table[(D2, 1)] == (2, 1)      # a
    assert table[(D3, 1)] == (3, 1)      # e
    assert (D4, 1) not in table          # day 5 is outside the data: not churn
    new = {(r.cohort_day, r.lag): (r.cohort_size, r.retained)
           for r in business.retention(events, 3, "new").collect()}
    assert new[(D1, 2)] == (4, 2) and new[(D3, 1)] == (1, 1)    # e is the only new user of day 3
    assert (D2, 1) not in new                                    # nobody new on day 2
    on = business.retention_on(events, D3, [1, 2, 7])
    assert on == {1: pytest.approx(0.5), 2: pytest.approx(0.5), 7: None}
    curve = {r.lag: r.rate for r in business.retention_curve(
        business.retention(events, 3, "active")).collect()}
    assert curve[1] == pytest.approx((2 + 1 + 1) / (4 + 2 + 3))


def test_business_metrics_on_a_small_day(spark):
    events = _events(spark, [("u1", D1), ("u2", D1), ("u1", D2), ("u3", D2), ("u3", D2)])
    imps = spark.createDataFrame([
        _imp("u1", "i1", "c1", D2, click=1, watch_ms=10_000),
        _imp("u1", "i2", "c1", D2, click=1, follow=1, watch_ms=20_000),
        _imp("u1", "i3", "c2", D2, click=1, like=1, watch_ms=5_000),
        _imp("u3", "i1", "c1", D2, click=0),
        _imp("u3", "i4", "c3", D2, click=1, watch_ms=15_000),
        _imp("u3", "i5", "c3", D2, click=1, has=False),    # interactions-only log: not in CTR
        _imp("u2", "i1", "c1", D1, click=1, like=1),         # another day
    ], IMP_SCHEMA)
    sessions = spark.createDataFrame(
        [("u1", D2, 100.0), ("u1", D2, 300.0), ("u3", D2, 200.0), ("u2", D1, 50.0)],
        "user_id string, session_date date, duration_s double")
    m = business.daily_business_metrics(events, imps, sessions, D2, [1])
    assert m["dau"] == 2
    assert m["retention_d1"] == pytest.approx(0.5)           # u1 of {u1, u2}
    assert m["impressions"] == 5
    assert m["ctr"] == pytest.approx(4 / 5)
    assert m["engagement_rate"] == pytest.approx(2 / 5)      # the follow and the like
    assert m["watch_s_per_user"] == pytest.approx(50.0 / 2)
    assert m["avg_session_s"] == pytest.approx(200.0)
    assert m["time_spent_per_user_s"] == pytest.approx(600.0 / 2)
    # Viewed pairs: (u1,c1) followed, (u1,c2), (u3,c3); (u3,c1) had no valid play.
    assert m["follow_conversion"] == pytest.approx(1 / 3)


def test_psi_hand_computed():
    assert psi([50, 50], [25, 75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="bins"):
        psi([1, 2], [1, 2, 3])


def test_feature_psi_flags_a_shift_only(spark):
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.exponential(1, 2000)})
    same = pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.exponential(1, 2000)})
    shifted = same.assign(a=same["a"] + 1.0)
    r, s, sh = (spark.createDataFrame(f) for f in (ref, same, shifted))
    stable = feature_psi(r, s, ["a", "b"], bins=10)
    moved = feature_psi(r, sh, ["a", "b"], bins=10)
    assert stable["a"] < 0.05 and stable["b"] < 0.05
    assert moved["a"] > 0.25 and moved["b"] < 0.05


def test_trends_flag_the_planted_item(spark):
    rows = []
    for day_i, day in enumerate([D1, D2, D3, D4]):
        for item in range(30):
            for n in range(3 + item % 3):          # steady items: 3-5 plays a day
                rows.append(_imp(f"u{n}", f"i{item}", f"c{item % 5}", day, click=1))
        # the planted item: 3 plays a day, then 40 on the last day
        for n in range(40 if day == D4 else 3):
            rows.append(_imp(f"v{n}", "hot", "c9", day, click=1))
    imps = spark.createDataFrame(rows, IMP_SCHEMA)
    content = spark.createDataFrame([(f"i{i}", [f"t{i % 10}"]) for i in range(30)]
                                    + [("hot", ["t_hot"])], "content_id string, tags array<string>")
    found = trending(imps, content, D4, recent_days=1, window_days=3, z=3.5, min_engagements=5)
    items = {r.subject for r in found["item"].where("anomalous").collect()}
    assert items == {"hot"}
    tags = {r.subject for r in found["tag"].where("anomalous").collect()}
    assert tags == {"t_hot"}


def _ab_logs(spark, seed: int, p_control: float, p_treatment: float, users: int = 2000,
             per_user: int = 8):
    rng = np.random.default_rng(seed)
    variant = np.where(rng.random(users) < 0.5, "treatment", "control")
    p = np.where(variant == "treatment", p_treatment, p_control)
    rows = []
    for u in range(users):
        clicks = rng.random(per_user) < p[u]
        for j in range(per_user):
            rows.append((f"u{u}", variant[u], f"i{j}", "c", D1 if j < per_user // 2 else D2,
                         int(clicks[j]), 0, 0, 0, 0, 0,
                         int(rng.exponential(8000 * (1 + (p[u] - p_control)))), True))
    imps = spark.createDataFrame(rows, IMP_SCHEMA.replace("user_id string,", "user_id string, arm string,"))
    return imps


def test_ab_test_detects_a_planted_effect(spark):
    imps = _ab_logs(spark, seed=7, p_control=0.30, p_treatment=0.34)
    effects = {e.metric: e for e in abtest.compare(imps, None, "arm", "control", "treatment")}
    ctr = effects["ctr"]
    assert ctr.significant and ctr.p_value < 1e-4
    assert ctr.ci_low < 0.04 < ctr.ci_high and ctr.diff > 0
    assert ctr.lift == pytest.approx(ctr.diff / ctr.control)


def test_ab_test_does_not_flag_an_aa_split(spark):
    imps = _ab_logs(spark, seed=11, p_control=0.30, p_treatment=0.30)
    effects = abtest.compare(imps, None, "arm", "control", "treatment")
    assert not any(e.significant for e in effects), [(e.metric, e.p_value) for e in effects]
    for e in effects:
        assert e.ci_low <= 0 <= e.ci_high


def test_ab_test_errors_name_the_problem(spark):
    imps = _ab_logs(spark, seed=1, p_control=0.3, p_treatment=0.3, users=20, per_user=2)
    with pytest.raises(ValueError, match="'bucket'"):
        abtest.compare(imps, None, "bucket", "control", "treatment")
    with pytest.raises(ValueError, match="no impressions"):
        abtest.compare(imps, None, "arm", "control", "nobody")


def test_welch_and_z_match_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.normal(10, 2, 300), rng.normal(10.5, 3, 250)
    e = abtest.welch("t", a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    assert e.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    z = abtest.two_proportion_z("r", 300, 1000, 360, 1000)
    pooled = 660 / 2000
    expected_z = (0.36 - 0.30) / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert z.p_value == pytest.approx(2 * stats.norm.sf(expected_z))


def test_hash_buckets_are_stable_and_spread(spark):
    users = spark.createDataFrame([(f"u{i}",) for i in range(2000)], "user_id string")
    a = {r.user_id: r.bucket for r in abtest.hash_buckets(users, "s", 10).collect()}
    b = {r.user_id: r.bucket for r in abtest.hash_buckets(users, "s", 10).collect()}
    assert a == b and set(a.values()) == set(range(10))
    counts = np.bincount(list(a.values()), minlength=10)
    assert counts.min() > 120
