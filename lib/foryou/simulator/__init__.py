"""The feed simulator: the synthetic world's user model as an environment for feed policies.

Modules:
    environment  the world's users and items (``load_world``), a policy's feed as item indices
                 (``feed_matrix``), one simulated day with next-day return (``simulate_day``)
                 and several days in a row, returns gating each next day (``simulate_days``);
                 a feed can be re-ranked within each session as the reader does
                 (``reactive``), or by the session's truth (``SESSION_TRUTH``, the ceiling).
    policies     reference feeds: random, popularity only, the true-best ("oracle") and the
                 true-best within a candidate pool ("oracle_pool").
    compare      ``simulate_policies``: time spent and return rate per policy, with 95% CIs, and
                 the share of the oracle's lift over random each keeps (``lift_shares``).

Pure numpy and pandas (no Spark). Example::

    world = load_world(cfg, "raw/truth", n_users=200)
    report = simulate_policies(cfg, "raw/truth", {"champion": feed, "oracle": oracle_policy(world),
                                                  "random": random_policy(world)}, world=world)
"""
from __future__ import annotations

from foryou.simulator.compare import (DAYS_COLUMNS, REPORT_COLUMNS, lift_shares, mean_ci,
                                     simulate_policies, simulate_policies_over_days)
from foryou.simulator.environment import (SESSION_TRUTH, DailyPolicy, SimWorld, feed_matrix,
                                          load_world, simulate_day, simulate_days)
from foryou.simulator.policies import (daily_oracle, daily_random, daily_static, oracle_policy,
                                      oracle_pool_policy, popularity_policy, random_policy)

__all__ = [
    "DAYS_COLUMNS", "DailyPolicy", "REPORT_COLUMNS", "SESSION_TRUTH", "SimWorld", "daily_oracle", "daily_random",
    "daily_static", "feed_matrix", "lift_shares", "load_world", "mean_ci", "oracle_policy",
    "oracle_pool_policy", "popularity_policy", "random_policy", "simulate_day", "simulate_days",
    "simulate_policies", "simulate_policies_over_days",
]
