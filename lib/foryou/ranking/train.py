"""Training loop of the multi-task ranker: one process, or one DDP rank of many.

Per-head losses (masked BCE for binary tasks, masked MSE on the standardised watch target)
are combined with ``ranking.loss_weights``. Adam with L2 and inverse-time learning-rate decay
``lr / (1 + lr_decay * step)``, row-wise on the embedding tables (``foryou.ranking.optim``);
early stopping on the validation loss (the training loss when there are no validation files)
after ``patience`` epochs without improvement; a checkpoint per epoch (rank 0 only) that
``resume=True`` continues from.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from foryou.config.ranking import RankingConfig, WATCH_TASK
from foryou.ranking import metrics as M
from foryou.ranking.data import iter_batches, shard_rows
from foryou.ranking.model import MultiTaskRanker
from foryou.ranking.optim import RankerOptimizer, all_reduce_sparse, sparse_tables
from foryou.ranking.spec import FeatureSpec

log_ = logging.getLogger(__name__)
LAST = "last.pt"
AUC_SAMPLE = 200_000


@dataclass
class FitResult:
    """What training produced: the best epoch's weights (CPU), the per-epoch history
    (losses, validation metrics, gate entropy, expert utilisation, null counts) and the
    tasks skipped for lack of a usable label."""

    state_dict: dict
    history: list[dict]
    best_epoch: int
    skipped: dict[str, str] = field(default_factory=dict)
    stopped_early: bool = False
    # Filled by foryou.ranking.distributed: one checksum of the final weights per rank.
    rank_checksums: list[str] = field(default_factory=list)


def head_losses(logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masked mean loss per head (rows whose label is null do not count)."""
    out = {}
    for head, logit in logits.items():
        y, m = batch[f"y_{head}"], batch[f"m_{head}"]
        if head == WATCH_TASK:
            per_row = (logit - y) ** 2
        else:
            per_row = F.binary_cross_entropy_with_logits(logit, y, reduction="none")
        out[head] = (per_row * m).sum() / m.sum().clamp(min=1.0)
    return out


def _to(batch, device):
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def default_device(cfg: RankingConfig) -> torch.device:
    if cfg.use_gpu is not False and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if cfg.use_gpu:
        raise RuntimeError("ranking.use_gpu is true but CUDA is not available")
    return torch.device("cpu")


