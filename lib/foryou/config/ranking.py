"""Settings of the multi-task ranker (the ``ranking`` config section)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from foryou.config.section import Section

BINARY_TASKS = ("click", "long_view", "complete", "like", "comment", "share", "follow", "skip",
                "replay", "continued")
WATCH_TASK = "watch"


class UpdateConfig(Section):
    """``foryou update-ranker``: the hourly fine-tune of the champion on the examples since its
    last update (the ``ranking.update`` section)."""

    # A short, gentle fine-tune: one pass at a tenth of the full learning rate, so an hour of
    # data moves the champion without forgetting what the days before taught it.
    epochs: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=2e-4, gt=0)
    # The most recent fraction of the window (by event time) is held out: the gate compares
    # the update with the champion there, and the next update trains on it.
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    # Fewer rows than this since the champion's data end: nothing to update yet.
    min_rows: int = Field(default=1000, ge=1)
    # At most this many training rows (the most recent): bounds an update's CPU time.
    max_rows: int = Field(default=1_000_000, ge=1)
    # Held-out rows (whole users) the gate evaluates on.
    eval_rows: int = Field(default=200_000, ge=1)


class RankingConfig(Section):
    """Model shape, training schedule, data split, launch and the feed-score weights."""

    # Model: "mmoe" (shared experts, one softmax gate per task) or "ple" (CGC levels: shared
    # plus task-specific experts, and a shared gate feeding the next level).
    architecture: Literal["mmoe", "ple"] = "mmoe"
    embedding_dim: int = Field(default=16, ge=1)
    n_experts: int = Field(default=4, ge=1)            # mmoe: experts shared by every task
    shared_experts: int = Field(default=2, ge=1)       # ple: shared experts per level
    task_experts: int = Field(default=1, ge=1)         # ple: experts of each task per level
    ple_levels: int = Field(default=2, ge=1)
    expert_hidden: list[int] = Field(default_factory=lambda: [64, 32])
    tower_hidden: list[int] = Field(default_factory=lambda: [16])
    bias_hidden: int = Field(default=8, ge=1)          # width of the position/device bias tower
    max_position: int = Field(default=64, ge=1)        # positions at or past this share a bucket
    max_multi_hot: int = Field(default=20, ge=1)       # tag/recent-item indices kept per row
    # Tasks: binary heads, and watch-time regression on log1p(watch seconds) or watch ratio.
    tasks: list[str] = Field(default_factory=lambda: list(BINARY_TASKS))
    watch_target: Literal["log_watch", "watch_ratio", "none"] = "log_watch"
    loss_weights: dict[str, float] = Field(default_factory=lambda: {
        **{t: 1.0 for t in BINARY_TASKS}, WATCH_TASK: 1.0})
    # Training: Adam with inverse-time decay lr / (1 + lr_decay * step), L2 as weight decay.
    # sparse_embeddings: the embedding tables get sparse gradients and a row-wise Adam with L2
    # on the rows a batch touches, so a step costs in proportion to the batch, not to the
    # vocabulary (foryou.ranking.optim); false: dense Adam over every row at every step.
    sparse_embeddings: bool = True
    batch_size: int = Field(default=512, ge=1)
    # L2 3e-3 over 15 epochs (patience 3) against 1e-6 over 5: oracle-normalised click AUC
    # 0.78 against 0.74 on the demo world (bench/train.py --quality); stronger L2 (1e-2) hurt.
    epochs: int = Field(default=15, ge=1)
    learning_rate: float = Field(default=2e-3, gt=0)
    lr_decay: float = Field(default=1e-4, ge=0)
    l2: float = Field(default=3e-3, ge=0)
    patience: int = Field(default=3, ge=1)             # epochs without a better validation loss
    shuffle_rows: int = Field(default=65536, ge=1)     # rows shuffled together in the loader
    interleave_files: int = Field(default=8, ge=1)     # files the loader reads at once
    stats_max_rows: int = Field(default=1_000_000, ge=1)  # rows sampled for dense mean/std
    seed: int = 0
    # Time split when gold.training_examples' split column is null: the last test_days event
    # dates are test, the validation_days before them validation, the rest train.
    validation_days: int = Field(default=1, ge=0)
    test_days: int = Field(default=1, ge=0)
    train_days: int | None = Field(default=None, ge=1)  # null: every earlier day
    # Launch: "local" runs in this process (num_processes 1) or spawns; "torch_distributor"
    # uses Spark's TorchDistributor; "torchrun" a torchrun subprocess.
    launcher: Literal["local", "torch_distributor", "torchrun"] = "local"
    num_processes: int = Field(default=1, ge=1)
    use_gpu: bool | None = None                         # null: CUDA when available
    # Torch CPU threads per process (null: cores / processes). On a shared, loaded machine 1
    # is often fastest: idle-spinning OpenMP threads slowed a step 20x in our measurements.
    threads: int | None = Field(default=None, ge=1)
    # Final feed score: weighted sum of the heads (watch = sigmoid of the standardised watch
    # head) and a fatigue term (the user's exposure to the creator/tag in the session): the
    # product formula, watch 0.40, completion 0.20, rewatch 0.15, session continuation 0.15,
    # skip -0.05, fatigue -0.05.
    score_weights: dict[str, float] = Field(default_factory=lambda: {
        "watch": 0.40, "complete": 0.20, "replay": 0.15, "continued": 0.15, "skip": -0.05,
        "fatigue": -0.05})
    update: UpdateConfig = Field(default_factory=UpdateConfig)
