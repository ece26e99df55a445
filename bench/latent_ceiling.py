"""How far the feature store's estimates of the world's latent factors are from the truth.

    python bench/latent_ceiling.py [--size large] [--lake LAKE --raw RAW --run-date TEST_DAY]

By default it reads the lake and landing folder of ``make demo SIZE=large`` and tests on the
world's last day; without them it says so and exits (``make bench`` runs every bench).

``bench/oracle_ceiling.py`` says a ranker that knew every latent factor (the user's tag
interest, the item's quality, the user's propensity) could keep 0.96 of the oracle's AUC
lift. The feature store only *estimates* them from the logs, and a lake holds a finite
number of impressions per user and per item. This bench asks what the estimates cost: it
trains the same simple learners on the examples of the day before ``--run-date`` and scores
that day, once with the examples' features alone and once with each latent factor of the
generator's truth added as an input:

- ``interest``: the affinity the generator computes, from the user's long-term interest
  (the one daily interests revert to; today's is not in the truth) over the item's tags;
- ``quality``: the item's latent quality;
- ``propensity``: the user's latent propensity.

Learners: logistic regression (the quality bench's baseline, on the ranker's normalised
dense features) and gradient-boosted trees (``HistGradientBoostingClassifier``), so a gap
that the trees close is the logistic's linearity, not the features. Figures are AUC and
the share of the oracle's lift ``(AUC - 0.5) / (AUC_oracle - 0.5)`` on the same rows.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402

from common import add_overrides, save, session  # noqa: E402
from foryou.config import load_config  # noqa: E402
from foryou.features import columns as C  # noqa: E402
from foryou.lake import Lake  # noqa: E402
from foryou.privacy.pseudonyms import load_key, pseudonymise  # noqa: E402
from foryou.ranking import quality as Q  # noqa: E402
from foryou.ranking.baselines import Oracle, dense_matrix  # noqa: E402
from foryou.ranking.metrics import auc  # noqa: E402
from foryou.ranking.spec import FeatureSpec  # noqa: E402
from foryou.world import preset  # noqa: E402
from foryou.world.model import tag_affinity  # noqa: E402

TASKS = ("click", "long_view")
FACTORS = ("interest", "quality", "propensity")


def _truth(raw: Path, lake, key: bytes) -> tuple[dict, dict, dict, dict, int]:
    """Per pseudonymised user: long-term interest and propensity; per item: quality and its
    tags as interest indices; and the number of tags."""
    tags = ds.dataset(str(raw / "truth" / "tags")).to_table().to_pandas()
    index = dict(zip(tags["tag_id"], tags["index"]))
    users = ds.dataset(str(raw / "truth" / "users")).to_table(
        columns=["user_id", "interest", "propensity"]).to_pandas()
    ids = [pseudonymise(u, key) for u in users["user_id"]]
    interest = {u: np.asarray(i, float) for u, i in zip(ids, users["interest"])}
    propensity = dict(zip(ids, users["propensity"]))
    items = ds.dataset(str(raw / "truth" / "items")).to_table(columns=["content_id", "quality"]).to_pandas()
    quality = dict(zip(items["content_id"], items["quality"]))
    content = ds.dataset(lake.snapshot("silver.content").uris).to_table(
        columns=[C.CONTENT_ID, C.TAGS]).to_pandas()
    item_tags = {c: [index[t] for t in (ts if ts is not None else []) if t in index]
                 for c, ts in zip(content[C.CONTENT_ID], content[C.TAGS])}
    return interest, propensity, quality, item_tags, len(tags)


def with_latents(frame: pd.DataFrame, truth) -> pd.DataFrame:
    """``frame`` with the generator's latent factors of each row's user and item (0 for a
    user or item the truth does not know, or an item without tags)."""
    interest, propensity, quality, item_tags, n_tags = truth
    users = list(interest)
    row_of = {u: i for i, u in enumerate(users)}
    vectors = np.stack([interest[u] for u in users])
    user_rows = frame[C.USER_ID].map(row_of)
    tags = [item_tags.get(i) or [] for i in frame[C.CONTENT_ID]]
    padded = np.full((len(frame), max(map(len, tags), default=0) or 1), -1, np.int64)
    for r, t in enumerate(tags):
        padded[r, :len(t)] = t
    valid = padded >= 0
    known = user_rows.notna().to_numpy() & valid.any(axis=1)
    rows = user_rows.fillna(0).to_numpy(np.int64)
    # The generator's affinity with the session's tag mood at its mean (1).
    weight = vectors[rows[:, None], np.where(valid, padded, 0)]
    out = frame.copy()
    out["interest"] = np.where(known, tag_affinity(weight, valid, n_tags), 0.0)
    out["quality"] = frame[C.CONTENT_ID].map(quality).fillna(0.0).to_numpy(float)
    out["propensity"] = frame[C.USER_ID].map(propensity).fillna(0.0).to_numpy(float)
    return out


def _inputs(frame: pd.DataFrame, spec: FeatureSpec, extra: list[str]) -> np.ndarray:
    x = dense_matrix(frame, spec)
    return np.column_stack([x, frame[extra].to_numpy(float)]) if extra else x


def _fit_score(learner: str, train: pd.DataFrame, test: pd.DataFrame, spec: FeatureSpec,
               extra: list[str], task: str) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x_train, x_test = _inputs(train, spec, extra), _inputs(test, spec, extra)
    y = (train[task].to_numpy(float) > 0).astype(int)
    if learner == "logistic":
        scale = StandardScaler().fit(x_train)
        model = LogisticRegression(max_iter=500).fit(scale.transform(x_train), y)
        p = model.predict_proba(scale.transform(x_test))[:, 1]
    else:
        model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.08, max_leaf_nodes=63,
                                               early_stopping=True, validation_fraction=0.15,
                                               random_state=0).fit(x_train, y)
        p = model.predict_proba(x_test)[:, 1]
    return auc((test[task].to_numpy(float) > 0).astype(float), p)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", help="the demo world whose lake to read")
    parser.add_argument("--lake", type=Path, help="a pipeline's lake root (default: the demo's)")
    parser.add_argument("--raw", type=Path,
                        help="the world's landing folder with truth/ (default: the demo's)")
    parser.add_argument("--run-date", type=dt.date.fromisoformat,
                        help="the test day (default: the world's last); the learners train on "
                             "the day before")
    parser.add_argument("--rows", type=int, default=400_000, help="rows per day (whole users)")
    parser.add_argument("--conf", action="append", default=[])
    add_overrides(parser)
    args = parser.parse_args(argv)
    root = args.lake or Path(load_config(args.conf, args.overrides).lake.root).resolve()
    config, spark = session(extra=[*args.overrides, f"lake.root={root}"])
    lake = Lake(spark, config)
    raw = args.raw or root.parent / "landing" / args.size
    run_date = args.run_date or preset(args.size).end_date
    if not lake.exists(C.EXAMPLES) or not (raw / "truth").is_dir():
        print(f"latent_ceiling: no examples in {root} or no truth under {raw}: run "
              f"`make demo SIZE={args.size}` first, or pass --lake and --raw; skipped")
        return 0
    key = load_key(config.privacy, environ=None).value

    train_day = run_date - dt.timedelta(days=1)
    files = {d: lake.snapshot(C.EXAMPLES, partitions=[d]).uris for d in (train_day, run_date)}
    spec = FeatureSpec.from_files(files[train_day], config.ranking)
    columns = [C.REQUEST_ID, C.POSITION, C.USER_ID, C.CONTENT_ID, *TASKS,
               *[f.name for f in spec.dense]]
    truth = _truth(raw, lake, key)
    train = with_latents(Q.user_sample(files[train_day], args.rows, columns), truth)
    test = with_latents(Q.user_sample(files[run_date], args.rows, columns), truth)
    oracle = Oracle(raw / "truth" / "impressions", list(TASKS))(test)
    known = oracle.notna().all(axis=1).to_numpy()
    if not known.any():
        raise SystemExit(f"latent_ceiling: no example of {run_date} has a truth row in {raw}: "
                         "the lake and the landing folder are of different worlds")
    test, oracle = test[known], oracle[known]
    oracle_auc = {t: auc((test[t].to_numpy(float) > 0).astype(float), oracle[f"p_{t}"].to_numpy(float))
                  for t in TASKS}
    print(f"train {train_day}: {len(train):,} rows; test {run_date}: {len(test):,} rows; "
          f"oracle AUC " + ", ".join(f"{t} {a:.4f}" for t, a in oracle_auc.items()))

    rows = []
    inputs = {"features": [], **{f"features + true {f}": [f] for f in FACTORS},
              "features + all three": list(FACTORS)}
    for learner in ("logistic", "boosted"):
        for name, extra in inputs.items():
            row = {"learner": learner, "inputs": name}
            for task in TASKS:
                a = _fit_score(learner, train, test, spec, extra, task)
                row[f"auc_{task}"] = round(a, 4)
                row[f"normalised_{task}"] = round((a - 0.5) / (oracle_auc[task] - 0.5), 3)
            rows.append(row)
            print(f"{learner:9s} {name:28s} " + "  ".join(
                f"{t} AUC {row[f'auc_{t}']:.4f} ({row[f'normalised_{t}']:.3f} of the lift)" for t in TASKS),
                flush=True)
    save("latent_ceiling", {"run_date": str(run_date), "train_rows": len(train),
                            "test_rows": len(test), "oracle_auc": oracle_auc, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
