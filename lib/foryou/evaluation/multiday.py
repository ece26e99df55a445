"""Diversity and exploration judged over days: the champion's export rebuilt each simulated
morning, served for a week to users who tire of topics.

One simulated day cannot show what diversity buys: a user served the same topic all day only
tires of it later in the session and the days after, and comes back less. Here the simulator
(:func:`foryou.simulator.simulate_policies_over_days`) serves the same users for
``evaluation.satiation_days`` days in a row, at each satiation strength of
``evaluation.satiation_levels`` (none, the world's own, strong), and each morning rebuilds the
export from what the users did so far, as the daily ``foryou export`` would:

- the scored pool stays the champion's of the run date (no retraining within the week);
- the pool and the export's guards move on: items the user has seen (the candidates' seen
  filter), items exported to the user in the last ``repeat_days`` days and items the user hid
  or reported are dropped;
- the exploration bonus sees the user's history grow by the items the user played;
- the per-user rerank (:func:`foryou.rerank.feed.rerank_user`) runs with the day's seed.

The champion, its ablations (:data:`foryou.export.build.ABLATIONS`), a fresh random feed each
day (the floor) and the myopic daily oracle are served to the same users with the same seeds
(each day's session counts are shared; later draws follow what each policy served), and the
report pairs each policy with the champion user by user. Pure pandas and numpy on the
simulator's sample of users (the frames were collected by
:func:`foryou.export.build.reference_feeds`).
"""
from __future__ import annotations

import datetime as dt
from typing import Mapping

import numpy as np
import pandas as pd

from foryou.config.rerank import RerankConfig
from foryou.export.build import ABLATIONS, ablated
from foryou.lake.vocabulary import CONTENT_ID, USER_ID
from foryou.rerank.feed import rerank_user
from foryou.simulator import (DailyPolicy, SimWorld, daily_oracle, daily_random, feed_matrix,
                              simulate_policies_over_days)
from foryou.world.model import UserState

LEVEL = "satiation"


def daily_export(world: SimWorld, candidates: pd.DataFrame, users: pd.DataFrame,
                 cfg: RerankConfig, as_of: dt.date) -> DailyPolicy:
    """The export of each simulated day ``as_of + day`` for the simulated users: see the module
    docstring. Day 0 is the run's own export of the same candidates.

    Args:
        world: the simulated users (``user_id`` is their pseudonym).
        candidates: their guarded, scored candidates (``CANDIDATE_COLUMNS``).
        users: their per-user side (``USER_COLUMNS``): the vectors of their history items
            before the run date, and their interests.
        cfg: the ``rerank`` section (an ablation changes it).
        as_of: the run date of the export.
    """
    item_of = pd.Series(np.arange(len(world.content_ids)), index=pd.Index(world.content_ids))
    by_user = {u: g.reset_index(drop=True) for u, g in candidates.groupby(USER_ID, sort=False)}
    past = {u: list(h) if h is not None else [] for u, h in zip(users[USER_ID], users["history"])}
    interests = dict(zip(users[USER_ID], users["interests"]))
    vectors = (candidates.dropna(subset=["vector"]).drop_duplicates(CONTENT_ID)
               .assign(item=lambda f: f[CONTENT_ID].map(item_of)).dropna(subset=["item"]))
    vector_of = dict(zip(vectors["item"].astype(np.int64), vectors["vector"]))
    exported: list[dict[str, set[str]]] = []  # per earlier day: user -> content ids exported

    def policy(day: int, state: UserState, seen: np.ndarray, log: pd.DataFrame) -> np.ndarray:
        date = (as_of + dt.timedelta(days=day)).isoformat()
        recent = exported[-cfg.guards.repeat_days:] if cfg.guards.repeat_days > 0 else []
        negative = _items_by_row(log, "negative")
        played = _items_by_row(log, "click")
        frames, today = [], {}
        for row, user in enumerate(world.pseudonyms):
            cands = by_user.get(user)
            if cands is None:
                continue
            drop = set().union(*(d.get(user, set()) for d in recent))
            drop |= set(world.content_ids[np.nonzero(seen[row])[0]])
            drop |= set(world.content_ids[negative.get(row, [])])
            if drop:
                cands = cands[~cands[CONTENT_ID].isin(drop)]
            vecs = past.get(user, []) + [vector_of[i] for i in played.get(row, []) if i in vector_of]
            ranked = rerank_user(cands, pd.Series(vecs, dtype=object), interests.get(user), cfg,
                                 f"{user}|{date}")
            today[user] = set(ranked[CONTENT_ID])
            frames.append(ranked.assign(**{USER_ID: user}))
        exported.append(today)
        feed = (pd.concat(frames, ignore_index=True) if frames
                else pd.DataFrame({USER_ID: [], "rank": [], CONTENT_ID: []}))
        return feed_matrix(world, feed, "champion")

    return policy


def _items_by_row(log: pd.DataFrame, flag: str) -> dict[int, np.ndarray]:
    """Per user row, the items of the log whose ``flag`` is set, in the order they came."""
    hits = log[log[flag].astype(bool)]
    return {int(r): g.to_numpy(np.int64) for r, g in hits.groupby("row", sort=False)["item"]}


def satiation_table(world: SimWorld, candidates: pd.DataFrame, users: pd.DataFrame,
                    cfg: RerankConfig, as_of: dt.date, days: int, levels: Mapping[str, float],
                    length: int, seed: int = 0) -> pd.DataFrame:
    """Champion vs its ablations over ``days`` days at each satiation level (name -> strength).

    Returns:
        The rows of :func:`foryou.simulator.simulate_policies_over_days` per level, with the
        level's name in ``satiation`` and its strength in ``strength``; the policies are
        ``champion``, each ablation, ``oracle`` (daily, myopic) and ``random`` (daily);
        ``time_vs_ref_s`` is each one's paired difference from the champion.
    """
    tables = []
    for name, strength in levels.items():
        tired = world.with_satiation(strength)
        policies = {"oracle": daily_oracle(tired, length),
                    "champion": daily_export(tired, candidates, users, cfg, as_of),
                    **{ablation: daily_export(tired, candidates, users, ablated(cfg, change), as_of)
                       for ablation, change in ABLATIONS.items()},
                    "random": daily_random(tired, length, seed)}
        table = simulate_policies_over_days(tired, policies, days, length, seed,
                                            reference="champion")
        tables.append(table.assign(**{LEVEL: name, "strength": float(strength)}))
    return pd.concat(tables, ignore_index=True)
