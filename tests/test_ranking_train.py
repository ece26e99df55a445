"""Training the ranker: learning, checkpoints and resume, row-wise Adam on the embedding
tables and its sparse all-reduce, DDP replicas, the lake's files."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import torch

from foryou.features import columns as C
from foryou.lake import Lake
from foryou.ranking import (FeatureSpec, MultiTaskRanker, RankingConfig, example_files, fit,
                            iter_batches, split_dates, train_distributed)
from foryou.ranking.optim import RankerOptimizer, all_reduce_sparse
from foryou.ranking.synthetic import example_table, write_examples
from foryou.ranking.train import head_losses

# Small and fast: 1 thread (the shared test machine is loaded), tiny widths.
SMALL = dict(threads=1, batch_size=128, embedding_dim=8, expert_hidden=[32, 16], n_experts=3,
             learning_rate=0.01, patience=5)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ranker_examples")
    train = write_examples(root / "train", n_files=4, rows_per_file=500, seed=1)
    val = write_examples(root / "val", n_files=1, rows_per_file=600, seed=2)
    spec = FeatureSpec.from_files(train, RankingConfig())
    return spec, train, val


def test_fit_learns_click_and_logs_gate_health(data, tmp_path):
    spec, train, val = data
    logged = []
    result = fit(spec, RankingConfig(epochs=3, **SMALL), train, val, tmp_path / "ckpt",
                 log=lambda epoch, metrics: logged.append((epoch, metrics)))
    history = result.history
    assert [h["epoch"] for h in history] == [0, 1, 2] == [e for e, _ in logged]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    # The synthetic signal is strong: anything that learns clears 0.7 (chance is 0.5).
    assert history[-1]["val_auc_click"] > 0.7
    for head in spec.heads:
        assert 0 < history[-1][f"gate_entropy_{head}"] <= torch.log(torch.tensor(3.0)).item() + 1e-6
        assert sum(history[-1][f"expert_utilisation_{head}"]) == pytest.approx(1.0)
    assert "gate_entropy_click" in logged[-1][1] and "expert_utilisation_click_2" in logged[-1][1]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "epoch-000.pt", "epoch-001.pt", "epoch-002.pt", "last.pt"]
    assert result.best_epoch == min(range(3), key=lambda e: history[e]["val_loss"])


def test_resume_continues_where_the_checkpoint_stopped(data, tmp_path):
    spec, train, val = data
    straight = fit(spec, RankingConfig(epochs=2, **SMALL), train, val, tmp_path / "straight")
    fit(spec, RankingConfig(epochs=1, **SMALL), train, val, tmp_path / "split")
    resumed = fit(spec, RankingConfig(epochs=2, **SMALL), train, val, tmp_path / "split", resume=True)
    assert [h["epoch"] for h in resumed.history] == [0, 1]
    assert resumed.history[1]["train_loss"] == pytest.approx(straight.history[1]["train_loss"], rel=1e-5)
    for key, value in straight.state_dict.items():
        torch.testing.assert_close(resumed.state_dict[key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("l2", [3e-3, 1e3])
def test_row_wise_adam_moves_only_the_rows_a_batch_touches_and_as_dense_adam_does(data, l2):
    spec, train, _ = data
    batch = next(iter_batches(train, spec, 8, shuffle=False))
    after, grads = {}, {}
    for sparse in (False, True):
        cfg = RankingConfig(sparse_embeddings=sparse, l2=l2, **SMALL)
        model = MultiTaskRanker(spec, cfg)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        optimizer = RankerOptimizer(model, cfg)
        optimizer.zero_grad()
        sum(head_losses(model(batch), batch).values()).backward()
        grads[sparse] = model.embedding.tables["user"].weight.grad
        optimizer.step()
        after[sparse] = model.state_dict()
    assert grads[True].is_sparse and not grads[False].is_sparse
    table = "embedding.tables.user.weight"
    touched = torch.zeros(spec.vocab_sizes["user"], dtype=torch.bool)
    touched[batch["user_index"].unique()] = True
    assert 0 < touched.sum() < len(touched)
    # Untouched rows: dense Adam's weight decay moves every one; row-wise Adam none.
    torch.testing.assert_close(after[True][table][~touched], before[table][~touched], rtol=0, atol=0)
    assert (after[False][table][~touched] != before[table][~touched]).all(dim=1).all()
    # Touched rows: the step Adam with weight decay takes, up to where SparseAdam adds eps
    # (after the bias correction rather than before: it matters only for gradients near eps,
    # and by less than 1% of a step). Every dense parameter: exactly the same step.
    step = SMALL["learning_rate"]
    torch.testing.assert_close(after[True][table][touched], after[False][table][touched],
                               rtol=0, atol=0.01 * step)
    assert (after[True][table][touched] - before[table][touched]).abs().max() > 0.5 * step
    if l2 > 1:  # L2 dominates the gradient: every touched weight shrinks towards 0
        assert (after[True][table][touched].abs() < before[table][touched].abs()).all()
    for key, value in after[False].items():
        if not key.startswith("embedding.tables."):
            torch.testing.assert_close(after[True][key], value)


def _sparse_all_reduce_rank(rank: int, rendezvous: str, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=2)
    try:
        table = torch.nn.Parameter(torch.zeros(6, 2))
        rows = [torch.tensor([1, 1, 3]), torch.tensor([3, 5])][rank]
        values = torch.arange(2 * len(rows), dtype=torch.float32).reshape(-1, 2) + 10 * rank
        table.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values, table.shape)
        untouched = torch.nn.Parameter(torch.zeros(4, 2))  # no gradient on either rank
        all_reduce_sparse([table, untouched], world_size=2)
        torch.save((table.grad.to_dense(), untouched.grad.to_dense()), f"{out}.{rank}")
    finally:
        torch.distributed.destroy_process_group()


def test_sparse_all_reduce_averages_the_ranks_gradients_over_gloo(tmp_path):
    """The DDP path's sparse all-reduce: every rank ends with the mean of the ranks' dense
    gradients, even where only one rank touched a row or no rank touched the table."""
    torch.multiprocessing.spawn(_sparse_all_reduce_rank, nprocs=2,
                                args=(f"file://{tmp_path / 'rendezvous'}", str(tmp_path / "grad")))
    expected = torch.zeros(6, 2)
    expected[1] = torch.tensor([0.0, 1.0]) + torch.tensor([2.0, 3.0])  # rank 0, row 1 twice
    expected[3] = torch.tensor([4.0, 5.0]) + torch.tensor([10.0, 11.0])
    expected[5] = torch.tensor([12.0, 13.0])
    for rank in (0, 1):
        table, untouched = torch.load(tmp_path / f"grad.{rank}")
        torch.testing.assert_close(table, expected / 2)
        torch.testing.assert_close(untouched, torch.zeros(4, 2))


def test_ddp_two_processes_torch_distributor_keeps_replicas_identical(spark, data, tmp_path):
    spec, train, val = data
    cfg = RankingConfig(epochs=2, **SMALL)
    result = train_distributed(spec, cfg, train, val, tmp_path / "ckpt", num_processes=2,
                               launcher="torch_distributor", use_gpu=False)
    assert len(result.rank_checksums) == 2 and len(set(result.rank_checksums)) == 1
    assert len(result.history) == 2 and result.history[-1]["val_auc_click"] > 0.6
    assert (tmp_path / "ckpt" / "last.pt").exists()


def test_ddp_two_processes_torchrun_and_resume(data, tmp_path):
    spec, train, val = data
    cfg = RankingConfig(epochs=1, **SMALL)
    first = train_distributed(spec, cfg, train[:1], val, tmp_path / "ckpt", num_processes=2,
                              launcher="torchrun", use_gpu=False)
    # one file for two ranks: rows are strided so both ranks train
    assert len(set(first.rank_checksums)) == 1 and len(first.rank_checksums) == 2
    assert first.history[0]["samples_per_s"] > 0
    again = train_distributed(spec, cfg.model_copy(update={"epochs": 2}), train[:1], val,
                              tmp_path / "ckpt", num_processes=2, launcher="torchrun",
                              use_gpu=False, resume=True)
    assert [h["epoch"] for h in again.history] == [0, 1]
    assert again.history[0] == first.history[0]
    assert len(set(again.rank_checksums)) == 1


def test_split_dates_files_and_spec_from_the_lake(spark, config, tmp_path):
    lake = Lake(spark, config)
    dates = [dt.date(2024, 5, 1) + dt.timedelta(days=i) for i in range(4)]
    rows = pa.concat_tables([example_table(40, seed=i, event_date=d) for i, d in enumerate(dates)])
    lake.append(C.EXAMPLES, spark.createDataFrame(rows.to_pandas(), schema=lake.spec(C.EXAMPLES).schema))
    cfg = config.ranking
    split = split_dates(lake, dates[-1], cfg, config.features)
    assert split == {"train": dates[:2], "validation": [dates[2]], "test": [dates[3]]}
    assert split_dates(lake, dates[2], cfg)["test"] == [dates[2]]
    files = example_files(lake, split["train"])
    assert files and all("event_date=2024-05-0" in f for f in files)
    assert {f.split("event_date=")[1][:10] for f in files} == {"2024-05-01", "2024-05-02"}
    spec = FeatureSpec.from_lake(lake, config, run_date=dates[-1])
    assert spec.train_dates == ["2024-05-01", "2024-05-02"]
    assert spec.examples_version == lake.version(C.EXAMPLES)
    assert spec.vocab_sizes["user"] >= 2 and spec.label_rates["click"] > 0
    with pytest.raises(ValueError, match="no training dates"):
        split_dates(lake, dates[1], cfg.model_copy(update={"validation_days": 1, "test_days": 1}))
