"""Reference policies for the feed simulator, as exported feeds (``user_id, rank, content_id``).

- :func:`random_policy`: uniformly random items per user (the floor);
- :func:`popularity_policy`: the same most-watched items for everyone (from the world's
  logged impressions: valid plays per item);
- :func:`oracle_policy`: for each user the items with the highest *true* expected watch time
  under the user model, in a neutral mood (the ceiling any learned ranker aims at);
- :func:`oracle_pool_policy`: the same, but only among the items of each user's candidate
  pool (the ceiling that retrieval leaves to the ranker and the rerank);
- :func:`true_relevance`: that truth as a score per (user, item), for the export's rerank to
  order (a perfect ranker).

Over several days (:func:`foryou.simulator.environment.simulate_days`) a policy is a
function of the day and what the users did so far: :func:`daily_oracle`, :func:`daily_random`
and :func:`daily_static` (one exported list re-served).

``user_id`` is the silver pseudonym of each simulated user, as a real export would key it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from foryou.simulator.environment import (CONTENT_ID, RANK, USER_ID, DailyPolicy, SimWorld,
                                          feed_matrix)
from foryou.world.model import SessionState, UserState

# Score at most this many (user, item) pairs at once in the oracle (memory bound).
_ORACLE_CELLS = 2_000_000


def _frame(world: SimWorld, items: np.ndarray) -> pd.DataFrame:
    """``(n_users, L)`` item indices (-1 padded) as a feed frame."""
    rows, slot = np.nonzero(items >= 0)
    return pd.DataFrame({USER_ID: world.pseudonyms[rows], RANK: (slot + 1).astype(np.int32),
                         CONTENT_ID: world.content_ids[items[rows, slot]]})


def random_policy(world: SimWorld, length: int = 50, seed: int = 0) -> pd.DataFrame:
    """``length`` distinct random items per user (seeded)."""
    n_items = world.catalogue.n_items
    length = min(length, n_items)
    rng = np.random.default_rng([seed, 0xDA7])
    # Distinct per user: the first ``length`` of a random key order.
    items = np.argsort(rng.random((world.n, n_items)), axis=1)[:, :length]
    return _frame(world, items)


def popularity_policy(world: SimWorld, truth_dir: str | Path, length: int = 50) -> pd.DataFrame:
    """The ``length`` items with the most valid plays in the world's logged impressions."""
    import pyarrow.dataset as ds

    table = ds.dataset(str(Path(truth_dir) / "impressions"), format="parquet").to_table(
        columns=[CONTENT_ID, "click"])
    counts = table.group_by(CONTENT_ID).aggregate([("click", "sum")]).to_pandas()
    counts = counts.sort_values(["click_sum", CONTENT_ID], ascending=[False, True]).head(length)
    index = pd.Series(np.arange(len(world.content_ids)), index=world.content_ids)
    top = index.reindex(counts[CONTENT_ID]).dropna().to_numpy(np.int64)
    return _frame(world, np.broadcast_to(top, (world.n, len(top))))


def true_expected_watch(world: SimWorld, users: np.ndarray, state: UserState | None = None
                        ) -> np.ndarray:
    """``(len(users), n_items)`` true expected watch ms of every item for rows ``users``.

    Neutral session: mood 0, no short-term tag mood, nothing seen yet in it. ``state``: the
    users as they are now (their interests and satiation; default: as the period starts).
    """
    n_items = world.catalogue.n_items
    m = len(users)
    sessions = SessionState(user=np.asarray(users), mood=np.zeros(m),
                            tag_mood=np.ones((m, world.catalogue.n_tags)),
                            items_seen=np.zeros(m, np.int64))
    rows = np.repeat(np.arange(m), n_items)
    items = np.tile(np.arange(n_items), m)
    probs = world.model.probabilities(world.state if state is None else state, sessions, rows,
                                      world.items(items))
    return probs.expected_watch_ms.reshape(m, n_items)


def _best(score: np.ndarray, length: int) -> np.ndarray:
    """Per row, the columns of the ``length`` highest scores, best first (-inf: never; such
    columns come back as -1)."""
    length = min(length, score.shape[1])
    top = np.argpartition(-score, length - 1, axis=1)[:, :length]
    best = np.take_along_axis(score, top, axis=1)
    order = np.argsort(-best, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(best, order, axis=1)), top, -1)


