"""The ranker's optimiser: row-wise (lazy) Adam on the embedding tables, Adam on the rest.

A step of dense Adam reads and writes every row of every embedding table, and weight decay
gives even the rows no example touched a gradient. So a step costs in proportion to the
vocabulary, and a day's training in proportion to events x vocabulary: ``bench/pipeline.py``
measured train-ranker growing as events^1.65 for that reason. With ``sparse_embeddings`` the
tables (``FeatureEmbedding.tables``) produce sparse gradients and
``torch.optim.SparseAdam`` updates only the rows a batch looked up, with the L2 term added to
those rows' gradients (the same coupled decay Adam's ``weight_decay`` applies, restricted to
touched rows: the "lazy Adam" of large-vocabulary recommenders). A step then costs in
proportion to the batch. Every other parameter (experts, gates, towers, the small bias-tower
embeddings) stays on ``torch.optim.Adam`` with ``weight_decay``.

Under DDP the sparse tables are left out of DDP's reducer and their gradients are averaged by
:func:`all_reduce_sparse`: indices and values gathered with ``all_gather`` on dense tensors,
which every backend has. DDP's own sparse all-reduce works on gloo but not on stock NCCL, and
the GPU path must run on NCCL.

The learning rate follows inverse-time decay ``lr / (1 + lr_decay * step)`` in both.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from foryou.config.ranking import RankingConfig


def sparse_tables(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters that receive sparse gradients: {qualified name: parameter}."""
    return {f"{name}.weight" if name else "weight": module.weight
            for name, module in model.named_modules()
            if isinstance(module, nn.Embedding) and module.sparse}


class RankerOptimizer:
    """Adam (dense parameters, weight decay ``l2``) and SparseAdam (sparse embedding tables,
    L2 on the rows each step touches) under one inverse-time learning-rate schedule.

    Args:
        model: the ranker (its sparse tables are found by :func:`sparse_tables`).
        cfg: ``learning_rate``, ``lr_decay`` and ``l2`` of the ``ranking`` config.
    """

    def __init__(self, model: nn.Module, cfg: RankingConfig):
        sparse = sparse_tables(model)
        ids = {id(p) for p in sparse.values()}
        dense = [p for p in model.parameters() if id(p) not in ids]
        self.l2 = cfg.l2
        self.sparse = list(sparse.values())
        self.optimizers = [torch.optim.Adam(dense, lr=cfg.learning_rate, weight_decay=cfg.l2)]
        if self.sparse:
            self.optimizers.append(torch.optim.SparseAdam(self.sparse, lr=cfg.learning_rate))
        decay = cfg.lr_decay
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(o, lambda step: 1.0 / (1.0 + decay * step))
                           for o in self.optimizers]

    def zero_grad(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        """One update of every parameter (the gradients already averaged across ranks), then
        one step of the learning-rate schedule."""
        if self.l2:
            for p in self.sparse:
                if p.grad is not None:
                    p.grad = _decay_touched_rows(p, self.l2)
        for optimizer in self.optimizers:
            optimizer.step()
        for scheduler in self.schedulers:
            scheduler.step()

    def last_lr(self) -> float:
        return self.schedulers[0].get_last_lr()[0]

    def state_dict(self) -> dict:
        return {"optimizers": [o.state_dict() for o in self.optimizers],
                "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state: dict) -> None:
        if len(state["optimizers"]) != len(self.optimizers):
            raise ValueError("checkpoint: its optimiser state was saved with "
                             f"{len(state['optimizers'])} optimiser(s), this model needs "
                             f"{len(self.optimizers)} (ranking.sparse_embeddings changed?)")
        for optimizer, saved in zip(self.optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)


def _decay_touched_rows(p: nn.Parameter, l2: float) -> torch.Tensor:
    """The sparse gradient of ``p`` plus ``l2 * row`` on each row it touches."""
    grad = p.grad.coalesce()
    rows = grad.indices()[0]
    values = grad.values() + l2 * p.detach()[rows]
    return torch.sparse_coo_tensor(grad.indices(), values, grad.shape, is_coalesced=True,
                                   check_invariants=False)


def all_reduce_sparse(params: list[nn.Parameter], world_size: int) -> None:
    """Average the sparse gradients of ``params`` over the ranks (in place), as DDP averages
    the dense ones: every rank gathers every rank's touched rows and their values.

    Sizes differ per rank, so each rank pads its rows to the largest count first. A rank
    whose table got no gradient joins with none.
    """
    for p in params:
        grad = p.grad.coalesce() if p.grad is not None else torch.sparse_coo_tensor(
            torch.zeros(1, 0, dtype=torch.long, device=p.device),
            torch.zeros(0, *p.shape[1:], dtype=p.dtype, device=p.device), p.shape,
            check_invariants=False)
        rows, values = grad.indices()[0], grad.values()
        count = torch.tensor([rows.numel()], device=p.device)
        counts = [torch.zeros_like(count) for _ in range(world_size)]
        dist.all_gather(counts, count)
        counts = [int(c) for c in counts]
        most = max(counts)
        pad = most - rows.numel()
        rows = torch.cat([rows, rows.new_zeros(pad)])
        values = torch.cat([values, values.new_zeros(pad, *values.shape[1:])])
        all_rows = [torch.empty_like(rows) for _ in range(world_size)]
        all_values = [torch.empty_like(values) for _ in range(world_size)]
        dist.all_gather(all_rows, rows)
        dist.all_gather(all_values, values)
        rows = torch.cat([r[:n] for r, n in zip(all_rows, counts)])
        values = torch.cat([v[:n] for v, n in zip(all_values, counts)]) / world_size
        p.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values, p.shape,
                                         check_invariants=False).coalesce()
