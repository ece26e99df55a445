"""Settings of ``foryou build-candidates`` (the ``candidates`` config section)."""
from __future__ import annotations

from pydantic import Field, model_validator

from foryou.config.section import Section

# Candidate sources, in priority order: when several sources propose the same item at the
# same rank, the earlier one is the pool row's primary ``source``. ``fallback`` (the most
# viewed items) tops up the pool of a user whom the other sources leave with fewer
# candidates than its quota.
SOURCES = ("ann", "interest", "covisit", "followed", "trending", "cold_start", "fallback")


class CovisitConfig(Section):
    """Item-to-item co-visitation: items engaged within the same session are neighbours."""

    # History read for the co-visitation counts (days before the run date).
    window_days: int = Field(default=14, ge=1)
    # Recency weight of a co-visit: 0.5 ** (age in days / half_life_days).
    half_life_days: float = Field(default=3.0, gt=0)
    # Engagements of a user further apart than this are different sessions (the same rule
    # as silver.sessions).
    session_gap_minutes: int = Field(default=30, ge=1)
    # Only the last N engaged items of a session form pairs (bounds the pair count of long sessions).
    max_session_items: int = Field(default=30, ge=2)
    # Neighbours kept per item, and a user's most recent engaged items used as seeds.
    neighbours_per_item: int = Field(default=30, ge=1)
    seed_items: int = Field(default=20, ge=1)


class InterestConfig(Section):
    """The best-watched items of each user's strongest long-term interest tags."""

    # The user's tags of largest long-term interest that propose items.
    tags_per_user: int = Field(default=5, ge=1)
    # Items per tag, by watch seconds per impression.
    items_per_tag: int = Field(default=100, ge=1)
    # Pseudo-impressions at the catalogue's mean watch per impression added to every item.
    prior_impressions: float = Field(default=20.0, ge=0)


class TrendingConfig(Section):
    """Growth-based trending per country and language, with a global list as fallback."""

    # Growth is views in the last window_days over the window before it (non-bot users only).
    window_days: int = Field(default=3, ge=1)
    # An item needs this many views in the last window to trend.
    min_views: int = Field(default=2, ge=1)
    # Segment columns of silver.users; a user outside every segment gets the global list.
    segment_by: list[str] = Field(default_factory=lambda: ["country", "language"])


class FollowedConfig(Section):
    """Recent uploads of the creators a user follows."""

    recent_days: int = Field(default=7, ge=1)
    # Score exp(-age in days / decay_days): newer uploads first.
    decay_days: float = Field(default=2.0, gt=0)


class ColdStartConfig(Section):
    """New items: random cohorts of matching users, widened in waves while they perform."""

    # Items uploaded at most this many days before the run date are in cold start.
    max_age_days: float = Field(default=7.0, gt=0)
    # Users exposed per item in wave 0, 1, 2, ...; the last wave's item graduates out of cold start.
    wave_cohort_sizes: list[int] = Field(default_factory=lambda: [20, 60, 180, 540])
    # An item is judged once it has this many impressions from non-bot users.
    min_impressions: int = Field(default=5, ge=1)
    # Early performance / baseline (age-day and duration bucket) above this widens the next wave;
    # below it the item leaves cold start.
    threshold: float = Field(default=1.2, gt=0)
    # Pseudo-engagements added to observed and expected (shrinks tiny samples toward 1).
    prior_engagements: float = Field(default=1.0, ge=0)
    # History read for the per-age baseline and the items' early performance.
    baseline_days: int = Field(default=14, ge=1)
    # A user's top tags that count as interests when matching new items.
    interest_tags: int = Field(default=10, ge=1)
    # Users are hashed into this many buckets; an item's cohort is drawn from a few of them,
    # so the (item, user) pairs stay near the cohort size at any scale.
    hash_buckets: int = Field(default=1000, ge=1)
    seed: int = 11


class FiltersConfig(Section):
    """What no user's pool may hold."""

    # Items the user saw (any event on them) in the last N days are excluded.
    seen_days: int = Field(default=3, ge=0)
    # Items the user hid or reported in the last N days are excluded.
    negative_days: int = Field(default=90, ge=1)
    # Creators nobody gets (operator blocklist, creator ids as in silver.content).
    blocked_creators: list[str] = Field(default_factory=list)
    # A creator is spam-flagged when at least this share of the engagement on their items over
    # spam_days comes from suspected bots (and there are at least spam_min_engagements).
    spam_bot_share: float = Field(default=0.5, gt=0, le=1)
    spam_min_engagements: int = Field(default=5, ge=1)
    spam_days: int = Field(default=14, ge=1)


