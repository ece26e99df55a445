"""MLflow registry of the ranker: promotion, rollback, missing champion, pyfunc scoring.

The models are real ``MultiTaskRanker``s over a spec measured on small hand-made example
files (no training needed: promotion is decided on given test-day metric values here; the
quality test trains for real).
"""
from __future__ import annotations

import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

from foryou.config.ranking import BINARY_TASKS, RankingConfig
from foryou.ranking import registry
from foryou.ranking import spec as S
from foryou.ranking.model import MultiTaskRanker
from foryou.ranking.pyfunc import RankerPyfunc, frame_to_batch, ranker_pyfunc
from foryou.ranking.scoring import feed_score, predict, score_frame
from foryou.ranking.spec import LOG_DENSE, MULTI_HOT, PLAIN_DENSE, VECTOR, FeatureSpec

# Every single-valued index column the spec reads: the model's and the bias tower's.
INDEX_COLUMNS = {**S.CATEGORICAL, **getattr(S, "BIAS_CATEGORICAL", {})}

VECTOR_DIM = 8


def example_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows with every column the ranker reads (random values, a few nulls)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "request_id": [f"r{seed}-{i // 6}" for i in range(n)],
        "position": (np.arange(n) % 6).astype("int32"),
        "user_id": [f"u{i % 7}" for i in range(n)],
        "content_id": [f"c{rng.integers(50)}" for _ in range(n)],
    }
    sizes = {"user": 8, "item": 50, "creator": 10, "device": 3, "os": 3, "network": 3, "tag": 12}
    for col, kind in INDEX_COLUMNS.items():
        cols[col] = rng.integers(0, sizes[kind], n).astype("int32")
    for col, kind in MULTI_HOT.items():
        cols[col] = [list(rng.integers(1, sizes[kind], rng.integers(0, 4)).astype("int32"))
                     for _ in range(n)]
    cols[VECTOR] = [list(rng.normal(size=VECTOR_DIM).astype("float32")) for _ in range(n)]
    for name in LOG_DENSE:
        cols[name] = rng.exponential(5.0, n)
    for name in PLAIN_DENSE:
        cols[name] = rng.normal(size=n)
    cols["follows_creator"] = rng.random(n) < 0.2
    cols["user_suspected_bot"] = rng.random(n) < 0.05
    cols["item_duration_bucket"] = rng.integers(0, 5, n).astype("int32")
    frame = pd.DataFrame(cols)
    frame.loc[frame.index[::11], "item_like_rate"] = np.nan
    for task in BINARY_TASKS:
        frame[task] = (rng.random(n) < 0.3).astype("int32")
    frame["watch_ms"] = rng.integers(0, 60_000, n).astype("int64")
    frame["watch_ratio"] = rng.random(n)
    return frame


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(spec, ranking config, test frame): a spec measured on two small example files."""
    root = tmp_path_factory.mktemp("ranker_files")
    files = []
    for i in range(2):
        path = root / f"part-{i}.parquet"
        example_frame(120, seed=i).to_parquet(path, index=False)
        files.append(str(path))
    cfg = RankingConfig(expert_hidden=[16], embedding_dim=4)
    spec = FeatureSpec.from_files(files, cfg, vector_dim=VECTOR_DIM)
    return spec, cfg, example_frame(90, seed=7)


@pytest.fixture(scope="module")
def mlflow_home(tmp_path_factory):
    """One MLflow database for the module (creating one takes ~15 s of migrations)."""
    return tmp_path_factory.mktemp("mlflow_home")


@pytest.fixture
def ml_config(config, mlflow_home, request):
    """The test's config on the module's MLflow database, with a registered model of its own."""
    root = mlflow_home / "lake"
    return config.model_copy(update={
        "lake": config.lake.model_copy(update={"root": str(root)}),
        "mlflow": config.mlflow.model_copy(update={"registered_model": f"ranker-{request.node.name[:40]}"})})


def new_model(spec, cfg, seed: int) -> MultiTaskRanker:
    return MultiTaskRanker(spec, cfg.model_copy(update={"seed": seed}))


def register(config, spec, cfg, seed: int) -> registry.Registered:
    registry.configure(config)
    with mlflow.start_run():
        registry.log_params({"seed": seed})
        registry.log_history([{"epoch": 0, "loss": 1.0, "gates": {"click": {"entropy": 1.2}}},
                              {"epoch": 1, "loss": 0.8, "gates": {"click": {"entropy": 1.1}}}])
        model = new_model(spec, cfg, seed)
        return registry.log_ranker(config, ranker_pyfunc(model, spec, cfg), spec.to_json(),
                                   state_dict=model.state_dict(), vocabulary_version=3,
                                   examples_version=5)


def aliases(config) -> dict[str, str]:
    client = registry.configure(config)
    model = client.get_registered_model(config.mlflow.registered_model)
    return {a: str(v) for a, v in model.aliases.items()}


def test_decide_rule():
    assert registry.decide("gauc_click", 0.70, None, 0.01).promoted
    assert registry.decide("gauc_click", 0.72, 0.70, 0.01).promoted
    kept = registry.decide("gauc_click", 0.705, 0.70, 0.01)
    assert not kept.promoted and "champion kept" in kept.reason
    assert not registry.decide("gauc_click", 0.65, 0.70, 0.0).promoted
    assert not registry.decide("gauc_click", math.nan, 0.70, 0.0).promoted
    # RMSE: lower is better.
    assert registry.decide("rmse_watch", 0.9, 1.0, 0.05).promoted
    assert not registry.decide("rmse_watch", 1.1, 1.0, 0.0).promoted


def test_missing_champion_error_names_the_command(ml_config):
    config = ml_config
    with pytest.raises(registry.ChampionMissing, match="foryou train-ranker"):
        registry.load_champion(config)
    with pytest.raises(registry.ChampionMissing, match="foryou train-ranker"):
        registry.rollback(config)


def test_worse_challenger_keeps_champion_and_rollback_restores(ml_config, tiny):
    spec, cfg, _ = tiny
    config = ml_config.model_copy(update={"mlflow": ml_config.mlflow.model_copy(
        update={"promotion_margin": 0.01})})
    client = registry.configure(config)
    name = config.mlflow.registered_model
    assert registry.tracking_uri(config).startswith("sqlite:///")
    assert registry.tracking_uri(config).endswith("/lake/mlflow.db")

    v1 = register(config, spec, cfg, seed=1)
    assert aliases(config) == {"challenger": v1.version}
    first = registry.promote_or_keep(config, v1.version, 0.60, None)
    assert first.promoted and first.reason == "no champion yet"
    assert aliases(config)["champion"] == v1.version

    # Worse, then better by less than the margin: both rejected, champion stays v1.
    v2 = register(config, spec, cfg, seed=2)
    worse = registry.promote_or_keep(config, v2.version, 0.55, 0.60)
    assert not worse.promoted and "does not beat" in worse.reason
    assert aliases(config) == {"champion": v1.version, "challenger": v2.version}
    tags = client.get_model_version(name, v2.version).tags
    assert tags["promotion"] == "rejected" and "champion kept" in tags["promotion_reason"]
    run = client.get_run(v2.run_id)
    assert run.data.tags["promotion"] == "rejected"
    v3 = register(config, spec, cfg, seed=3)
    assert not registry.promote_or_keep(config, v3.version, 0.605, 0.60).promoted
    assert aliases(config)["champion"] == v1.version

    # Lineage and training history are on the run.
    assert client.get_model_version(name, v1.version).tags["examples_version"] == "5"
    history = client.get_metric_history(v1.run_id, "loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [1.0, 0.8]
    assert client.get_metric_history(v1.run_id, "gates.click.entropy")

    # Better by more than the margin: promoted; rollback restores v1, then nothing is left.
    v4 = register(config, spec, cfg, seed=4)
    assert registry.promote_or_keep(config, v4.version, 0.65, 0.60).promoted
    assert aliases(config)["champion"] == v4.version
    demoted, restored = registry.rollback(config)
    assert (demoted, restored) == (v4.version, v1.version)
    assert aliases(config)["champion"] == v1.version
    assert client.get_model_version(name, v4.version).tags["rolled_back"] == "true"
    with pytest.raises(registry.ChampionMissing, match="no previous champion"):
        registry.rollback(config)
    # Rolling forward to a named version works too.
    assert registry.rollback(config, to_version=v4.version) == (v1.version, v4.version)

    champion = registry.load_champion(config)
    assert champion.unwrap_python_model().tasks == spec.tasks


def test_pyfunc_scoring_in_spark_equals_eager(spark, ml_config, tiny):
    spec, cfg, frame = tiny
    config = ml_config
    v = register(config, spec, cfg, seed=5)
    model = new_model(spec, cfg, seed=5).eval()

    # Eager: the torch model on the same rows, no Spark, no MLflow.
    eager = predict(model, frame_to_batch(frame, spec))
    expected_score = feed_score(eager, cfg.score_weights, torch.zeros(len(frame))).numpy()

    df = spark.createDataFrame(frame.drop(columns=list(BINARY_TASKS) + ["watch_ms"])).repartition(2)
    scored = score_frame(df, v.uri, keep=["request_id", "position"]).toPandas()
    scored = scored.set_index(["request_id", "position"]).loc[
        list(zip(frame["request_id"], frame["position"]))]
    assert len(scored) == len(frame)
    for task in spec.tasks:
        np.testing.assert_allclose(scored[f"p_{task}"], eager[task].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scored["pred_watch"], eager["watch_target"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scored["score"], expected_score, rtol=1e-5, atol=1e-6)
    # The bias tower is not used: scores do not depend on the position column.
    moved = frame.assign(position=frame["position"] + 3)
    pyfunc = RankerPyfunc(model, spec, spec.tasks, cfg.score_weights)
    np.testing.assert_allclose(pyfunc.predict(None, moved)["score"], expected_score, rtol=1e-6)


def test_a_ranker_pickled_before_predict_arrow_still_loads_and_scores(tiny):
    """Registered rankers were pickled with ``to_batch``, ``predict_fn`` and ``score_fn``
    attributes naming module functions; a registry upgraded to this code must still load
    and score them (the pickle looks those names up in foryou.ranking.pyfunc)."""
    import cloudpickle

    from foryou.ranking import pyfunc as P

    spec, cfg, frame = tiny
    model = new_model(spec, cfg, seed=3).eval()
    old = RankerPyfunc(model, spec, spec.tasks, cfg.score_weights)
    old.__dict__.update(to_batch=P.frame_to_batch, predict_fn=P._default_predict,
                        score_fn=P._default_score)
    loaded = cloudpickle.loads(cloudpickle.dumps(old))
    eager = predict(model, frame_to_batch(frame, spec))
    expected = feed_score(eager, cfg.score_weights, torch.zeros(len(frame))).numpy()
    np.testing.assert_allclose(loaded.predict(None, frame)["score"], expected, rtol=1e-6)


def test_model_weights_come_from_the_run_params_or_the_model(ml_config, tiny):
    from foryou.ranking.scoring import model_weights

    spec, cfg, _ = tiny
    # Logged without the ranking section: the model itself is asked.
    bare = register(ml_config, spec, cfg, seed=5)
    uri = f"models:/{ml_config.mlflow.registered_model}/{bare.version}"
    assert model_weights(uri) == dict(cfg.score_weights)
    # Logged as train-ranker logs it: the run's params give the weights, no model download.
    changed = cfg.model_copy(update={"score_weights": {**cfg.score_weights, "watch": 0.7}})
    registry.configure(ml_config)
    with mlflow.start_run():
        registry.log_params({"ranking": changed.model_dump(mode="json")})
        model = new_model(spec, changed, seed=6)
        logged = registry.log_ranker(ml_config, ranker_pyfunc(model, spec, changed), spec.to_json(),
                                     state_dict=model.state_dict(), vocabulary_version=3,
                                     examples_version=5)
    weights = model_weights(f"models:/{ml_config.mlflow.registered_model}/{logged.version}")
    assert weights == dict(changed.score_weights) and weights["watch"] == 0.7
