"""``simulate_policies``: expected time spent and next-day return per policy, with CIs;
``simulate_policies_over_days``: the same over several days in a row.

Each policy's exported feed is served to the same simulated users with the same seed (common
random numbers), one day each, by :func:`foryou.simulator.environment.simulate_day`. Per user
the simulator gives the day's watch time and the true next-day return probability; the report
averages them over users with normal-approximation 95% confidence intervals (users are
independent; with tens of users and more the mean of either is close to normal).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from foryou.rerank.session import SessionModel
from foryou.simulator.environment import (DailyPolicy, SimWorld, feed_matrix, load_world,
                                          simulate_day, simulate_days)
from foryou.world.params import WorldConfig

Z95 = 1.959963984540054

REPORT_COLUMNS = (
    "policy", "users", "feed_coverage", "time_spent_s", "time_spent_s_lo", "time_spent_s_hi",
    "return_rate", "return_rate_lo", "return_rate_hi", "returned_share", "items_per_user",
    "list_ran_out", "sessions", "sessions_per_s", "time_share", "return_share",
)
FLOOR, CEILING = "random", "oracle"


def mean_ci(values: np.ndarray, z: float = Z95) -> tuple[float, float, float]:
    """(mean, low, high): normal-approximation confidence interval of the mean."""
    values = np.asarray(values, float)
    mean = float(values.mean())
    half = z * float(values.std(ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, mean - half, mean + half


def simulate_policies(world_cfg: WorldConfig, truth_dir: str | Path | None,
                      policies: Mapping[str, pd.DataFrame], n_users: int | None = None,
                      seed: int = 0, pseudonym_key: bytes | None = None,
                      world: SimWorld | None = None, max_items: int | None = None,
                      reactive: Mapping[str, SessionModel | str] | None = None) -> pd.DataFrame:
    """Simulate each policy's feed on the world's users and report per policy.

    Args:
        world_cfg: the config that generated the world.
        truth_dir: the world's ``truth`` folder (checked against the config; may be None).
        policies: name -> feed frame ``user_id`` (silver pseudonym), ``rank``, ``content_id``.
        n_users: simulate this many users (None: every human user of the world).
        seed: seeds user choice and every behavioural draw; the same for every policy.
        pseudonym_key: key of the silver pseudonyms (default: the pipeline's key).
        world: an already loaded :class:`SimWorld` (skips ``load_world``; e.g. the one the
            oracle policy was built on).
        max_items: serve at most this many items of each user's feed.
        reactive: policy name -> the in-session model (or ``SESSION_TRUTH``) that re-ranks
            that policy's feed before every request
            (:func:`foryou.simulator.environment.simulate_day`); others are served as given.
    Returns:
        One row per policy (``REPORT_COLUMNS``): ``time_spent_s`` mean watch seconds per user
        on the day and its 95% CI, ``return_rate`` mean next-day return probability and its CI,
        ``returned_share`` a draw of it, ``feed_coverage`` share of users the feed covers,
        ``items_per_user`` items seen, ``list_ran_out`` the share of users with a feed who
        reached its end (``DayResult.ran_out``: a longer list would have kept them watching),
        ``sessions`` simulated and ``sessions_per_s`` (simulation speed); ``time_share`` and
        ``return_share`` the share of the oracle's lift over random it keeps (see
        :func:`lift_shares`; NaN unless both ``random`` and ``oracle`` are among the policies).
    Example:
        >>> from foryou.simulator import load_world, oracle_policy, random_policy  # doctest: +SKIP
        >>> w = load_world(cfg, truth, n_users=100)                                # doctest: +SKIP
        >>> simulate_policies(cfg, truth, {"oracle": oracle_policy(w),             # doctest: +SKIP
        ...                                "random": random_policy(w)}, world=w)
    """
    if not policies:
        raise ValueError("policies is empty: give at least one name -> feed frame")
    if world is None:
        world = load_world(world_cfg, truth_dir, n_users=n_users, seed=seed,
                           pseudonym_key=pseudonym_key)
    rows = []
    for name, feed in policies.items():
        feeds = feed_matrix(world, feed, name, max_items)
        started = time.perf_counter()
        day = simulate_day(world, feeds, seed=seed, reactive=(reactive or {}).get(name))
        elapsed = max(time.perf_counter() - started, 1e-9)
        t, t_lo, t_hi = mean_ci(day.watch_ms / 1000.0)
        r, r_lo, r_hi = mean_ci(day.p_return)
        sessions = int(day.sessions.sum())
        ran_out = float(day.ran_out[day.has_feed].mean()) if day.has_feed.any() else 0.0
        rows.append(dict(
            policy=name, users=world.n, feed_coverage=float(day.has_feed.mean()),
            time_spent_s=t, time_spent_s_lo=t_lo, time_spent_s_hi=t_hi,
            return_rate=r, return_rate_lo=r_lo, return_rate_hi=r_hi,
            returned_share=float(day.returned.mean()),
            items_per_user=float(day.items_seen.mean()), list_ran_out=ran_out, sessions=sessions,
            sessions_per_s=sessions / elapsed,
        ))
    return lift_shares(pd.DataFrame(rows, columns=list(REPORT_COLUMNS)))


DAYS_COLUMNS = (
    "policy", "users", "days", "time_spent_s", "time_spent_s_lo", "time_spent_s_hi",
    "return_rate", "return_rate_lo", "return_rate_hi", "active_last_day", "items_per_user",
    "time_vs_ref_s", "time_vs_ref_s_lo", "time_vs_ref_s_hi", "time_share", "return_share",
)


def simulate_policies_over_days(world: SimWorld, policies: Mapping[str, DailyPolicy], days: int,
                                length: int, seed: int = 0, reference: str | None = None
                                ) -> pd.DataFrame:
    """Each policy served to the same users for ``days`` days in a row
    (:func:`foryou.simulator.environment.simulate_days`, the same seed for every policy).

    Returns:
        One row per policy (``DAYS_COLUMNS``): ``time_spent_s`` mean watch seconds per user and
        day (a day the user stayed away counts 0) and its 95% CI over users; ``return_rate``
        the mean next-day return probability over the days and its CI; ``active_last_day`` the
        share of users who opened the app on the last day; ``items_per_user`` items seen per
        user and day; ``time_vs_ref_s`` the policy's time spent minus the ``reference``
        policy's, per user (paired: the same users and draws) and its 95% CI (NaN without a
        reference); ``time_share``/``return_share`` as in :func:`lift_shares`.
    """
    if not policies:
        raise ValueError("policies is empty: give at least one name -> daily policy")
    if reference is not None and reference not in policies:
        raise ValueError(f"reference {reference!r} is not one of the policies {list(policies)}")
    per_user = {name: simulate_days(world, policy, days, length, seed)
                for name, policy in policies.items()}
    rows = []
    for name, result in per_user.items():
        seconds = result.watch_ms.mean(axis=1) / 1000.0
        d, d_lo, d_hi = ((np.nan,) * 3 if reference is None else
                         mean_ci(seconds - per_user[reference].watch_ms.mean(axis=1) / 1000.0))
        t, t_lo, t_hi = mean_ci(seconds)
        r, r_lo, r_hi = mean_ci(result.p_return.mean(axis=1))
        rows.append(dict(
            policy=name, users=world.n, days=days, time_spent_s=t, time_spent_s_lo=t_lo,
            time_spent_s_hi=t_hi, return_rate=r, return_rate_lo=r_lo, return_rate_hi=r_hi,
            active_last_day=float(result.active[:, -1].mean()),
            items_per_user=float(result.items_seen.mean()),
            time_vs_ref_s=d, time_vs_ref_s_lo=d_lo, time_vs_ref_s_hi=d_hi,
        ))
    return lift_shares(pd.DataFrame(rows, columns=list(DAYS_COLUMNS)))


def lift_shares(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``time_share`` and ``return_share``: per policy, ``(x - random) /
    (oracle - random)`` of time spent and of the return rate, the share of the ceiling's lift
    over the floor a policy keeps (1 = the oracle, 0 = random). NaN when either reference is
    missing or the two are equal. Policies that split the path from the oracle to the served
    feed (``oracle_pool``: retrieval's ceiling, ``ranker_pool``: the ranker alone, the
    champion) read as the value each stage keeps."""
    out = table.copy()
    ref = out.set_index("policy")
    for metric, share in (("time_spent_s", "time_share"), ("return_rate", "return_share")):
        if FLOOR in ref.index and CEILING in ref.index:
            lo, hi = float(ref.at[FLOOR, metric]), float(ref.at[CEILING, metric])
            out[share] = (out[metric] - lo) / (hi - lo) if hi != lo else np.nan
        else:
            out[share] = np.nan
    return out
