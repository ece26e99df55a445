"""Embeddings: ALS on engagement strength, content vectors for items without interactions,
one model_version across both tables, and clear errors and fallbacks on empty input."""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from pyspark.sql import functions as F

from foryou.config.embeddings import EmbeddingsConfig
from foryou.embeddings import columns as C
from foryou.embeddings.content import fit_projection, project
from foryou.embeddings.strength import pair_strength
from foryou.embeddings.train import EmbeddingsError, train_embeddings, training_pairs
from foryou.lake import Lake

VERSION = re.compile(r"^als-2024-05-05-[0-9a-f]{8}$")


@pytest.fixture(scope="module")
def trained(gold_world, tmp_path_factory):
    """The gold world with `foryou train-embeddings` run for its last day (through the CLI)."""
    from foryou.cli import main as foryou

    root = tmp_path_factory.mktemp("embeddings_world")
    config, lake = gold_world.copy(root)
    run_date = gold_world.dates[-1]
    assert foryou(["train-embeddings", "--run-date", str(run_date), *gold_world.args(root / "lake")]) == 0
    return config, lake, run_date, root / "lake"


def test_als_writes_both_tables_under_one_model_version(trained):
    config, lake, _, _ = trained
    items = lake.read(C.ITEM_EMBEDDINGS).toPandas()
    users = lake.read(C.USER_EMBEDDINGS).toPandas()
    assert len(items) > 0 and len(users) > 0
    versions = set(items[C.MODEL_VERSION]) | set(users[C.MODEL_VERSION])
    assert len(versions) == 1 and VERSION.match(versions.pop())
    assert not items[C.CONTENT_ID].duplicated().any() and not users[C.USER_ID].duplicated().any()
    rank = config.embeddings.rank
    assert {len(v) for v in items[C.VECTOR]} == {rank} and {len(v) for v in users[C.VECTOR]} == {rank}
    assert set(items[C.KIND]) == {C.COLLABORATIVE, C.CONTENT}
    assert np.isfinite(np.stack(items[C.VECTOR].to_numpy())).all()
    # User ids are the silver pseudonyms, never raw ids.
    known = {r[0] for r in lake.read("silver.users").select(C.USER_ID).collect()}
    assert set(users[C.USER_ID]) <= known


def test_items_without_interactions_get_a_content_vector(trained):
    config, lake, run_date, _ = trained
    features = lake.read(C.ITEM_FEATURES, partitions=[run_date]).where(F.col("content_vector").isNotNull())
    # The pairs ALS learned from: the training window's positive pairs (a pair's strength
    # summed over every day may differ in sign from its sum within the window).
    trained_on = training_pairs(lake, config.embeddings, run_date).select(C.CONTENT_ID).distinct()
    cold = features.select(C.CONTENT_ID).join(trained_on, C.CONTENT_ID, "left_anti")
    items = lake.read(C.ITEM_EMBEDDINGS)
    assert cold.count() > 0, "the world should hold items nobody engaged with"
    cold_vectors = cold.join(items, C.CONTENT_ID, "left").toPandas()
    assert cold_vectors[C.VECTOR].notna().all()
    assert set(cold_vectors[C.KIND]) == {C.CONTENT}
    # Every item with features has a vector.
    assert features.join(items, C.CONTENT_ID, "left_anti").count() == 0


def test_rerun_of_the_same_date_adds_nothing(trained, gold_world):
    from foryou.cli import main as foryou

    config, lake, run_date, root = trained
    before = lake.version(C.ITEM_EMBEDDINGS)
    assert foryou(["train-embeddings", "--run-date", str(run_date), *gold_world.args(root)]) == 0
    assert lake.version(C.ITEM_EMBEDDINGS) == before


def test_too_few_pairs_falls_back_to_content_space(trained):
    config, lake, run_date, _ = trained
    cfg = config.embeddings.model_copy(update={"min_pairs": 10**9})
    result = train_embeddings(lake, cfg, run_date)
    assert result.fallback and "content vectors only" in result.fallback
    items, users = result.items.toPandas(), result.users.toPandas()
    assert set(items[C.KIND]) == {C.CONTENT}
    dim = config.features.vector_dim
    assert {len(v) for v in items[C.VECTOR]} == {dim} and {len(v) for v in users[C.VECTOR]} == {dim}
    assert len(users) > 0


def test_empty_lake_is_a_clear_error(spark, config):
    with pytest.raises(EmbeddingsError, match="foryou features --run-date 2024-05-05"):
        train_embeddings(Lake(spark, config), config.embeddings, dt.date(2024, 5, 5))


def test_negative_feedback_lowers_strength(spark):
    rows = [  # user, item, watch_ratio, like, share, hide, report
        ("u", "liked", 0.5, 1, 0, 0, 0),
        ("u", "watched", 0.5, 0, 0, 0, 0),
        ("u", "hidden", 1.5, 1, 0, 1, 0),
        ("u", "reported", 2.0, 0, 1, 0, 1),
        ("u", "shared", 0.5, 0, 1, 0, 0),
    ]
    df = spark.createDataFrame(rows, "user_id string, content_id string, watch_ratio double, "
                                     "like int, share int, hide int, report int")
    cfg = EmbeddingsConfig(strength_weights={"watch_ratio": 1.0, "like": 2.0, "share": 3.0,
                                             "hide": -5.0, "report": -10.0})
    got = {r[C.CONTENT_ID]: r[C.STRENGTH] for r in pair_strength(df, cfg).collect()}
    assert set(got) == {"liked", "watched", "shared"}  # hidden and reported pairs are gone
    assert got["shared"] > got["liked"] > got["watched"] > 0
    with pytest.raises(ValueError, match="'follow'"):
        pair_strength(df, EmbeddingsConfig(strength_weights={"follow": 1.0}))


def test_content_projection_recovers_a_linear_map(spark):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    w = rng.normal(size=(7, 4))
    y = np.hstack([x, np.ones((200, 1))]) @ w
    df = spark.createDataFrame([(f"i{i}", x[i].tolist(), y[i].tolist()) for i in range(200)],
                               "content_id string, x array<float>, y array<float>")
    fitted = fit_projection(df, "x", "y", ridge=0.0)
    assert np.allclose(fitted, w, atol=1e-3)
    projected = project(df.select("content_id", "x"), "x", fitted).orderBy("content_id").toPandas()
    order = np.argsort([f"i{i}" for i in range(200)])
    assert np.allclose(np.stack(projected[C.VECTOR].to_numpy()), y[order], atol=1e-3)


def test_a_later_training_of_the_same_date_is_the_latest_whatever_its_hash(trained, gold_world):
    """Re-training one run date with other settings adds a version whose hash may sort before
    the first one's; the ANN source and the export must still read the newer one."""
    from foryou.cli import main as foryou
    from foryou.embeddings.train import latest_version
    from foryou.export.build import item_vectors

    config, lake, run_date, root = trained
    first = latest_version(lake)
    for rank in (8, 12):  # two new versions: at least one hash sorts on each side of another
        assert foryou(["train-embeddings", "--run-date", str(run_date), "--set", f"embeddings.rank={rank}", "--force",
                       *gold_world.args(root)]) == 0
        latest = latest_version(lake)
        assert latest != first and VERSION.match(latest)
        vectors = item_vectors(lake, None).toPandas()
        assert {len(v) for v in vectors[C.VECTOR]} == {rank}
        stamps = lake.read(C.ITEM_EMBEDDINGS).where(F.col(C.MODEL_VERSION) == latest) \
            .select(C.TRAINED_AT).distinct().collect()
        assert len(stamps) == 1 and stamps[0][0] is not None
        first = latest
