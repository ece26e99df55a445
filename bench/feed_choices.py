"""What each scoring and guardrail choice keeps of a perfect feed, on a pipeline's lake.

    .venv/bin/python bench/feed_choices.py [--size small] [--users 400] [--seed 1] [--set k=v ...]

Run after ``make demo`` (or ``make demo SIZE=large``): it reads that lake (the same
``--size``/``--set`` as the demo) and the world's truth, and serves the world's own user model
(the feed simulator) the feeds the export would build for ``--users`` simulated users under
other choices, all on the same users with common random numbers:

- **relevance**: the champion's feed score (the product formula: its heads' probabilities
  times ``ranking.score_weights``), the same weights on each head's percentile among the
  user's candidates (``rerank.score_scale: user_rank``), predicted watch time alone, and the
  world's true expected watch time (a perfect ranker: what the rerank and its guardrails
  leave of ``oracle_pool``);
- **guardrails**: each ordered by the ranker alone (``pool``), through the export's rerank
  as configured (``served``), and through it without the creator, tag and top-interest caps
  and the novelty share (``no guardrails``); for the champion's score and the perfect
  ranker, each guardrail off alone too.

Per feed: time spent and next-day return, and the share of the oracle's lift over random
each keeps (1 = the oracle, 0 = random), beside ``oracle_pool`` (the pool's true best: what
retrieval leaves). Issue 21's target is a served feed keeping >= 0.5 of the time lift and
>= 0.9 of the return lift. Writes ``bench/results/feed_choices.json``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from common import add_overrides, save  # noqa: E402
from foryou.config.settings import EvaluationSettings  # noqa: E402
from foryou.demo import parse_demo  # noqa: E402
from foryou.export.build import reference_feeds  # noqa: E402
from foryou.export.contract import EXPORT  # noqa: E402
from foryou.lake import Lake  # noqa: E402
from foryou.lake.vocabulary import CONTENT_ID, GOLD_CANDIDATE_POOL, USER_ID  # noqa: E402
from foryou.privacy.pseudonyms import load_key  # noqa: E402
from foryou.ranking.pyfunc import WATCH_COLUMN  # noqa: E402
from foryou.ranking.scoring import (FATIGUE, SCORE_COLUMNS, champion, model_weights,  # noqa: E402
                                    score_frame, scoring_frame, user_rank_relevance)
from foryou.simulator import (load_world, oracle_policy, oracle_pool_policy,  # noqa: E402
                              random_policy, simulate_policies)
from foryou.simulator.policies import true_relevance  # noqa: E402
from foryou.spark import get_spark  # noqa: E402

GUARDRAILS = {
    "no creator cap": {"guards": {"max_per_creator": 10_000}},
    "no tag cap": {"guards": {"max_per_tag": 10_000}},
    "no top-interest share": {"guards": {"max_top_interest_share": 1.0}},
    "no novelty share": {"novelty_share": 0.0},
}
# The world's true expected watch as the relevance: what the rerank leaves a perfect ranker.
PERFECT = "true watch (perfect ranker)"
NO_GUARDRAILS = {"guards": {"max_per_creator": 10_000, "max_per_tag": 10_000,
                            "max_top_interest_share": 1.0}, "novelty_share": 0.0}


def relevances(scored: DataFrame, weights: dict[str, float]) -> dict[str, DataFrame]:
    """``user_id, content_id, relevance`` per relevance choice, from the scored pool."""
    score = next(c for c in SCORE_COLUMNS if c in scored.columns)
    return {
        "feed score": scored.select(USER_ID, CONTENT_ID, F.col(score).alias("relevance")),
        "per-user percentiles": user_rank_relevance(scored, weights),
        "watch time alone": scored.select(USER_ID, CONTENT_ID, F.col(WATCH_COLUMN).alias("relevance")),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", help="the demo's --size (its world and landing folder)")
    parser.add_argument("--users", type=int, default=400, help="simulated users")
    parser.add_argument("--seed", type=int, default=1)
    add_overrides(parser, "a config override, as given to the demo (repeatable)")
    args = parser.parse_args(argv)
    demo = ["--size", args.size, *[a for s in args.overrides for a in ("--set", s)]]
    config = parse_demo(demo, "feed choices").config
    settings = EvaluationSettings.of(config)
    lake = Lake(get_spark(config), config)
    truth = Path(config.ingest.path) / "truth"
    if not truth.is_dir() or not lake.exists(EXPORT):
        raise SystemExit(f"no world truth at {truth} or no {EXPORT}: run `make demo SIZE={args.size}` first")
    started = time.perf_counter()
    world = load_world(config.world, truth, n_users=args.users, seed=args.seed,
                       pseudonym_key=load_key(config.privacy, lake.spark).value)
    users = lake.spark.createDataFrame([(str(u),) for u in world.pseudonyms], f"{USER_ID} string")
    # bounded: one row
    as_of = lake.read(EXPORT).agg(F.max("as_of_date")).first()[0]
    model = champion(settings.export)
    pool = lake.read(GOLD_CANDIDATE_POOL, partitions=[as_of]).join(F.broadcast(users), USER_ID, "left_semi")
    scored = score_frame(scoring_frame(lake, settings.export, pool, as_of), model.uri,
                         keep=[USER_ID, CONTENT_ID, FATIGUE]).cache()
    feeds: dict[str, pd.DataFrame] = {}
    guarded = None
    try:
        # bounded: the simulated users' pool pairs (--users)
        truth_rel = true_relevance(world, pool.select(USER_ID, CONTENT_ID).toPandas())
        choices = {**relevances(scored, model_weights(model.uri)),
                   PERFECT: lake.spark.createDataFrame(
                       truth_rel, f"{USER_ID} string, {CONTENT_ID} string, relevance double")}
        for name, rel in choices.items():
            variants = {"served": {}, "no guardrails": NO_GUARDRAILS,
                        **(GUARDRAILS if name in ("feed score", PERFECT) else {})}
            refs = reference_feeds(lake, settings.export, users, as_of, ablations=variants, pool=pool,
                                   relevance=rel)
            guarded = refs.pool if guarded is None else guarded
            feeds[f"{name} | pool"] = refs.ranker_pool
            feeds.update({f"{name} | {variant}": lists for variant, lists in refs.ablations.items()})
    finally:
        scored.unpersist()
    length = settings.rerank.list_size
    policies = {"oracle": oracle_policy(world, length),
                "oracle_pool": oracle_pool_policy(world, guarded, length),
                **feeds, "random": random_policy(world, length, args.seed)}
    table = simulate_policies(config.world, truth, policies, seed=args.seed, world=world)
    table = table[["policy", "time_spent_s", "return_rate", "time_share", "return_share"]]
    print(f"\n{len(world.pseudonyms)} simulated users, export of {as_of}, champion version {model.version} "
          f"({time.perf_counter() - started:.0f} s); shares of the oracle's lift over random:")
    with pd.option_context("display.width", 200, "display.max_rows", 100):
        print(table.round(3).to_string(index=False))
    save("feed_choices", {"size": args.size, "users": len(world.pseudonyms), "seed": args.seed,
                          "as_of": as_of, "model_version": model.version,
                          "policies": table.to_dict("records")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
