"""The export's per-user rerank in Spark: the cogrouped Arrow path foryou runs, against the same
rerank through cogrouped pandas frames (the path it replaced), and against one process looping
over the users with no Spark at all (the compute floor).

    python bench/rerank.py [--users 10000] [--max-candidates 250] [--dim 32] [--repeat 2]

1. Inputs shaped like the export's (set-up, not timed): per user 20 to ``--max-candidates``
   scored candidates (creator, source, relevance, one to three of 60 tags, a ``--dim``-float
   vector, 2% without one) and one per-user row (zero to 16 history vectors, twelve interest
   tags), written to Parquet, read back and cached; and the same in the shape the export
   passed before: the interests on every candidate row, one row per history vector.
2. Timed, ``--repeat`` alternating runs of each Spark path, the best kept, each ending in a
   ``noop`` write (the feed computed for every user, nothing stored):
   * **arrow**: :func:`foryou.rerank.feed.rerank` (``applyInArrow``, the per-user side; the
     library's path);
   * **pandas**: :func:`foryou.rerank.feed.rerank_user` per user through ``applyInPandas`` on
     the old shape, as the export ran it before (each group a pandas frame, list cells as numpy
     objects, the interests on every row).
3. The floor: :func:`foryou.rerank.feed.rerank_table` looped in this process over the first
   ``--loop-users`` users' Arrow tables, in ms per user, and projected to all users on the
   session's cores. What a Spark path spends above it is per-group overhead and the shuffle.

On a shared 2-CPU machine absolute times are noisy: compare the ratios of one run.
Writes bench/results/rerank.json.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from common import save, session  # noqa: E402
from foryou.config.rerank import RerankConfig  # noqa: E402
from foryou.rerank.feed import OUTPUT_SCHEMA, rerank, rerank_table, rerank_user, user_inputs  # noqa: E402

TAGS, INTERESTS, CREATORS, ITEMS = 60, 12, 3_000, 50_000


def _lists(flat: pa.Array, lengths: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    mask = None if valid is None else pa.array(~valid)
    return pa.ListArray.from_arrays(offsets, flat, mask=mask)


def inputs(users: int, max_candidates: int, dim: int, seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """(candidates, per-user side) Arrow tables with the export's columns
    (:data:`foryou.rerank.feed.CANDIDATE_COLUMNS`, :data:`foryou.rerank.feed.USER_COLUMNS`)."""
    rng = np.random.default_rng(seed)
    per_user = rng.integers(20, max_candidates + 1, users)
    n = int(per_user.sum())
    user_ids = np.repeat(np.array([f"u{u:07d}" for u in range(users)], dtype=object), per_user)
    n_tags = rng.integers(1, 4, n)
    tag_names = np.array([f"t{t}" for t in range(TAGS)], dtype=object)
    interests = np.stack([rng.choice(TAGS, INTERESTS, replace=False) for _ in range(users)])
    cands = pa.table({
        "user_id": pa.array(user_ids, pa.string()),
        "content_id": pa.array([f"v{i:07d}" for i in rng.integers(0, ITEMS, n)], pa.string()),
        "creator_id": pa.array([f"c{i:05d}" for i in rng.integers(0, CREATORS, n)], pa.string()),
        "source": pa.array(rng.choice(np.array(["interest", "ann", "covisit", "trending"], dtype=object), n),
                           pa.string()),
        "relevance": pa.array(rng.random(n)),
        "tags": _lists(pa.array(tag_names[rng.integers(0, TAGS, int(n_tags.sum()))], pa.string()), n_tags),
        "vector": _lists(pa.array(rng.normal(size=n * dim).astype(np.float32)), np.full(n, dim),
                         valid=rng.random(n) > 0.02),
    })
    per_history = rng.integers(0, 17, users)
    m = int(per_history.sum())
    vectors = _lists(pa.array(rng.normal(size=m * dim).astype(np.float32)), np.full(m, dim))
    side = pa.table({
        "user_id": pa.array([f"u{u:07d}" for u in range(users)], pa.string()),
        "history": _lists(vectors, per_history),
        "interests": _lists(pa.array(tag_names[interests.ravel()], pa.string()), np.full(users, INTERESTS)),
    })
    return cands, side


def old_shape(cands: pa.Table, side: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The inputs as the export passed them before: the user's interests on every candidate
    row, and (user_id, vector) rows, one per history vector."""
    row_of = pc.index_in(cands.column("user_id"), side.column("user_id"))
    with_interests = cands.append_column("interests", side.column("interests").take(row_of))
    lengths = pc.list_value_length(side.column("history")).fill_null(0).to_numpy(zero_copy_only=False)
    history = pa.table({"user_id": side.column("user_id").take(pa.array(np.repeat(np.arange(side.num_rows), lengths))),
                        "vector": pc.list_flatten(side.column("history"))})
    return with_interests, history


