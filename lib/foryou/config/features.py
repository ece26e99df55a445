"""Settings of ``foryou features`` (the ``features`` config section)."""
from __future__ import annotations

import datetime as dt

from pydantic import Field

from foryou.config.section import Section


class BotConfig(Section):
    """Engagement-farming detection: signal thresholds and how they combine into a score."""

    # An engagement by this many distinct users on one item inside one window is a burst.
    burst_window_s: int = Field(default=60, gt=0)
    burst_min_users: int = Field(default=5, ge=2)
    # Events per active day at which the rate signal saturates at 1.
    max_events_per_day: float = Field(default=1000.0, gt=0)
    # Human inter-event gaps are bursty (CV well above 1); scripted ones are regular.
    # The regularity signal is 1 at CV 0 and falls to 0 at this CV.
    human_gap_cv: float = Field(default=1.0, gt=0)
    # Fewer gaps than this say nothing about regularity.
    min_gaps: int = Field(default=10, ge=2)
    # Gaps longer than this are pauses between stretches of activity, not its pace.
    max_gap_s: float = Field(default=300.0, gt=0)
    # Weights of the signals (rate, blind engagement, regularity, bursts) in the score. Blind
    # engagement and a metronome pace each take a farm most of the way; either alone does not.
    weight_rate: float = Field(default=0.1, ge=0)
    weight_blind: float = Field(default=0.35, ge=0)
    weight_regular: float = Field(default=0.35, ge=0)
    weight_burst: float = Field(default=0.2, ge=0)
    threshold: float = Field(default=0.5, ge=0, le=1)


class FeaturesConfig(Section):
    """Windows, smoothing, vocabularies, negative sampling and the time split."""

    # Recency weighting of engagement: weight exp(-decay_per_day * age in days).
    decay_per_day: float = Field(default=0.1, ge=0)
    # Time constants (days) of the mid- and long-term tag interest vectors; the short-term
    # vector is the exact last day.
    mid_term_days: float = Field(default=7.0, gt=0)
    long_term_days: float = Field(default=30.0, gt=0)
    # Weight of each event type in "engagement" (types not listed weigh 0).
    engagement_weights: dict[str, float] = Field(default_factory=lambda: {
        "view": 1.0, "complete_view": 1.0, "replay": 1.0, "like": 2.0, "comment": 3.0,
        "share": 3.0, "save": 2.0, "follow": 3.0})
    # An impression "continued" the session when the user's next impression of the day comes
    # at most this many minutes later (the same rule as silver.sessions).
    session_gap_minutes: int = Field(default=30, ge=1)
    history_length: int = Field(default=20, ge=1)
    top_k: int = Field(default=5, ge=1)
    max_tags: int = Field(default=50, ge=1)
    # A view shorter than this is not a real view (for the blind-engagement bot signal).
    min_view_ms: int = Field(default=2000, ge=0)
    # Sessions end at most this many days after they start (which session partitions to read).
    session_max_days: int = Field(default=1, ge=0)
    # Additive smoothing: rates get this many pseudo-views at the global mean.
    smoothing_views: float = Field(default=20.0, ge=0)
    # A user's view rate on a tag or creator gets this many pseudo-impressions at the user's
    # overall view rate, and the user's share of served mentions of a tag (tag_exposure_lift)
    # this many pseudo-mentions at the mix of all users (few impressions say little).
    rate_prior: float = Field(default=5.0, ge=0)
    growth_window_days: int = Field(default=7, ge=1)
    duration_buckets_s: list[float] = Field(default_factory=lambda: [15.0, 30.0, 60.0, 180.0, 600.0])
    # Width of the hashed text, tag and fused content vectors.
    vector_dim: int = Field(default=32, ge=2)
    min_doc_freq: int = Field(default=1, ge=0)
    # A token gets a vocabulary index once it occurred this often.
    vocab_min_count: int = Field(default=2, ge=1)
    # Logs without impressions: sampled negatives per positive, drawn by popularity from the
    # negative_pool_size most viewed items.
    negative_ratio: int = Field(default=4, ge=0)
    negative_pool_size: int = Field(default=1000, ge=1)
    negative_seed: int = 17
    # A run whose clean brought events of earlier dates than any feature day holds (a
    # historical log ingested at once, a first backfill) also builds the feature days, with
    # their examples, of the last this-many of those dates that have events: the ranker needs
    # a train, a validation and a test day. 0 builds the run date alone.
    history_days: int = Field(default=5, ge=0)
    # Time split of the examples by event_date: test from test_start, validation from
    # validation_start, train before; null leaves that split out.
    validation_start: dt.date | None = None
    test_start: dt.date | None = None
    bots: BotConfig = Field(default_factory=BotConfig)
