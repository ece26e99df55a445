"""The ranker's model, feature spec, loader and feed score on small synthetic examples."""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from foryou.ranking import (FeatureSpec, MissingColumnError, MultiTaskRanker, RankingConfig,
                            feed_score, iter_batches, predict)
from foryou.ranking.data import prepare, shard, shard_rows
from foryou.ranking.model import gate_health
from foryou.ranking.synthetic import write_examples


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_examples(tmp_path_factory.mktemp("examples"), n_files=3, rows_per_file=200)


def cfg_for(arch: str) -> RankingConfig:
    return RankingConfig(architecture=arch, threads=1)


@pytest.fixture(scope="module")
def spec(files):
    return FeatureSpec.from_files(files, RankingConfig())


def first_batch(files, spec, n=64):
    return next(iter_batches(files, spec, n, shuffle=False))


@pytest.mark.parametrize("arch", ["mmoe", "ple"])
def test_forward_and_backward_shapes(files, spec, arch):
    model = MultiTaskRanker(spec, cfg_for(arch))
    batch = first_batch(files, spec)
    logits = model(batch)
    assert list(logits) == spec.heads == [*RankingConfig().tasks, "watch"]
    assert all(v.shape == (64,) and torch.isfinite(v).all() for v in logits.values())
    sum(v.mean() for v in logits.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"


@pytest.mark.parametrize("arch", ["mmoe", "ple"])
def test_gates_sum_to_one(files, spec, arch):
    cfg = cfg_for(arch)
    model = MultiTaskRanker(spec, cfg)
    gates = model.gate_weights(first_batch(files, spec))
    experts = cfg.n_experts if arch == "mmoe" else cfg.shared_experts + cfg.task_experts
    assert set(gates) == set(spec.heads)
    for w in gates.values():
        assert w.shape == (64, experts) and (w >= 0).all()
        torch.testing.assert_close(w.sum(1), torch.ones(64))
    health = gate_health(gates)
    assert all(0 <= h["entropy"] <= np.log(experts) + 1e-6 for h in health.values())
    if arch == "ple":  # every level but the last has a shared gate over all experts
        levels = model.mixture.levels
        assert all(level.shared_gate is not None for level in levels[:-1])
        assert levels[-1].shared_gate is None


def test_experts_start_different(spec):
    model = MultiTaskRanker(spec, cfg_for("mmoe"))
    weights = [e.net[0].weight for e in model.mixture.experts]
    assert all(not torch.equal(a, b) for i, a in enumerate(weights) for b in weights[i + 1:])


def test_bias_tower_is_absent_at_serving(files, spec):
    model = MultiTaskRanker(spec, cfg_for("mmoe")).eval()
    batch = first_batch(files, spec)
    moved = dict(batch, position=(batch["position"] + 7) % spec.max_position,
                 device_index=(batch["device_index"] % 3) + 1)
    with torch.no_grad():
        for head in spec.heads:
            torch.testing.assert_close(model(batch, serving=True)[head],
                                       model(moved, serving=True)[head])
        assert not torch.allclose(model(batch)["click"], model(moved)["click"])
    preds = predict(model, moved)
    torch.testing.assert_close(preds["click"], torch.sigmoid(model(batch, serving=True)["click"]))


def test_missing_feature_column_is_named(tmp_path):
    broken = write_examples(tmp_path, n_files=1, rows_per_file=20, drop=("item_like_rate",))
    with pytest.raises(MissingColumnError, match="item_like_rate"):
        FeatureSpec.from_files(broken, RankingConfig())
    good = write_examples(tmp_path / "good", n_files=1, rows_per_file=20)
    spec = FeatureSpec.from_files(good, RankingConfig())
    with pytest.raises(MissingColumnError, match=r"'item_like_rate' is missing from .*part-00000"):
        next(iter_batches(broken, spec, 8))


def test_nulls_are_counted_and_become_the_mean(files, spec):
    nulls = Counter()
    rows = sum(len(b["position"]) for b in iter_batches(files, spec, 100, nulls=nulls))
    def missing(path):
        values = pq.read_table(path, columns=["creator_affinity"]).column(0)
        return values.null_count + int(np.isnan(values.to_numpy(zero_copy_only=False)).sum())

    assert nulls["rows"] == rows == 600
    # creator_affinity holds NaNs; user_views is an all-null column in the synthetic files
    assert nulls["creator_affinity"] == sum(missing(f) for f in files) > 0
    assert nulls["user_views"] == 600 and nulls["hour_sin"] == 0
    batch = first_batch(files, spec, 200)
    column = [f.name for f in spec.dense].index("user_views")
    assert torch.equal(batch["dense"][:, column], torch.zeros(200))
    assert torch.isfinite(batch["dense"]).all()


def test_spec_json_round_trip_and_constant_task_skipped(tmp_path, caplog):
    files = write_examples(tmp_path, n_files=2, rows_per_file=50, constant={"follow": 0})
    with caplog.at_level(logging.WARNING):
        spec = FeatureSpec.from_files(files, RankingConfig())
    assert "follow" not in spec.tasks and "follow" in spec.skipped
    assert "task follow skipped" in caplog.text
    assert "follow" not in MultiTaskRanker(spec, RankingConfig()).towers
    again = FeatureSpec.from_json(spec.to_json())
    assert again == spec
    dense = {f.name: f for f in spec.dense}
    assert dense["user_events"].log and not dense["hour_sin"].log
    assert dense["item_completion_rate"].std > 0


def test_files_shard_across_ranks_and_rows_when_too_few(files):
    parts = [shard(files, r, 2, epoch=3)[0] for r in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(files) and not set(parts[0]) & set(parts[1])
    assert shard(files, 0, 2, epoch=3)[0] != shard(files, 0, 2, epoch=4)[0] or len(files) < 3
    spec = FeatureSpec.from_files(files, RankingConfig())
    one = files[:1]
    seen = []
    for rank in range(2):
        rows = sum(len(b["position"]) for b in iter_batches(one, spec, 32, rank, 2))
        assert rows == shard_rows(one, rank, 2) == 100
        seen.append(rows)
    assert sum(seen) == 200


def test_feed_score_uses_the_product_formula():
    weights = RankingConfig().score_weights
    assert weights == {"watch": 0.40, "complete": 0.20, "replay": 0.15, "continued": 0.15,
                       "skip": -0.05, "fatigue": -0.05}
    assert {"replay", "continued"} <= set(RankingConfig().tasks)  # the heads the formula needs
    preds = {h: torch.tensor([0.5, 1.0]) for h in ["watch", "complete", "replay", "continued", "skip", "click"]}
    score = feed_score(preds, weights, fatigue=torch.tensor([0.0, 2.0]))
    torch.testing.assert_close(score, torch.tensor([0.5 * 0.85, 0.85 - 0.10]))
    arrays = {h: v.numpy() for h, v in preds.items()}
    np.testing.assert_allclose(feed_score(arrays, weights), [0.425, 0.85], rtol=1e-6)


def test_no_ranker_input_depends_on_follower_counts(tmp_path):
    """Reach must not depend on followers: the spec takes no follower count, and rows that
    differ only in the creator's followers get identical model inputs."""
    import pyarrow as pa

    files = write_examples(tmp_path, 1, 64, seed=4)
    spec = FeatureSpec.from_files(files, RankingConfig())
    names = [f.name for f in spec.dense] + list(spec.categorical) + list(spec.multi_hot)
    assert not [n for n in names if "follower" in n], names
    table = pq.read_table(files[0])
    if "item_creator_followers" not in table.column_names:
        table = table.append_column("item_creator_followers", pa.array(np.zeros(table.num_rows)))
    index = table.column_names.index("item_creator_followers")
    famous = table.set_column(index, "item_creator_followers", pa.array(np.full(table.num_rows, 1e7)))
    a, b = prepare(table, spec), prepare(famous, spec)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def test_loader_interleaves_files_so_a_shuffle_window_mixes_days(tmp_path):
    """A day's file holds more rows than the shuffle window. Read one file at a time, a batch
    comes from one day; interleaved, each window mixes the open files. Days are told apart
    here by their click label (0 on one day, 1 on the other)."""
    files = (write_examples(tmp_path, 2, 2000, seed=1, event_date=dt.date(2024, 5, 1), constant={"click": 0})
             + write_examples(tmp_path, 2, 2000, seed=2, event_date=dt.date(2024, 5, 2), constant={"click": 1}))
    spec = FeatureSpec.from_files(files, RankingConfig())
    assert "click" in spec.tasks

    def click_share(interleave: int) -> list[float]:
        batches = iter_batches(files, spec, 200, shuffle_rows=1000, seed=3, interleave=interleave)
        return [float(b["y_click"].mean()) for b in batches]

    alone, mixed = click_share(1), click_share(4)
    assert sum(len(x) for x in (alone, mixed)) == 2 * 8000 // 200
    assert all(share in (0.0, 1.0) for share in alone)
    assert all(0.0 < share < 1.0 for share in mixed[:10])


def test_a_list_column_of_nulls_only_pads_to_zeros():
    """pandas hands Arrow a column of None with no list type (scoring a pool whose items have
    no text vector): it pads to zeros like an empty list."""
    import pandas as pd
    import pyarrow as pa

    from foryou.ranking.data import padded

    table = pa.Table.from_pandas(pd.DataFrame({"v": [None, None, None]}))
    assert pa.types.is_null(table.column("v").type)
    nulls = Counter()
    assert np.array_equal(padded(table, "v", 4, np.float32, nulls), np.zeros((3, 4), np.float32))
    assert nulls["v"] == 3
