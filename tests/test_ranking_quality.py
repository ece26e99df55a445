"""Ranker metrics on hand-computed cases, and the trained ranker against popularity."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from foryou.ranking import metrics as M

# --- metric functions ---------------------------------------------------------------------


def test_auc_hand_computed():
    # Positives 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered -> 0.75.
    assert M.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert M.auc([0, 1], [0.2, 0.9]) == 1.0
    assert M.auc([1, 0], [0.2, 0.9]) == 0.0
    # Ties count half: a constant scorer is exactly 0.5; one tied pair of 4 -> (3 + 0.5) / 4.
    assert M.auc([0, 1, 0, 1], [0.3] * 4) == 0.5
    assert M.auc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.8]) == pytest.approx(0.875)
    assert math.isnan(M.auc([1, 1], [0.1, 0.2]))
    with pytest.raises(ValueError, match="shape"):
        M.auc([0, 1], [0.1])


def test_gauc_weights_users_by_impressions_and_skips_one_class_users():
    users = ["a", "a", "a", "a", "b", "b", "c", "c"]
    labels = [0, 0, 1, 1, 1, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.2, 0.8, 0.5, 0.6]
    # a: AUC 0.75 over 4 impressions; b: AUC 0 over 2; c: one class, skipped.
    assert M.gauc(users, labels, scores) == pytest.approx((0.75 * 4 + 0.0 * 2) / 6)
    assert math.isnan(M.gauc(["a", "b"], [1, 0], [0.5, 0.5]))


def test_spark_gauc_equals_pandas_gauc(spark):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"user_id": [f"u{i}" for i in rng.integers(0, 15, 400)],
                          "click": rng.integers(0, 2, 400), "p": rng.random(400)})
    expected = M.gauc(frame["user_id"], frame["click"], frame["p"])
    assert M.spark_gauc(spark.createDataFrame(frame), "user_id", "click", "p") == pytest.approx(expected)


def test_rmse_spearman_calibration():
    assert M.rmse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]) == pytest.approx(math.sqrt(4 / 3))
    assert M.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert M.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(M.spearman([1, 2, 3], [5, 5, 5]))
    p = np.linspace(0.01, 0.99, 100)
    y = (np.arange(100) % 10 < 5).astype(int)  # observed 0.5 in every decile
    table = M.calibration_table(y, p)
    assert list(table["count"]) == [10] * 10
    assert table["observed"].tolist() == pytest.approx([0.5] * 10)
    assert table["predicted"].is_monotonic_increasing
    assert M.expected_calibration_error(table) == pytest.approx(np.mean(np.abs(table["predicted"] - 0.5)))


def test_random_exposures_are_read_alone_and_older_files_have_none(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from foryou.ranking import quality as Q

    new, old = str(tmp_path / "new.parquet"), str(tmp_path / "old.parquet")
    pq.write_table(pa.table({"user_id": ["a", "a", "b", "c"], "click": [1, 0, 1, 0],
                             "exposure": ["random", "policy", "random", None]}), new)
    pq.write_table(pa.table({"user_id": ["d"], "click": [1]}), old)
    shown = Q.random_exposures([old, new], max_rows=100)
    assert sorted(shown["user_id"]) == ["a", "b"] and set(shown["exposure"]) == {"random"}
    # A bounded sample keeps whole users, counted among the random rows alone.
    assert len(Q.random_exposures([new], max_rows=1, seed=1)) <= 2
    assert Q.random_exposures([old], max_rows=100).empty


def test_random_exposures_read_files_whose_strings_are_views_and_plain_alike(tmp_path):
    """delta-rs rewrites a table's files with string_view columns (a forget, a delete) while
    appends write string: the held-out sample reads both, whichever file comes first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from foryou.ranking import quality as Q

    frame = {"user_id": ["a", "b"], "click": [1, 0], "exposure": ["random", "policy"]}
    plain, views = str(tmp_path / "plain.parquet"), str(tmp_path / "views.parquet")
    pq.write_table(pa.table(frame), plain)
    pq.write_table(pa.table({k: pa.array(v, pa.string_view()) if k != "click" else v
                             for k, v in frame.items()}), views)
    for files in ([views, plain], [plain, views]):
        shown = Q.random_exposures(files, max_rows=100)
        assert list(shown["user_id"]) == ["a", "a"] and list(shown["click"]) == [1, 1]


