"""Settings of the rerank and export step (the ``rerank`` config section)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from foryou.config.section import Section


class ExplorationConfig(Section):
    """The exploration bonus added to the ranker's relevance before diversification."""

    # linucb: alpha * sqrt(x' A^-1 x) with A = ridge * I + the user's history item vectors;
    # epsilon: with probability epsilon a candidate is lifted to the top of the relevance scale.
    mode: Literal["linucb", "epsilon", "off"] = "linucb"
    alpha: float = Field(default=0.1, ge=0)
    ridge: float = Field(default=1.0, gt=0)
    epsilon: float = Field(default=0.05, ge=0, le=1)
    seed: int = 17


class GuardsConfig(Section):
    """What the feed may not contain, and how concentrated it may be."""

    # An item whose engagement over farm_days comes at least this much from suspected bots
    # (with at least farm_min_engagements) is engagement farming and never exported.
    farm_bot_share: float = Field(default=0.5, ge=0, le=1)
    farm_min_engagements: int = Field(default=5, ge=1)
    farm_days: int = Field(default=14, ge=1)
    # Items hidden or reported by the user in the last N days are never exported (the pool
    # filters them too; the export checks again).
    negative_days: int = Field(default=90, ge=1)
    # Loop prevention: an item exported to a user in the previous N run days is not exported again.
    repeat_days: int = Field(default=1, ge=0)
    # At most this many items per creator and per tag in the first cap_window positions.
    cap_window: int = Field(default=20, ge=1)
    max_per_creator: int = Field(default=2, ge=1)
    max_per_tag: int = Field(default=6, ge=1)
    # Over-personalisation: at most this share of the whole list carries the user's strongest
    # interest tag.
    max_top_interest_share: float = Field(default=0.4, gt=0, le=1)
    # Homogenisation: share of all exported slots held by the most exported items.
    homogenisation_top_items: int = Field(default=100, ge=1)


class SessionRerankConfig(Section):
    """The in-session re-ranker the reader applies (``foryou.rerank.session``), learned at
    each export from the logged sessions of a sample of users."""

    enabled: bool = True
    # Impressions of the last N days before the run date, of at most this many users (hashed
    # sample): a three-weight logistic model needs thousands of sessions, not the whole log.
    days: int = Field(default=3, ge=1)
    users: int = Field(default=2000, ge=10)
    # The outcome the weights predict: a valid play, a long view or a completed view.
    label: Literal["click", "long_view", "complete"] = "click"
    seed: int = 0


class RerankConfig(Section):
    """Scoring, diversity (DPP), exploration, novelty and guards of ``foryou export``."""

    # What orders the pool before diversification: the champion ranker, the pool's own order,
    # or auto: the ranker where users were served feeds, the pool's order on an interaction
    # log (its ranker only learned interactions from random popular items, not one candidate
    # from another; bench/offline.py measures both).
    relevance: Literal["auto", "ranker", "pool"] = "auto"
    # How the ranker's heads combine into relevance: "model" is the registered model's own
    # feed score (weights times each head's probability); "user_rank" weighs each head's
    # percentile among the user's candidates instead, so every head moves the order by its
    # weight whatever its spread (the watch term's spread per user was about 0.085 against
    # completion's 0.13, so completion, which favours short videos, outweighed its 0.20).
    # Demo world, 200 simulated users, the export rebuilt both ways from one pool: user_rank
    # kept 0.37 of the oracle's time lift and 0.85 of its return lift, model 0.34 and 0.94;
    # the ranker alone 0.53 / 0.99 against 0.47 / 1.08. A trade of return for time, so the
    # model's own score stays the default.
    score_scale: Literal["model", "user_rank"] = "model"
    # Items per user in gold.user_candidates. The list is the user's feed for the day, and a
    # day ends when it runs out: at 50, 35-39% of the demo world's simulated users reached the
    # end of the served list (45-49% of a perfect one on the large world). At 100 the served
    # feed held them 22-28% longer at the same next-day return (the simulator's list_ran_out;
    # README "The list's length"), for twice the rows and 1.06x the export's time.
    list_size: int = Field(default=100, ge=1)
    # The pool is scored at the user's usual hour: the circular mean of their session starts
    # over the last context_days; and with each candidate's fatigue: the user's exposure to
    # its creator and tags in the impressions of the last fatigue_days.
    context_days: int = Field(default=14, ge=1)
    fatigue_days: int = Field(default=1, ge=1)
    # DPP trade-off (Chen et al. 2018, eq. 12): 1 = relevance only, 0 = diversity only.
    theta: float = Field(default=0.7, ge=0, le=1)
    # Share of the list from outside the user's known interests (tags of its long-term
    # interest vector); a user without history has no known interests.
    novelty_share: float = Field(default=0.15, ge=0, le=1)
    # The user's strongest tags (long-term interest) that count as known interests.
    interest_tags: int = Field(default=10, ge=1)
    # Embedding table model_version to read (None: the latest).
    embedding_version: str | None = None
    exploration: ExplorationConfig = Field(default_factory=ExplorationConfig)
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    session: SessionRerankConfig = Field(default_factory=SessionRerankConfig)