def oracle_items(world: SimWorld, length: int = 50, allowed: np.ndarray | None = None,
                 state: UserState | None = None) -> np.ndarray:
    """``(world.n, length)`` item indices of :func:`oracle_policy` (-1 padded); ``state``: the
    users as they are now (default: as the period starts)."""
    n_items = world.catalogue.n_items
    step = max(1, _ORACLE_CELLS // n_items)
    parts = []
    for lo in range(0, world.n, step):
        users = np.arange(lo, min(lo + step, world.n))
        score = true_expected_watch(world, users, state)
        if allowed is not None:
            score = np.where(allowed[users], score, -np.inf)
        parts.append(_best(score, length))
    return np.concatenate(parts)


def oracle_policy(world: SimWorld, length: int = 50, allowed: np.ndarray | None = None
                  ) -> pd.DataFrame:
    """For each user, the ``length`` items with the highest true expected watch time.

    Args:
        world: the simulated population and catalogue.
        length: items per user.
        allowed: optional ``(world.n, n_items)`` mask: a user's feed only takes items it marks
            (a user with fewer allowed items gets a shorter feed).
    """
    return _frame(world, oracle_items(world, length, allowed))


def daily_oracle(world: SimWorld, length: int = 50) -> DailyPolicy:
    """The oracle over several days: each morning, the ``length`` unseen items of highest true
    expected watch for the users as they are that morning (interests, satiation). It is
    myopic: it never spreads a day over topics to spare the user's satiation, so with
    satiation a diversified feed can beat it within a session."""
    def policy(day: int, state: UserState, seen: np.ndarray, history: pd.DataFrame) -> np.ndarray:
        return oracle_items(world, length, ~seen, state)
    return policy


def daily_random(world: SimWorld, length: int = 50, seed: int = 0) -> DailyPolicy:
    """A fresh random feed each day (seeded by ``seed`` and the day)."""
    def policy(day: int, state: UserState, seen: np.ndarray, history: pd.DataFrame) -> np.ndarray:
        return feed_matrix(world, random_policy(world, length, seed=seed * 1_000_003 + day))
    return policy


def daily_static(world: SimWorld, feed: pd.DataFrame, name: str = "feed") -> DailyPolicy:
    """The same exported list every day (the days' runs drop what the user has seen, so a
    list longer than a day's serving moves on to its next items)."""
    items = feed_matrix(world, feed, name)
    return lambda day, state, seen, history: items


def oracle_pool_policy(world: SimWorld, pool: pd.DataFrame, length: int = 50) -> pd.DataFrame:
    """For each user, the ``length`` items of their candidate pool with the highest true
    expected watch time: the best feed a perfect ranker could make of what retrieval found.

    Args:
        world: the simulated population and catalogue.
        pool: ``user_id`` (silver pseudonym), ``content_id`` rows; pairs of users not
            simulated and items outside the world's catalogue are ignored.
        length: items per user.
    """
    rows, items, _ = _pair_indices(world, pool)
    allowed = np.zeros((world.n, world.catalogue.n_items), bool)
    allowed[rows, items] = True
    return oracle_policy(world, length, allowed)


def true_relevance(world: SimWorld, pairs: pd.DataFrame) -> pd.DataFrame:
    """``user_id, content_id, relevance``: the true expected watch ms of each (user, item) of
    ``pairs`` (silver pseudonyms; pairs outside the world are left out), in the neutral
    session :func:`oracle_pool_policy` ranks by. Ranking a pool by it is a perfect ranker, so
    the export's rerank over it shows what the rerank and its guardrails leave of
    ``oracle_pool`` (``bench/feed_choices.py``)."""
    rows, items, known = _pair_indices(world, pairs)
    out = pairs.loc[known, [USER_ID, CONTENT_ID]].reset_index(drop=True)
    relevance = np.empty(len(out))
    for user in np.unique(rows):  # one user's row of the catalogue at a time
        at = np.flatnonzero(rows == user)
        relevance[at] = true_expected_watch(world, np.array([user]))[0, items[at]]
    return out.assign(relevance=relevance)


def _pair_indices(world: SimWorld, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World row and catalogue index of each of ``pairs``' (user_id, content_id) that the
    world holds, and the mask of those pairs."""
    row_of = pd.Series(np.arange(world.n), index=pd.Index(world.pseudonyms))
    item_of = pd.Series(np.arange(len(world.content_ids)), index=pd.Index(world.content_ids))
    rows, items = pairs[USER_ID].map(row_of), pairs[CONTENT_ID].map(item_of)
    known = (rows.notna() & items.notna()).to_numpy()
    return rows[known].to_numpy(np.int64), items[known].to_numpy(np.int64), known