class InteractionLogConfig(Section):
    """Candidates of a log without served impressions (an interaction log: one row per
    rating, purchase or play; no sessions, no feeds served, often no uploads or follows).

    Chosen per run date when silver.impressions holds no served impression in the sources'
    window (:func:`foryou.candidates.inputs.interaction_log`). Sessions, trends by segment and new
    uploads do not exist in such a log, so the pool comes from item-to-item co-occurrence
    over each user's whole history (RP3beta: Paudel et al. 2017; Dacrema et al. 2019 found it
    at or above the neural recommenders of its day on such logs) and ALS neighbours, listed
    one source after the other, not interleaved. ``bench/offline.py`` measures the choice.
    """

    # History read for co-occurrence, seeds and the seen filter: the N days before the window
    # end, or (null) the whole log before it, as SAR and the hold-out baseline read it (a
    # MovieLens log spans years, and most of its pairs are old).
    window_days: int | None = Field(default=None, ge=1)
    # A user's most recent distinct items that pair (bounds pairs per user to max_items²).
    max_items: int = Field(default=100, ge=2)
    neighbours_per_item: int = Field(default=100, ge=1)
    # A user's most recent items whose neighbours are summed.
    seed_items: int = Field(default=50, ge=1)
    # RP3beta's beta: a neighbour's score is divided by its popularity ** beta.
    popularity_penalty: float = Field(default=0.3, ge=0)
    # Candidates kept per user and source (replaces candidates.quotas for such a log).
    quotas: dict[str, int] = Field(default_factory=lambda: {"covisit": 150, "ann": 100, "fallback": 100})
    # The pool lists the sources in this order, each by its own rank (an item proposed by
    # several takes its earliest place).
    order: list[str] = Field(default_factory=lambda: ["covisit", "ann", "fallback"])

    @model_validator(mode="after")
    def _known(self) -> "InteractionLogConfig":
        unknown = sorted((set(self.quotas) | set(self.order)) - set(SOURCES))
        if unknown:
            raise ValueError(f"candidates.interaction_log: unknown source(s) {unknown}; known: {list(SOURCES)}")
        return self


class CandidatesConfig(Section):
    """Per-user candidate sources, their quotas, filters and the merged pool."""

    # Candidates kept per user and source after filtering (a source missing here is off).
    # The sources interleave rank by rank up to max_candidates, so a quota is also a source's
    # weight in the pool. Tuned by the pool's oracle share in the feed simulator (demo world,
    # README): the interest source alone keeps 0.80 of the oracle's time-spent lift, ALS
    # neighbours 0.18, co-visitation 0.07; equal quotas of 100 kept 0.78 in all, these 0.80
    # with fewer candidates to score.
    quotas: dict[str, int] = Field(default_factory=lambda: {
        "ann": 60, "interest": 120, "covisit": 40, "followed": 30, "trending": 20,
        "cold_start": 10, "fallback": 100})
    # Sources propose this many times their quota, so filtering rarely leaves them short.
    overfetch: float = Field(default=2.0, ge=1)
    # Candidates kept per user in the merged pool.
    max_candidates: int = Field(default=250, ge=1)
    covisit: CovisitConfig = Field(default_factory=CovisitConfig)
    interest: InterestConfig = Field(default_factory=InterestConfig)
    trending: TrendingConfig = Field(default_factory=TrendingConfig)
    followed: FollowedConfig = Field(default_factory=FollowedConfig)
    cold_start: ColdStartConfig = Field(default_factory=ColdStartConfig)
    filters: FiltersConfig = Field(default_factory=FiltersConfig)
    interaction_log: InteractionLogConfig = Field(default_factory=InteractionLogConfig)

    @model_validator(mode="after")
    def _known_sources(self) -> "CandidatesConfig":
        unknown = sorted(set(self.quotas) - set(SOURCES))
        if unknown:
            raise ValueError(f"candidates.quotas: unknown source(s) {unknown}; known: {list(SOURCES)}")
        bad = sorted(s for s, q in self.quotas.items() if q < 0)
        if bad:
            raise ValueError(f"candidates.quotas: negative quota for {bad}")
        return self

    def for_interaction_log(self) -> "CandidatesConfig":
        """These settings with :attr:`interaction_log`'s quotas (every other source off)."""
        return self.model_copy(update={"quotas": dict(self.interaction_log.quotas)})

    def quota(self, source: str) -> int:
        """Candidates kept per user from ``source`` (0: the source is off)."""
        return self.quotas.get(source, 0)

    def fetch(self, source: str) -> int:
        """Candidates a source proposes per user before filtering."""
        return int(round(self.quota(source) * self.overfetch))
