"""The video catalogue of a world: items, creators, upload times, quality, and lookup indexes.

Built once on the driver from the calibration and the seed (it is small: one row per video) and
shipped to every simulating task. Items are ordered by upload time, so "what exists at time t"
is a prefix of the arrays and "uploaded in the last 72 hours" a slice found by binary search.
Items uploaded before the period form the initial catalogue; the rest (``new_upload_share``)
are uploaded during it by existing creators and are the cold-start items.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from foryou.world.calibration import Calibration
from foryou.world.params import WorldConfig
from foryou.world.vocabulary import DESCRIPTIONS, GENERIC_HASHTAGS, HOURLY_ACTIVITY, TAG_NAMES

DAY_MS = 86_400_000
# Catalogue ages beyond what KuaiRand-Pure shows (its side table spans three upload days):
# an exponential tail with this mean, in days.
AGE_TAIL_DAYS = 45.0
BAD_ITEM_SHARE = 0.02  # spam, scams, reposts: the items reports are about
BAD_ITEM_QUALITY = -2.5
QUALITY_SIGMA = 0.5
CREATOR_POPULARITY_SIGMA = 1.2  # log-normal spread of creator reach


def epoch_ms(day: dt.date) -> int:
    """Milliseconds since the epoch at UTC midnight of ``day``."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


@dataclass(frozen=True)
class Catalogue:
    """Items (axis 0, ordered by upload time) and creators.

    Attributes:
        tags: ``(n, 3)`` tag indices into ``tag_ids``, -1 padded.
        duration_ms, creator, quality, upload_ms: per item.
        is_bad: items of very low quality (the ones that get reported).
        n_initial: items uploaded before the period (a prefix).
        tag_ids: KuaiRand tag id of each tag index (strings).
        tag_share: share of each tag among item tags (the users' interest prior).
        creator_popularity: per creator reach weight.
        popular_cdf: cumulative normalised popularity over the initial items.
        tag_ptr, tag_items, tag_cum: per tag, its items (CSR) and the global running sum of
            their popularity (for popularity-weighted draws within a tag).
        creator_ptr, creator_items: per creator, its items (CSR, by upload time).
        creator_cdf: cumulative normalised creator popularity (whom users follow).
    """

    tags: np.ndarray
    duration_ms: np.ndarray
    creator: np.ndarray
    quality: np.ndarray
    upload_ms: np.ndarray
    is_bad: np.ndarray
    n_initial: int
    tag_ids: np.ndarray
    tag_share: np.ndarray
    creator_popularity: np.ndarray
    popular_cdf: np.ndarray
    tag_ptr: np.ndarray
    tag_items: np.ndarray
    tag_cum: np.ndarray
    creator_ptr: np.ndarray
    creator_items: np.ndarray
    creator_cdf: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.duration_ms)

    @property
    def n_creators(self) -> int:
        return len(self.creator_popularity)

    @property
    def n_tags(self) -> int:
        return len(self.tag_ids)

    @property
    def popularity(self) -> np.ndarray:
        """Per item exposure weight: creator reach times exp(quality)."""
        return self.creator_popularity[self.creator] * np.exp(self.quality)


