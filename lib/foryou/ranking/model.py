"""The multi-task ranker: embeddings, experts, gates, task towers and a bias tower.

MMoE (Ma et al., KDD 2018): ``n_experts`` shared experts; each task mixes them with its own
softmax gate and feeds the mix to its tower. PLE (Tang et al., RecSys 2020) stacks CGC levels:
shared experts plus experts owned by each task; a task's gate mixes the shared experts and its
own, and in every level but the last a shared gate mixes all experts into the next level's
shared input. Both are compositions of the same :class:`Expert` and :class:`Gate` pieces.

A shallow bias tower on position and device (as in YouTube's "watch next" ranker, Zhao et al.,
RecSys 2019) adds one logit per head in training and is left out at serving, so the main
towers learn the position/selection-free preference.
"""
from __future__ import annotations

import torch
from torch import nn

from foryou.config.ranking import RankingConfig
from foryou.ranking.data import DENSE, POSITION
from foryou.ranking.spec import FeatureSpec


def mlp(sizes: list[int], last_activation: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class FeatureEmbedding(nn.Module):
    """Embeds index columns (one table per vocabulary kind), mean-pools the multi-hot lists
    (index 0 is padding there) and concatenates the dense features and vectors.

    Args:
        spec: the feature spec; dim: embedding width; sparse: the tables give sparse
            gradients (only the rows a batch looks up; see ``foryou.ranking.optim``).
    Returns:
        ``forward(batch)`` -> float tensor [rows, out_dim].
    """

    def __init__(self, spec: FeatureSpec, dim: int, sparse: bool = False):
        super().__init__()
        self.spec = spec
        kinds = {*spec.categorical.values(), *spec.multi_hot.values()}
        self.tables = nn.ModuleDict({kind: nn.Embedding(spec.vocab_sizes[kind], dim, sparse=sparse)
                                     for kind in sorted(kinds)})
        self.out_dim = (dim * (len(spec.categorical) + len(spec.multi_hot)) + len(spec.dense)
                        + sum(spec.vectors.values()))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [self.tables[kind](batch[col]) for col, kind in self.spec.categorical.items()]
        for col, kind in self.spec.multi_hot.items():
            idx = batch[col]
            mask = (idx > 0).unsqueeze(-1).float()
            pooled = (self.tables[kind](idx) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            parts.append(pooled)
        parts.append(batch[DENSE])
        parts.extend(batch[col] for col in self.spec.vectors)
        return torch.cat(parts, dim=1)


class Expert(nn.Module):
    """One expert MLP, initialised from its own seed so that no two experts start alike."""

    def __init__(self, in_dim: int, hidden: list[int], seed: int):
        super().__init__()
        self.net = mlp([in_dim, *hidden])
        generator = torch.Generator().manual_seed(seed)
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                bound = (6.0 / (layer.in_features + layer.out_features)) ** 0.5
                with torch.no_grad():
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-0.05, 0.05, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Gate(nn.Module):
    """A softmax over experts: [rows, n] weights that sum to 1 per row."""

    def __init__(self, in_dim: int, n: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x), dim=-1)


def mix(weights: torch.Tensor, outputs: list[torch.Tensor]) -> torch.Tensor:
    return torch.einsum("be,bed->bd", weights, torch.stack(outputs, dim=1))


class MMoE(nn.Module):
    """Shared experts, one gate per task. ``forward(x)`` -> ({task: input}, {task: gate})."""

    def __init__(self, in_dim: int, tasks: list[str], cfg: RankingConfig):
        super().__init__()
        self.experts = nn.ModuleList(Expert(in_dim, cfg.expert_hidden, cfg.seed * 1009 + k)
                                     for k in range(cfg.n_experts))
        self.gates = nn.ModuleDict({t: Gate(in_dim, cfg.n_experts) for t in tasks})
        self.out_dim = cfg.expert_hidden[-1]

    def forward(self, x):
        outputs = [e(x) for e in self.experts]
        gates = {t: g(x) for t, g in self.gates.items()}
        return {t: mix(w, outputs) for t, w in gates.items()}, gates


class CGCLevel(nn.Module):
    """One PLE level: shared and task-specific experts, a gate per task over its own and the
    shared experts, and (unless last) a shared gate over all experts."""

    def __init__(self, in_dim: int, tasks: list[str], cfg: RankingConfig, level: int, last: bool):
        super().__init__()
        seed = cfg.seed * 1009 + level * 101
        self.shared = nn.ModuleList(Expert(in_dim, cfg.expert_hidden, seed + k)
                                    for k in range(cfg.shared_experts))
        self.own = nn.ModuleDict({
            t: nn.ModuleList(Expert(in_dim, cfg.expert_hidden, seed + 50 + 7 * i + k)
                             for k in range(cfg.task_experts))
            for i, t in enumerate(tasks)})
        self.gates = nn.ModuleDict({t: Gate(in_dim, cfg.shared_experts + cfg.task_experts)
                                    for t in tasks})
        n_all = cfg.shared_experts + cfg.task_experts * len(tasks)
        self.shared_gate = None if last else Gate(in_dim, n_all)

    def forward(self, task_inputs: dict[str, torch.Tensor], shared_input: torch.Tensor):
        shared = [e(shared_input) for e in self.shared]
        own = {t: [e(task_inputs[t]) for e in experts] for t, experts in self.own.items()}
        gates = {t: self.gates[t](task_inputs[t]) for t in self.own}
        task_out = {t: mix(gates[t], shared + own[t]) for t in self.own}
        shared_out = None
        if self.shared_gate is not None:
            everything = shared + [o for t in self.own for o in own[t]]
            shared_out = mix(self.shared_gate(shared_input), everything)
        return task_out, shared_out, gates


class PLE(nn.Module):
    """Progressive layered extraction: ``cfg.ple_levels`` CGC levels (1 level = CGC)."""

    def __init__(self, in_dim: int, tasks: list[str], cfg: RankingConfig):
        super().__init__()
        levels, width = [], in_dim
        for level in range(cfg.ple_levels):
            levels.append(CGCLevel(width, tasks, cfg, level, last=level == cfg.ple_levels - 1))
            width = cfg.expert_hidden[-1]
        self.levels = nn.ModuleList(levels)
        self.tasks = tasks
        self.out_dim = width

    def forward(self, x):
        task_inputs, shared = {t: x for t in self.tasks}, x
        for level in self.levels:
            task_inputs, shared, gates = level(task_inputs, shared)
        return task_inputs, gates


class BiasTower(nn.Module):
    """Position and device embeddings through a small MLP: one bias logit per head."""

    def __init__(self, spec: FeatureSpec, cfg: RankingConfig, heads: int):
        super().__init__()
        self.position = nn.Embedding(spec.max_position, cfg.bias_hidden)
        (self.device_column, kind), = spec.bias.items()
        self.device = nn.Embedding(spec.vocab_sizes[kind], cfg.bias_hidden)
        self.net = mlp([2 * cfg.bias_hidden, cfg.bias_hidden, heads], last_activation=False)

    def forward(self, batch):
        x = torch.cat([self.position(batch[POSITION]), self.device(batch[self.device_column])], dim=1)
        return self.net(x)


class MultiTaskRanker(nn.Module):
    """Multi-task MoE ranker over a :class:`FeatureSpec`.

    Args:
        spec: inputs, vocabulary sizes and the heads (``spec.heads``: binary tasks, then
            ``watch`` when trained).
        cfg: the ``ranking`` config (architecture "mmoe" or "ple", widths, seed).
    Returns:
        ``forward(batch, serving=False)`` -> {head: logit [rows]}; the binary heads are
        logits of P(label = 1), ``watch`` predicts the standardised watch target
        (see ``spec.watch_target``). With ``serving=True`` the bias tower is left out.

    Example:
        >>> model = MultiTaskRanker(spec, config.ranking)          # doctest: +SKIP
        >>> model(next(iter_batches(files, spec, 256)))["click"].shape
        torch.Size([256])
    """

    def __init__(self, spec: FeatureSpec, cfg: RankingConfig):
        super().__init__()
        self.spec, self.heads = spec, spec.heads
        torch.manual_seed(cfg.seed)
        self.embedding = FeatureEmbedding(spec, cfg.embedding_dim, cfg.sparse_embeddings)
        in_dim = self.embedding.out_dim
        self.mixture = (PLE if cfg.architecture == "ple" else MMoE)(in_dim, self.heads, cfg)
        self.towers = nn.ModuleDict({
            h: mlp([self.mixture.out_dim, *cfg.tower_hidden, 1], last_activation=False)
            for h in self.heads})
        self.bias = BiasTower(spec, cfg, len(self.heads))

    def _mixed(self, batch):
        return self.mixture(self.embedding(batch))

    def forward(self, batch: dict[str, torch.Tensor], serving: bool = False) -> dict[str, torch.Tensor]:
        inputs, _ = self._mixed(batch)
        logits = {h: self.towers[h](inputs[h]).squeeze(-1) for h in self.heads}
        if not serving:
            bias = self.bias(batch)
            logits = {h: logits[h] + bias[:, i] for i, h in enumerate(self.heads)}
        return logits

    @torch.no_grad()
    def gate_weights(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each head's gate over its experts for these rows ([rows, experts], rows sum to 1;
        for PLE the last level's gates)."""
        return self._mixed(batch)[1]


def gate_health(gates: dict[str, torch.Tensor]) -> dict[str, dict]:
    """Per head: mean gate entropy (nats; log(n) is uniform, 0 is collapse onto one expert)
    and expert utilisation (mean gate weight of each expert)."""
    health = {}
    for head, w in gates.items():
        entropy = -(w.clamp_min(1e-12).log() * w).sum(-1).mean().item()
        health[head] = {"entropy": entropy, "utilisation": w.mean(0).tolist()}
    return health