def test_lightgbm_baseline_learns_the_tasks_on_the_dense_features(tmp_path):
    """The gradient-boosted trees baseline: one model per binary task and one for watch time,
    on the spec's dense features; on synthetic examples whose click depends on interest and
    item quality it ranks well above chance, and it predicts every task of the spec."""
    import pyarrow.parquet as pq

    from foryou.config.ranking import RankingConfig
    from foryou.ranking import FeatureSpec
    from foryou.ranking import baselines as B
    from foryou.ranking import quality as Q
    from foryou.ranking.synthetic import write_examples

    train_files = write_examples(tmp_path / "train", 1, 3000, seed=1)
    test_files = write_examples(tmp_path / "test", 1, 1500, seed=2)
    spec = FeatureSpec.from_files(train_files, RankingConfig())
    train, test = (pq.read_table(f[0]).to_pandas() for f in (train_files, test_files))
    trees = B.GradientBoostedTrees(train, spec, Q.watch_target_of(spec), n_estimators=60)
    preds = trees(test)
    assert set(preds.columns) == {f"p_{t}" for t in spec.tasks} | {"pred_watch"}
    assert ((preds.filter(like="p_") >= 0) & (preds.filter(like="p_") <= 1)).all().all()
    assert M.auc(test["click"].to_numpy(), preds["p_click"].to_numpy()) > 0.6
    logistic = B.LogisticBaseline(train, spec, Q.watch_target_of(spec))(test)
    assert len(logistic) == len(preds)


# --- the trained ranker on the tiny world ---------------------------------------------------

# The tiny world (120 users, 5 days, 1.5k items) is small: training on days 1-3 (~9k
# examples), validating on day 4 and testing on day 5 (~2.3k impressions of ~80 users).
# Measured on a copy of it with the settings below: click AUC ranker 0.665, popularity 0.634,
# logistic 0.676, oracle 0.768. With only 1-2 training days the ranker fell below popularity
# (0.53-0.59 vs 0.60-0.61), so this margin needs at least the three training days it has.
CLICK_AUC_MARGIN = 0.02


@pytest.fixture(scope="module")
def trained(gold_world, tmp_path_factory):
    """One train-ranker run on a private copy of the tiny world (popularity, logistic, oracle)."""
    from foryou.config import load_config
    from foryou.config.settings import RankingSettings
    from foryou.ranking.stage import TrainOptions, summary, train_ranker

    tmp = tmp_path_factory.mktemp("ranker_quality")
    _, lake = gold_world.copy(tmp)
    config = load_config(overrides=[*gold_world.overrides(tmp / "lake"),
                                    "ranking.epochs=3", "ranking.batch_size=256",
                                    "ranking.embedding_dim=4", "ranking.l2=1e-4",
                                    "ranking.expert_hidden=[32]", "ranking.tower_hidden=[8]"])
    options = TrainOptions(baselines=("popularity", "logistic"),
                           truth=str(gold_world.truth / "impressions"), eval_rows=50_000)
    outcome = train_ranker(lake, RankingSettings.of(config), gold_world.dates[-1], options)
    print(summary(outcome))
    return config, outcome


@pytest.mark.slow
def test_trained_ranker_is_evaluated_registered_and_promoted(trained):
    from foryou.ranking import registry

    config, outcome = trained
    report = outcome.report
    assert set(report.table.index) == {"mmoe", "popularity", "logistic", "oracle"}
    assert report.rows > 500 and report.users > 20
    for task in ("click", "long_view"):
        # The generator's true probabilities are the ceiling: they beat every model.
        oracle = report.metric("oracle", f"auc_{task}")
        assert oracle > 0.65, report.text()
        for model in ("mmoe", "popularity", "logistic"):
            assert report.metric(model, f"auc_{task}") < oracle, report.text()
    assert report.metric("mmoe", "rmse_watch") is not None
    assert "click" in report.calibration["mmoe"] and len(report.calibration["mmoe"]["click"]) > 1
    # The first model becomes champion.
    assert outcome.decision.promoted and outcome.decision.reason == "no champion yet"
    assert registry.champion_version(config) == outcome.registered.version
    assert len(outcome.history) >= 1


@pytest.mark.slow
def test_trained_ranker_beats_popularity_on_click_auc(trained):
    _, outcome = trained
    report = outcome.report
    mmoe, popularity = report.metric("mmoe", "auc_click"), report.metric("popularity", "auc_click")
    assert mmoe > popularity + CLICK_AUC_MARGIN, report.text()