def _csr(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    ptr = np.zeros(n_keys + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=ptr[1:])
    return ptr, order.astype(np.int32)


def build_catalogue(cfg: WorldConfig, cal: Calibration) -> Catalogue:
    """Sample the catalogue of ``cfg``'s world from the calibration (deterministic per seed).

    Args:
        cfg: world settings (seed, n_items, new_upload_share, start_date, days).
        cal: KuaiRand calibration.
    Returns:
        The catalogue, items ordered by upload time.
    """
    rng = np.random.default_rng([cfg.seed, 0xCA7])
    n = cfg.n_items
    n_new = min(int(round(n * cfg.new_upload_share)), n - 1)
    n_initial = n - n_new
    start = epoch_ms(cfg.start_date)

    # Creators: bootstrap KuaiRand's videos-per-author until the initial catalogue is covered.
    counts = cal.sample_author_counts(rng, n_initial)
    n_creators = int(np.searchsorted(np.cumsum(counts), n_initial) + 1)
    counts = counts[:n_creators].copy()
    counts[-1] -= counts.sum() - n_initial
    initial_creator = np.repeat(np.arange(n_creators, dtype=np.int32), counts)
    # Prolific creators upload more during the period too.
    new_creator = rng.choice(n_creators, size=n_new, p=counts / counts.sum()).astype(np.int32)
    creator_popularity = rng.lognormal(0.0, CREATOR_POPULARITY_SIGMA, n_creators) * np.sqrt(counts)

    age_days = cal.sample_upload_offsets(rng, n_initial) + rng.exponential(AGE_TAIL_DAYS, n_initial)
    initial_upload = start - (age_days * DAY_MS).astype(np.int64) - 1
    hour_p = np.asarray(HOURLY_ACTIVITY) / np.sum(HOURLY_ACTIVITY)
    new_upload = (start + rng.integers(0, cfg.days, n_new) * DAY_MS
                  + rng.choice(24, n_new, p=hour_p) * 3_600_000 + rng.integers(0, 3_600_000, n_new))

    creator = np.concatenate([initial_creator, new_creator])
    upload = np.concatenate([initial_upload, new_upload]).astype(np.int64)
    order = np.argsort(upload, kind="stable")
    upload, creator = upload[order], creator[order]
    # Initial items stay a prefix: every initial upload is before the start, every new one after.
    is_bad = rng.random(n) < BAD_ITEM_SHARE
    quality = np.where(is_bad, BAD_ITEM_QUALITY + rng.normal(0, 0.3, n), rng.normal(0, QUALITY_SIGMA, n))
    tags = cal.sample_tag_sets(rng, n)
    duration = cal.sample_durations(rng, n).astype(np.int32)

    popularity = creator_popularity[creator] * np.exp(quality)
    popular_cdf = np.cumsum(popularity[:n_initial])
    popular_cdf /= popular_cdf[-1]

    flat_tags = tags.ravel()
    flat_items = np.repeat(np.arange(n, dtype=np.int32), tags.shape[1])
    keep = flat_tags >= 0
    tag_ptr, order_t = _csr(flat_tags[keep].astype(np.int64), cal.n_tags)
    tag_items = flat_items[keep][order_t]
    tag_cum = np.cumsum(popularity[tag_items])
    tag_share = np.bincount(flat_tags[keep], minlength=cal.n_tags).astype(float)
    tag_share = (tag_share + 1.0) / (tag_share + 1.0).sum()
    creator_ptr, creator_items = _csr(creator.astype(np.int64), n_creators)
    creator_cdf = np.cumsum(creator_popularity)
    creator_cdf /= creator_cdf[-1]
    return Catalogue(
        tags=tags, duration_ms=duration, creator=creator, quality=quality.astype(np.float32),
        upload_ms=upload, is_bad=is_bad, n_initial=n_initial, tag_ids=cal.tag_ids,
        tag_share=tag_share, creator_popularity=creator_popularity, popular_cdf=popular_cdf,
        tag_ptr=tag_ptr, tag_items=tag_items, tag_cum=tag_cum, creator_ptr=creator_ptr,
        creator_items=creator_items, creator_cdf=creator_cdf,
    )


def tag_name(tag_id: str) -> str:
    """The hashtag word of a KuaiRand tag id."""
    return TAG_NAMES[int(tag_id) % len(TAG_NAMES)]


def content_frame(cat: Catalogue, seed: int) -> pd.DataFrame:
    """One row per item, as codes Spark renders into the content record (see records.py).

    Columns: ``item, creator, upload_ms, duration_ms``, ``tag0..tag2`` (tag indices, -1 none),
    the caption parts ``caption`` (index into DESCRIPTIONS), ``number`` (its {n}) and
    ``generic`` (index into GENERIC_HASHTAGS, -1 none), and the latent ``quality`` and
    ``is_bad`` (ground truth, not part of the raw record).
    """
    rng = np.random.default_rng([seed, 0xDE5C])
    n = cat.n_items
    generic = rng.integers(0, len(GENERIC_HASHTAGS), n)
    return pd.DataFrame({
        "item": np.arange(n, dtype=np.int64),
        "creator": cat.creator.astype(np.int64),
        "upload_ms": cat.upload_ms,
        "duration_ms": cat.duration_ms.astype(np.int64),
        **{f"tag{i}": cat.tags[:, i].astype(np.int32) for i in range(cat.tags.shape[1])},
        "caption": rng.integers(0, len(DESCRIPTIONS), n).astype(np.int32),
        "number": rng.integers(2, 60, n).astype(np.int32),
        "generic": np.where(rng.random(n) < 0.7, generic, -1).astype(np.int32),
        "quality": cat.quality.astype(np.float64),
        "is_bad": cat.is_bad,
    })
