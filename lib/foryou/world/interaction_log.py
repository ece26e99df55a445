"""A plain interaction log with a known structure: users and items drawn from latent taste
clusters, written as ``user, item, rating, timestamp`` rows (MovieLens' shape).

The synthetic world (``foryou.world.generate``) simulates an app with impressions, sessions
and a catalogue. Most public logs hold much less: who interacted with what, when, maybe a
rating. This generator makes such a log, with the awkward parts real logs have: users with
a single interaction, items seen once, a handful of events years before the rest, a long-tail
item popularity. Because the taste clusters are known, so is the best possible feed (every
user's unseen in-cluster items), which ``bench/offline.py`` uses as a ceiling.

Each user belongs to one cluster and each item to one. A user's interactions pick items with
probability proportional to ``popularity * (in_cluster_boost if same cluster else 1)``,
without repeats. Timestamps: ``old_share`` of the users' first interaction lies up to
``old_years`` before the rest, which spreads over the last ``recent_days`` days; ratings are
4-5 in cluster and 1-5 otherwise.
"""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLUMNS = ("user", "item", "rating", "timestamp")


@dataclass(frozen=True)
class LogShape:
    """The size and structure of a generated log."""

    users: int = 300
    items: int = 400
    clusters: int = 6
    # Interactions per user are drawn from [min, max]; ``single_users`` users have exactly one.
    min_per_user: int = 3
    max_per_user: int = 25
    single_users: int = 5
    in_cluster_boost: float = 12.0
    # Zipf exponent of item popularity (heavier tail as it approaches 1).
    popularity_exponent: float = 1.6
    recent_days: int = 21
    old_years: int = 3
    old_share: float = 0.05
    end: dt.date = dt.date(2024, 3, 31)
    seed: int = 0

    @classmethod
    def sized(cls, interactions: int, recent_days: int = 90, seed: int = 0) -> "LogShape":
        """About ``interactions`` rows: 5-45 per user (25 on average), three items for every
        four users, 1% of users with a single interaction, 5% with one event up to three
        years before the rest (the benches' logs)."""
        users = max(10, interactions // 25)
        return cls(users=users, items=max(50, users * 3 // 4), min_per_user=5, max_per_user=45,
                   single_users=users // 100, recent_days=recent_days, old_years=3,
                   old_share=0.05, seed=seed)


@dataclass(frozen=True)
class InteractionLog:
    """The rows and the truth they were drawn from."""

    rows: list[tuple[str, str, int, int]]  # user, item, rating, epoch seconds
    user_cluster: dict[str, int]
    item_cluster: dict[str, int]
    popularity: dict[str, float]  # an item's draw weight before the in-cluster boost

    def write_csv(self, path: Path | str, names: tuple[str, ...] = COLUMNS, sep: str = ",") -> Path:
        """Write the rows with a header of ``names`` (user, item, rating, timestamp roles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            out = csv.writer(f, delimiter=sep)
            out.writerow(names)
            out.writerows(self.rows)
        return path

    def last_day(self) -> dt.date:
        return dt.datetime.fromtimestamp(max(r[3] for r in self.rows), dt.timezone.utc).date()


def user_name(i: int) -> str:
    return f"u{i:05d}"


def item_name(i: int) -> str:
    return f"i{i:05d}"


def generate_log(shape: LogShape = LogShape()) -> InteractionLog:
    """Draw a log of ``shape`` (deterministic for a seed)."""
    rng = np.random.default_rng(shape.seed)
    user_cluster = rng.integers(0, shape.clusters, shape.users)
    item_cluster = rng.integers(0, shape.clusters, shape.items)
    popularity = 1.0 / np.arange(1, shape.items + 1) ** (shape.popularity_exponent - 1.0)
    popularity = popularity[rng.permutation(shape.items)]
    end = dt.datetime.combine(shape.end, dt.time(23, 59), dt.timezone.utc).timestamp()
    recent_start = end - shape.recent_days * 86400
    rows: list[tuple[str, str, int, int]] = []
    for u in range(shape.users):
        n = 1 if u < shape.single_users else int(rng.integers(shape.min_per_user, shape.max_per_user + 1))
        same = item_cluster == user_cluster[u]
        weight = popularity * np.where(same, shape.in_cluster_boost, 1.0)
        items = rng.choice(shape.items, size=min(n, shape.items), replace=False, p=weight / weight.sum())
        times = np.sort(rng.uniform(recent_start, end, len(items)))
        if len(items) > 1 and rng.random() < shape.old_share:
            times[0] = recent_start - rng.uniform(0, shape.old_years * 365 * 86400)
        for item, ts in zip(items, times):
            rating = int(rng.integers(4, 6)) if same[item] else int(rng.integers(1, 6))
            rows.append((user_name(u), item_name(int(item)), rating, int(ts)))
    return InteractionLog(rows, {user_name(u): int(c) for u, c in enumerate(user_cluster)},
                          {item_name(i): int(c) for i, c in enumerate(item_cluster)},
                          {item_name(i): float(w) for i, w in enumerate(popularity)})
