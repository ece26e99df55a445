"""The logging policy: which items the app served before foryou's ranker existed.

A simple, explicit mixture per feed slot, so that the logs carry the biases a real log has
(popularity, some personalisation, a following feed, a fresh-content boost) plus exploration:

=========  =====================================================================================
source     draw
=========  =====================================================================================
popular    an initial-catalogue item with probability proportional to its popularity
interest   a tag from the user's current interest, then an item of that tag by popularity
following  an item of a creator the user follows
fresh      an item uploaded in the last ``fresh_hours`` (cold start)
explore    any item already uploaded, uniformly
=========  =====================================================================================

A draw that is impossible (no follows, nothing fresh, an item not uploaded yet at the request
time) falls back to ``popular``; the source recorded is the one that produced the item. A
repeated item within one request is redrawn once by ``explore``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foryou.world.catalogue import Catalogue

SOURCES: tuple[str, ...] = ("popular", "interest", "following", "fresh", "explore")
POPULAR, INTEREST, FOLLOWING, FRESH, EXPLORE = range(len(SOURCES))


@dataclass(frozen=True)
class LoggingPolicy:
    """Mixture weights of the sources (normalised) and the freshness window."""

    weights: tuple[float, float, float, float, float] = (0.33, 0.35, 0.10, 0.10, 0.12)
    fresh_hours: float = 72.0

    def serve(self, rng: np.random.Generator, cat: Catalogue, interest: np.ndarray,
              follows: np.ndarray, now_ms: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Serve ``k`` items to each of ``len(now_ms)`` requests.

        Args:
            rng: generator for the draws.
            cat: the catalogue.
            interest: ``(L, T)`` current interest of each request's user.
            follows: ``(L, F)`` followed creators of each request's user (-1 empty).
            now_ms: request times (epoch ms).
            k: items per request.
        Returns:
            ``(items, source)``, both ``(L, k)``: item indices and source codes (``SOURCES``).
        """
        n_req = len(now_ms)
        w = np.asarray(self.weights, float)
        source = np.searchsorted(np.cumsum(w / w.sum()), rng.random((n_req, k)), side="right")
        source = np.minimum(source, len(SOURCES) - 1)
        u = rng.random((3, n_req, k))
        now = np.broadcast_to(np.asarray(now_ms, np.int64)[:, None], (n_req, k))
        available = np.searchsorted(cat.upload_ms, now, side="right")  # items uploaded by now

        items = np.searchsorted(cat.popular_cdf, u[0], side="right").clip(0, cat.n_initial - 1)
        chosen = np.full((n_req, k), -1, np.int64)

        # interest: tag ~ interest row, item ~ popularity within the tag
        mask = source == INTEREST
        if mask.any():
            # Inverse CDF over all rows at once: row i's cumulative interest spans [i, i + 1).
            rows = np.nonzero(mask)[0]
            n_tags = interest.shape[1]
            cum = np.cumsum(interest / interest.sum(axis=1, keepdims=True), axis=1)
            cum += np.arange(n_req)[:, None]
            flat = np.searchsorted(cum.ravel(), rows + u[1][mask], side="right")
            tag = np.clip(flat - rows * n_tags, 0, n_tags - 1)
            lo, hi = cat.tag_ptr[tag], cat.tag_ptr[tag + 1]
            base = np.where(lo > 0, cat.tag_cum[np.maximum(lo - 1, 0)], 0.0)
            top = cat.tag_cum[np.maximum(hi - 1, 0)]
            pos = np.searchsorted(cat.tag_cum, base + u[2][mask] * (top - base), side="right")
            pos = np.clip(pos, lo, np.maximum(hi - 1, lo))
            chosen[mask] = np.where(hi > lo, cat.tag_items[np.minimum(pos, len(cat.tag_items) - 1)], -1)

        # following: a random non-empty follow slot, then a random item of that creator
        mask = source == FOLLOWING
        if mask.any():
            rows = np.nonzero(mask)[0]
            slots = follows[rows]
            n_followed = (slots >= 0).sum(axis=1)
            ranked = np.sort(np.where(slots >= 0, slots, np.iinfo(np.int32).max), axis=1)
            pick = np.minimum((u[1][mask] * n_followed).astype(np.int64), np.maximum(n_followed - 1, 0))
            creator = np.where(n_followed > 0, ranked[np.arange(len(rows)), pick], 0)
            lo, hi = cat.creator_ptr[creator], cat.creator_ptr[creator + 1]
            idx = lo + (u[2][mask] * (hi - lo)).astype(np.int64)
            got = cat.creator_items[np.minimum(idx, len(cat.creator_items) - 1)]
            chosen[mask] = np.where((n_followed > 0) & (hi > lo), got, -1)

        # fresh: uniform over the uploads of the last fresh_hours
        mask = source == FRESH
        if mask.any():
            hi = available[mask]
            lo = np.searchsorted(cat.upload_ms, now[mask] - int(self.fresh_hours * 3_600_000))
            pick = lo + (u[1][mask] * (hi - lo)).astype(np.int64)
            chosen[mask] = np.where(hi > lo, pick, -1)

        mask = source == EXPLORE
        if mask.any():
            chosen[mask] = (u[1][mask] * available[mask]).astype(np.int64)

        ok = (chosen >= 0) & (chosen < available)
        items = np.where(ok, chosen, items)
        source = np.where(ok | (source == POPULAR), source, POPULAR)

        # one redraw of items repeated within a request
        order = np.argsort(items, axis=1, kind="stable")
        ranked = np.take_along_axis(items, order, axis=1)
        repeat = np.zeros_like(items, bool)
        np.put_along_axis(repeat, order[:, 1:], ranked[:, 1:] == ranked[:, :-1], axis=1)
        if repeat.any():
            redraw = (rng.random(int(repeat.sum())) * available[repeat]).astype(np.int64)
            items[repeat] = redraw
            source[repeat] = EXPLORE
        return items.astype(np.int32), source.astype(np.int8)
