"""What any in-session re-ranking can add to a perfect daily feed, from the world's truth alone.

    .venv/bin/python bench/session_ceiling.py [--size large] [--users 1000] [--seeds 3]
                                              [--length 50] [--depth 200]

A feed that reacts inside the session (issue 23: ``FeedReader.feed(user, n, session=...)``)
can only win what the session reveals and the day's state does not: the session's mood, its
taste per tag (a log-normal factor per tag in the world model) and what it has already tired
of (satiation). This bench measures that ceiling on the world model itself, with no pipeline,
no lake and no learned model, so it runs on any preset (the large world included) in minutes:

- **daily truth**: each user's ``--length`` items of highest true expected watch time as the
  day starts (a perfect daily ranker over the whole catalogue: the simulator's ``oracle``),
  served in that order;
- **+ session truth**: the same list re-ordered before every request by the true expected
  watch time for the session as it is then (``SESSION_TRUTH``): the best any in-session
  re-ranking of that list can do, the reader's model included;
- **deep + session truth**: the best ``--depth`` items re-ordered the same way: the ceiling
  when the reader may also draw from deeper in the pool than the exported list;
- **random** and **random + session truth**: the same re-ranking of a list with no daily
  knowledge, to show how much the session alone reveals when the daily order is poor.

Every policy is served to the same users with the same seed (common random numbers), at the
world's satiation (``--satiation``, default the world's), none and ``--strong`` times it. The
gain of each over ``daily truth`` is paired per user and seed, with a 95% confidence interval.
Issue 23's target is a reactive feed >= the static export + 15% time spent. Writes
``bench/results/session_ceiling.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import save  # noqa: E402
from foryou.simulator import SESSION_TRUTH, SimWorld, load_world, mean_ci, simulate_day  # noqa: E402
from foryou.simulator.policies import oracle_items  # noqa: E402
from foryou.world.params import SIZES, preset  # noqa: E402

BASE = "daily truth"


def random_items(world: SimWorld, length: int, seed: int) -> np.ndarray:
    """``(world.n, length)`` distinct random item indices per user (seeded)."""
    rng = np.random.default_rng([seed, 0xAD])
    return np.stack([rng.choice(world.catalogue.n_items, length, replace=False)
                     for _ in range(world.n)])


def serve(world: SimWorld, feeds: dict[str, tuple[np.ndarray, str | None]], seeds: int
          ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Per policy, ``(seeds, world.n)`` seconds watched in one simulated day, and the share of
    user-days that reached the end of their list (the list, not the user, ended the day)."""
    watched = {name: np.zeros((seeds, world.n)) for name in feeds}
    exhausted = {name: 0.0 for name in feeds}
    for s in range(seeds):
        for name, (items, reactive) in feeds.items():
            day = simulate_day(world, items, seed=s, reactive=reactive)
            watched[name][s] = day.watch_ms / 1000
            exhausted[name] += float(day.ran_out[day.has_feed].mean()) / seeds
    return watched, exhausted


def summarise(watched: dict[str, np.ndarray], exhausted: dict[str, float]
              ) -> dict[str, dict[str, float]]:
    """Mean seconds per user and day, the share of user-days that ran out of list, and the
    paired gain over :data:`BASE` (and over the static list for a re-ranked one) with a 95%
    interval over users and seeds."""
    base = watched[BASE].ravel()
    out = {}
    for name, values in watched.items():
        flat = values.ravel()
        gain, lo, hi = mean_ci(flat - base)
        row = {"time_spent_s": float(flat.mean()), "list_exhausted": exhausted[name],
               "gain_over_daily_truth": gain / base.mean(),
               "gain_lo": lo / base.mean(), "gain_hi": hi / base.mean()}
        static = name.replace(" + session truth", "")
        if static != name and static in watched:
            peer = watched[static].ravel()
            g, glo, ghi = mean_ci(flat - peer)
            row.update(gain_over_static=g / peer.mean(), static_lo=glo / peer.mean(),
                       static_hi=ghi / peer.mean())
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="large")
    parser.add_argument("--users", type=int, default=1000, help="simulated users")
    parser.add_argument("--seeds", type=int, default=3, help="simulated days per policy (paired)")
    parser.add_argument("--length", type=int, default=50, help="the exported list's length")
    parser.add_argument("--depth", type=int, default=200, help="the deep list's length")
    parser.add_argument("--satiation", type=float, default=None,
                        help="the world's satiation (default: the preset's)")
    parser.add_argument("--strong", type=float, default=4.0, help="strong satiation, x default")
    args = parser.parse_args(argv)

    cfg = preset(args.size)
    default = cfg.satiation if args.satiation is None else args.satiation
    t0 = time.perf_counter()
    world = load_world(cfg, None, n_users=args.users)
    print(f"{args.size} world: {world.n} users, {world.catalogue.n_items:,} items "
          f"(loaded in {time.perf_counter() - t0:.1f} s)")
    result: dict = {"size": args.size, "users": world.n, "items": world.catalogue.n_items,
                    "seeds": args.seeds, "length": args.length, "depth": args.depth,
                    "satiation": {}}
    for label, strength in (("none", 0.0), ("default", default), ("strong", default * args.strong)):
        w = world.with_satiation(strength)
        t = time.perf_counter()
        deep = oracle_items(w, args.depth)
        best = np.ascontiguousarray(deep[:, :args.length])
        rand = random_items(w, args.length, 0)
        feeds = {BASE: (best, None), f"{BASE} + session truth": (best, SESSION_TRUTH),
                 f"deep ({args.depth})": (deep, None),
                 f"deep ({args.depth}) + session truth": (deep, SESSION_TRUTH),
                 "random": (rand, None), "random + session truth": (rand, SESSION_TRUTH)}
        rows = summarise(*serve(w, feeds, args.seeds))
        result["satiation"][label] = {"strength": strength, "policies": rows,
                                      "seconds": time.perf_counter() - t}
        print(f"\nsatiation {label} ({strength:g}), {time.perf_counter() - t:.0f} s:")
        print(f"  {'policy':<32}{'time spent (s)':>15}{'list ran out':>13}{'vs daily truth':>26}"
              f"{'vs its static list':>26}")
        for name, row in rows.items():
            vs = (f"{row['gain_over_daily_truth']:+.1%} ({row['gain_lo']:+.1%}, {row['gain_hi']:+.1%})"
                  if name != BASE else "")
            st = (f"{row['gain_over_static']:+.1%} ({row['static_lo']:+.1%}, {row['static_hi']:+.1%})"
                  if "gain_over_static" in row else "")
            print(f"  {name:<32}{row['time_spent_s']:>15.1f}{row['list_exhausted']:>13.1%}{vs:>26}{st:>26}")
    save("session_ceiling", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