def fit(spec: FeatureSpec, cfg: RankingConfig, train_files: list[str], val_files: list[str],
        checkpoint_dir, init_state: dict | None = None, resume: bool = False, rank: int = 0,
        world_size: int = 1, log: Callable[[int, dict], None] | None = None,
        device: torch.device | None = None) -> FitResult:
    """Train a :class:`MultiTaskRanker`; under DDP call it on every rank (process group set up).

    Args:
        spec, cfg: the feature spec and the ``ranking`` config.
        train_files, val_files: Parquet files (sharded by file across ranks).
        checkpoint_dir: where rank 0 writes ``epoch-NNN.pt`` and ``last.pt``.
        init_state: weights to warm-start from (incremental training from the champion).
        resume: continue from ``checkpoint_dir/last.pt`` if it exists.
        log: called on rank 0 after each epoch with (epoch, flat metrics dict), e.g. to
            log to MLflow.
    Returns:
        :class:`FitResult` with the best epoch's weights.
    """
    device = device or default_device(cfg)
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // world_size))
    checkpoint_dir = Path(checkpoint_dir)
    if rank == 0:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    for task, reason in spec.skipped.items():
        if rank == 0:
            log_.warning("ranking: task %s skipped: %s", task, reason)
    model = MultiTaskRanker(spec, cfg).to(device)
    if init_state is not None:
        model.load_state_dict(init_state)
    distributed = world_size > 1
    net = model
    sparse = sparse_tables(model)
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        # The sparse tables stay out of DDP's reducer (all_reduce_sparse averages their
        # gradients), so DDP does not broadcast them either: rank 0's go out here.
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, list(sparse))
        for p in sparse.values():
            dist.broadcast(p.data, src=0)
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = RankerOptimizer(model, cfg)
    state = {"epoch": -1, "history": [], "best_loss": math.inf, "best_epoch": -1,
             "best_state": None, "bad_epochs": 0}
    last = checkpoint_dir / LAST
    ckpt = None
    if resume and rank == 0 and last.exists():
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
    if resume and distributed:  # only rank 0 need see the checkpoint (no shared disk needed)
        box = [ckpt]
        dist.broadcast_object_list(box, src=0)
        ckpt = box[0]
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state = {k: ckpt[k] for k in state}
        if rank == 0:
            print(f"ranker: resumed from {last} after epoch {state['epoch']}", flush=True)
    weights = {h: cfg.loss_weights.get(h, 1.0) for h in spec.heads}
    steps = math.ceil(shard_rows(train_files, rank, world_size) / cfg.batch_size)
    if distributed:
        t = torch.tensor([steps], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        steps = int(t.item())
    if steps == 0:
        raise ValueError("no training rows in the training files")

    start_epoch = state["epoch"] + 1
    stopped = state["bad_epochs"] >= cfg.patience
    for epoch in range(start_epoch, cfg.epochs):
        if stopped:
            break
        started = time.perf_counter()
        net.train()
        nulls: Counter = Counter()
        total, rows = 0.0, 0
        for batch in iter_batches(train_files, spec, cfg.batch_size, rank, world_size, epoch,
                                  cfg.seed, shuffle_rows=cfg.shuffle_rows, max_batches=steps,
                                  nulls=nulls, interleave=cfg.interleave_files):
            batch = _to(batch, device)
            losses = head_losses(net(batch), batch)
            loss = sum(weights[h] * losses[h] for h in losses)
            optimizer.zero_grad()
            loss.backward()
            if distributed and sparse:
                all_reduce_sparse(optimizer.sparse, world_size)
            optimizer.step()
            n = batch["position"].shape[0]
            total += float(loss.detach()) * n
            rows += n
        seconds = time.perf_counter() - started
        train_sums = torch.tensor([total, rows], dtype=torch.float64, device=device)
        if distributed:
            dist.all_reduce(train_sums)
        train_loss = float(train_sums[0] / train_sums[1].clamp(min=1))
        record = {"epoch": epoch, "train_loss": train_loss,
                  "samples_per_s": float(train_sums[1]) / max(seconds, 1e-9),
                  "lr": optimizer.last_lr(), "nulls": dict(nulls)}
        record.update(evaluate(model, spec, val_files, cfg, weights, device, rank, world_size))
        monitored = record.get("val_loss", train_loss)
        if monitored < state["best_loss"] - 1e-6:
            state.update(best_loss=monitored, best_epoch=epoch, bad_epochs=0,
                         best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["history"].append(record)
        stopped = state["bad_epochs"] >= cfg.patience
        if rank == 0:
            _checkpoint(checkpoint_dir, epoch, model, optimizer, state)
            print(f"ranker epoch {epoch}: train loss {train_loss:.4f}, val loss "
                  f"{record.get('val_loss', float('nan')):.4f}, "
                  f"{record['samples_per_s']:,.0f} samples/s"
                  + (" (early stop)" if stopped else ""), flush=True)
            if log is not None:
                log(epoch, flat_metrics(record))
        if distributed:
            dist.barrier()
    best = state["best_state"] or {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return FitResult(best, state["history"], state["best_epoch"], dict(spec.skipped), stopped)


@torch.no_grad()
def evaluate(model: MultiTaskRanker, spec: FeatureSpec, files: list[str], cfg: RankingConfig,
             weights: dict[str, float], device, rank: int = 0, world_size: int = 1) -> dict:
    """Validation loss per head (summed over ranks), AUC per binary head (on this rank's
    shard, at most 200k rows), gate entropy and expert utilisation per head."""
    if not files:
        return {}
    model.eval()
    heads = spec.heads
    sums = torch.zeros(2 * len(heads) + 1, dtype=torch.float64, device=device)
    gate_sums: dict[str, torch.Tensor] = {}
    scores = {h: [] for h in spec.tasks}
    labels = {h: [] for h in spec.tasks}
    kept = 0
    for batch in iter_batches(files, spec, cfg.batch_size, rank, world_size, shuffle=False):
        batch = _to(batch, device)
        logits = model(batch)
        losses = head_losses(logits, batch)
        for i, h in enumerate(heads):
            count = batch[f"m_{h}"].sum()
            sums[2 * i] += losses[h].double() * count
            sums[2 * i + 1] += count
        n = batch["position"].shape[0]
        sums[-1] += n
        for h, w in model.gate_weights(batch).items():
            entropy = -(w.clamp_min(1e-12).log() * w).sum(-1).sum()
            row = torch.cat([entropy.reshape(1), w.sum(0)]).double()
            gate_sums[h] = gate_sums.get(h, 0) + row
        if kept < AUC_SAMPLE:
            for h in spec.tasks:
                m = batch[f"m_{h}"] > 0
                scores[h].append(logits[h][m].float().cpu().numpy())
                labels[h].append(batch[f"y_{h}"][m].cpu().numpy())
            kept += n
    model.train()
    gates = torch.stack([gate_sums[h] for h in heads]) if gate_sums else None
    if world_size > 1:
        dist.all_reduce(sums)
        if gates is None:  # a rank without validation rows still joins the reduction
            gates = torch.zeros(len(heads), 1 + _n_gate(model), dtype=torch.float64, device=device)
        dist.all_reduce(gates)
    out: dict = {}
    total = 0.0
    for i, h in enumerate(heads):
        if sums[2 * i + 1] > 0:
            out[f"val_loss_{h}"] = float(sums[2 * i] / sums[2 * i + 1])
            total += weights[h] * out[f"val_loss_{h}"]
    if sums[-1] > 0:
        out["val_loss"] = total
    for h in spec.tasks:
        auc = M.auc(np.concatenate(labels[h]) if labels[h] else np.array([]),
                    np.concatenate(scores[h]) if scores[h] else np.array([]))
        if not math.isnan(auc):
            out[f"val_auc_{h}"] = auc
    if gates is not None and sums[-1] > 0:
        for i, h in enumerate(heads):
            out[f"gate_entropy_{h}"] = float(gates[i, 0] / sums[-1])
            out[f"expert_utilisation_{h}"] = (gates[i, 1:] / sums[-1]).tolist()
    return out


def _n_gate(model: MultiTaskRanker) -> int:
    gate = next(iter(getattr(model.mixture, "gates", None) or model.mixture.levels[-1].gates.values()))
    return gate.linear.out_features


def flat_metrics(record: dict) -> dict[str, float]:
    """An epoch record as flat name -> number (lists become ``name_<i>``), for MLflow."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, (int, float)) and key != "epoch":
            flat[key] = float(value)
        elif isinstance(value, list):
            flat.update({f"{key}_{i}": float(v) for i, v in enumerate(value)})
        elif isinstance(value, dict):
            flat.update({f"{key}_{k}": float(v) for k, v in value.items()})
    return flat


def _checkpoint(directory: Path, epoch, model, optimizer: RankerOptimizer, state) -> None:
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), **state}
    path = directory / f"epoch-{epoch:03d}.pt"
    torch.save(payload, path)
    tmp = directory / (LAST + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, directory / LAST)
