"""The hold-out protocol on a log whose structure is known, with its ceiling.

    .venv/bin/python bench/offline.py [--interactions 50000] [--test-days 7] [--k 10]

Generates a latent-cluster interaction log (``foryou.world.interaction_log``), runs
``foryou benchmark`` on it (split by time, every stage on the past, the feed beside
popularity, SAR-style co-occurrence and ALS alone, train-seen items excluded everywhere), and
adds the row no recommender can beat on this log: ``oracle``, each user's unseen items ranked
by the true probability the generator drew them with (popularity × in-cluster boost). The
oracle is scored with the same metric definitions (``ranking_metrics_pd``) on the users that
have train and held-out interactions. Writes ``bench/results/offline.json``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from foryou.evaluation.retrieval import ranking_metrics_pd  # noqa: E402
from foryou.world.interaction_log import InteractionLog, LogShape, generate_log  # noqa: E402

BIN = Path(sys.executable).parent


def oracle(log: InteractionLog, shape: LogShape, start: float, end: float, k: int) -> dict[str, float]:
    """The true-preference ranking's metrics on the held-out part of ``log``: each user's
    unseen items by the weight the generator drew them with."""
    items = sorted(log.popularity)
    seen, held = defaultdict(set), defaultdict(set)
    for user, item, _, ts in log.rows:
        if ts < start:
            seen[user].add(item)
        elif ts < end:
            held[user].add(item)
    lists = {}
    for user in held:
        if not seen[user]:
            continue
        truth = {i: log.popularity[i] * (shape.in_cluster_boost if log.item_cluster[i] == log.user_cluster[user]
                                         else 1.0) for i in items if i not in seen[user]}
        lists[user] = sorted(truth, key=lambda i: (-truth[i], i))[:k]
    return ranking_metrics_pd(lists, {u: held[u] for u in lists}, k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interactions", type=int, default=50_000)
    parser.add_argument("--test-days", type=int, default=7)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--root", default="/tmp/offline-bench")
    args = parser.parse_args()
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    shape = LogShape.sized(args.interactions, recent_days=60, seed=2)
    users = shape.users
    log = generate_log(shape)
    path = log.write_csv(root / "ratings.csv", names=("userId", "movieId", "rating", "timestamp"))
    start = log.last_day() - dt.timedelta(days=args.test_days - 1)
    subprocess.run([str(BIN / "foryou"), "benchmark", "--run-date", str(start), "--path", str(path),
                    "--columns", "user=userId,item=movieId,ts=timestamp,weight=rating", "--ts-unit", "s",
                    "--test-days", str(args.test_days), "--k", str(args.k),
                    "--set", f"lake.root={root / 'lake'}", "--set", "spark.log_level=ERROR"],
                   check=True, stdout=subprocess.DEVNULL)
    [csv] = (root / "lake" / "_benchmark" / str(start)).glob("holdout-*.csv")
    table = pd.read_csv(csv)
    t0 = dt.datetime.combine(start, dt.time(), dt.timezone.utc).timestamp()
    best = oracle(log, shape, t0, t0 + args.test_days * 86400, args.k)
    k = args.k
    table = pd.concat([table, pd.DataFrame([{"list": "oracle", **{f"{m}@{k}": best[m] for m in
                                                                  ("ndcg", "precision", "recall", "map")},
                                             "users": best["users"]}])], ignore_index=True)
    print(f"log: {len(log.rows):,} interactions, {users:,} users, {shape.items:,} items, "
          f"{shape.clusters} taste clusters; hold-out from {start}, {args.test_days} days")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    feed, co = (table.set_index("list").loc[n, f"ndcg@{k}"] for n in ("feed", "cooccurrence"))
    print(f"feed nDCG@{k} / co-occurrence: {feed / co:.2f}x; share of the oracle: "
          f"{feed / best['ndcg']:.2f}")
    save("offline", {"interactions": len(log.rows), "users": users, "k": k,
                     "table": table.to_dict(orient="records")})


if __name__ == "__main__":
    main()