def pandas_rerank(cands, history, cfg: RerankConfig, seed: str):
    """The rerank as the export ran it before: :func:`rerank_user` on cogrouped pandas frames
    of the old shape (:func:`old_shape`)."""
    hist = history.select("user_id", F.col("vector").alias("history_vector"))

    def per_user(key, left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
        user = key[0]
        if left.empty:
            return pd.DataFrame(columns=OUTPUT_SCHEMA.fieldNames())
        out = rerank_user(left, right["history_vector"], left["interests"].iloc[0], cfg, f"{user}|{seed}")
        out.insert(0, "user_id", user)
        return out

    return (cands.groupBy("user_id").cogroup(hist.groupBy("user_id"))
            .applyInPandas(per_user, OUTPUT_SCHEMA))


def floor_ms_per_user(cands: pa.Table, side: pa.Table, cfg: RerankConfig, users: int) -> float:
    """One process, no Spark: :func:`rerank_table` over the first ``users`` users, ms each."""
    ids = pc.unique(cands.column("user_id"))[:users]
    groups = [(u.as_py(), cands.filter(pc.equal(cands.column("user_id"), u)),
               *user_inputs(side.filter(pc.equal(side.column("user_id"), u)))) for u in ids]
    start = time.perf_counter()
    for user, group, hist, interests in groups:
        rerank_table(user, group, hist, interests, cfg, f"{user}|bench")
    return (time.perf_counter() - start) / len(groups) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--max-candidates", type=int, default=250)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--loop-users", type=int, default=1_000)
    args = ap.parse_args()
    config, spark = session()
    cfg = config.rerank
    cores = spark.sparkContext.defaultParallelism
    cand_table, side_table = inputs(args.users, args.max_candidates, args.dim)
    old_cands, old_history = old_shape(cand_table, side_table)
    work = Path(tempfile.mkdtemp(prefix="bench-rerank-"))
    try:
        frames = {}
        for name, table in (("cands", cand_table), ("side", side_table), ("old_cands", old_cands),
                            ("old_history", old_history)):
            pq.write_table(table, work / f"{name}.parquet")
            frames[name] = spark.read.parquet(str(work / f"{name}.parquet")).cache()
            frames[name].count()
        # Each path on its own inputs: (candidates, per-user input) frames.
        paths = {"arrow": (lambda c, u: rerank(c, u, cfg, seed="bench"), frames["cands"], frames["side"]),
                 "pandas": (lambda c, h: pandas_rerank(c, h, cfg, seed="bench"), frames["old_cands"],
                            frames["old_history"])}
        few = F.col("user_id") < F.lit("u0000100")
        for build, c, u in paths.values():  # warm-up on 100 users: Python workers started, code imported
            build(c.where(few), u.where(few)).write.format("noop").mode("overwrite").save()
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.repeat):
            for name, (build, c, u) in paths.items():
                start = time.perf_counter()
                build(c, u).write.format("noop").mode("overwrite").save()
                times[name].append(round(time.perf_counter() - start, 3))
                print(f"{name}: {times[name][-1]:.2f} s", flush=True)
        floor = floor_ms_per_user(cand_table, side_table, cfg, args.loop_users)
        best = {name: min(t) for name, t in times.items()}
        projected = floor * args.users / cores / 1e3
        result = {
            "users": args.users, "candidate_rows": cand_table.num_rows, "history_rows": old_history.num_rows,
            "dim": args.dim, "cores": cores, "seconds": times, "best_s": best,
            "pandas_over_arrow": round(best["pandas"] / best["arrow"], 2),
            "floor_ms_per_user": round(floor, 3), "floor_projected_s": round(projected, 2),
            "arrow_over_floor": round(best["arrow"] / projected, 2),
            "pandas_over_floor": round(best["pandas"] / projected, 2),
        }
        print(f"{args.users} users, {cand_table.num_rows} candidates, {cores} cores: "
              f"arrow {best['arrow']:.2f} s, pandas {best['pandas']:.2f} s "
              f"({result['pandas_over_arrow']}x); one process {floor:.2f} ms/user = {projected:.2f} s "
              f"on {cores} cores (arrow {result['arrow_over_floor']}x of it, pandas "
              f"{result['pandas_over_floor']}x)")
        save("rerank", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
