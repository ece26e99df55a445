"""The feed export: contract, uniqueness, guards, atomic versions, faults."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F

from foryou.config.settings import ExportSettings
from foryou.export.build import build_export, user_side, write_export
from foryou.export.contract import CONTRACT_VERSION, EXPORT, ContractError, check_contract
from foryou.lake import Lake, table

DAY = dt.date(2024, 5, 5)
NOW = dt.datetime(2024, 5, 5, 3, 0, tzinfo=dt.timezone.utc)
USERS = [f"u{u}" for u in range(8)]
ITEMS = [f"i{i:02d}" for i in range(60)]


def _frame(spark, name, rows):
    spec = table(name)
    return spark.createDataFrame([tuple(r.get(f.name) for f in spec.schema) for r in rows], spec.schema)


def _creator(i: int) -> str:
    return f"c{i % 12}"


def _scored_pool(spark, users=USERS):
    rng = np.random.default_rng(5)
    rows = []
    for u in users:
        for i in rng.choice(len(ITEMS), 40, replace=False):
            rows.append((u, ITEMS[i], _creator(i), "ann" if i % 3 else "trending", float(rng.random()),
                         [f"t{i % 12}", f"t{(i + 1) % 12}"]))
    # A pool row duplicated by two sources must still be exported once.
    rows.append((users[0], rows[0][1], rows[0][2], "covisit", 0.99, rows[0][5]))
    return spark.createDataFrame(rows, "user_id string, content_id string, creator_id string, source string, "
                                       "relevance double, tags array<string>")


def _seed_lake(spark, lake: Lake):
    """Item vectors, one hidden and one reported item, a farmed item, a bot and a history."""
    rng = np.random.default_rng(9)
    lake.append("gold.item_embeddings", _frame(spark, "gold.item_embeddings", [
        {"content_id": c, "vector": [float(x) for x in rng.normal(size=4)], "kind": "collaborative",
         "model_version": "emb-1"} for c in ITEMS[:-5]]))  # the last 5 items have no vector
    ts = dt.datetime(2024, 5, 3, 12, 0)
    events = [{"event_id": "h", "event_type": "hide", "user_id": "u0", "content_id": "HIDDEN"},
              {"event_id": "r", "event_type": "report", "user_id": "u1", "content_id": "REPORTED"}]
    events += [{"event_id": f"b{k}", "event_type": "like", "user_id": f"bot{k}", "content_id": "FARMED"}
               for k in range(6)]
    for e in events:
        e.update(event_ts=ts, ingest_id="t", source="native", event_date=ts.date())
    lake.append("silver.events", _frame(spark, "silver.events", events))
    users = [{"user_id": f"bot{k}", "suspected_bot": True, "as_of_date": DAY} for k in range(6)]
    users += [{"user_id": "u2", "suspected_bot": False, "as_of_date": DAY,
               "recent_content_ids": ITEMS[:3], "interest_long": {"t0": 0.7, "t1": 0.3}}]
    lake.append("gold.user_features", _frame(spark, "gold.user_features", users))


def _guarded_pool(spark):
    extra = [("u0", "HIDDEN", "cx", "ann", 5.0, ["t9"]), ("u1", "REPORTED", "cy", "ann", 5.0, ["t9"]),
             ("u3", "FARMED", "cz", "trending", 5.0, ["t9"])]
    extra_df = spark.createDataFrame(extra, _scored_pool(spark, USERS[:1]).schema)
    return _scored_pool(spark).unionByName(extra_df)


def test_export_meets_contract_is_unique_guarded_and_versioned(spark, config):
    config = config.model_copy(update={"rerank": config.rerank.model_copy(update={"list_size": 25})})
    lake = Lake(spark, config)
    _seed_lake(spark, lake)
    built = build_export(lake, config.rerank, _guarded_pool(spark), DAY, "7", NOW)
    assert built.dropped["negative"] == 2 and built.dropped["farmed"] == 1
    first, counts = write_export(lake, built.frame, 25)
    assert counts == {"rows": first.rows, "users": len(USERS)}

    out = lake.read(EXPORT)
    check_contract(out, 25, now=NOW + dt.timedelta(hours=1))
    pdf = out.toPandas()
    assert set(pdf["user_id"]) == set(USERS)
    for user, g in pdf.groupby("user_id"):
        g = g.sort_values("rank")
        assert list(g["rank"]) == list(range(1, len(g) + 1)) and len(g) == 25
        assert g["content_id"].is_unique
        top = g.head(20)
        assert top["content_id"].map(lambda c: _creator(int(c[1:]))).value_counts().max() <= 2
    assert not set(pdf["content_id"]) & {"HIDDEN", "REPORTED", "FARMED"}
    assert set(pdf["model_version"]) == {"7"} and set(pdf["as_of_date"]) == {DAY}
    # Each row carries its item's creator and tags (contract 1.1: the reader's session re-ranking).
    items = ~pdf["content_id"].isin(["HIDDEN", "REPORTED", "FARMED"])
    assert (pdf.loc[items, "creator_id"] == pdf.loc[items, "content_id"].map(lambda c: _creator(int(c[1:])))).all()
    assert all(list(t) == [f"t{int(c[1:]) % 12}", f"t{(int(c[1:]) + 1) % 12}"]
               for c, t in zip(pdf.loc[items, "content_id"], pdf.loc[items, "tags"]))
    # Laid out for point lookups: files sorted by user_id, rank.
    assert list(pdf["user_id"]) == sorted(pdf["user_id"])

    # Next day: items exported yesterday are not repeated; a new version, the old one restorable.
    nxt = DAY + dt.timedelta(days=1)
    second, _ = write_export(lake, build_export(lake, config.rerank, _scored_pool(spark), nxt, "7", NOW,
                                                count_dropped=False).frame, 25)
    assert second.version == first.version + 1
    now_pdf = lake.read(EXPORT).toPandas()
    before = pdf.groupby("user_id")["content_id"].apply(set)
    after = now_pdf.groupby("user_id")["content_id"].apply(set)
    assert all(not (after[u] & before[u]) for u in after.index)
    assert lake.read(EXPORT, version=first.version).count() == len(pdf)

    # A run killed mid-write leaves the latest version as it was, and readable.
    broken = lake.read(EXPORT).withColumn(
        "score", F.when(F.col("rank") == 3, F.raise_error(F.lit("killed"))).otherwise(F.col("score"))
        .cast("double"))
    with pytest.raises(Exception, match="killed"):
        write_export(lake, broken, 25)
    assert lake.version(EXPORT) == second.version
    assert lake.read(EXPORT).count() == len(now_pdf)
    lake.restore(EXPORT, first.version)
    assert sorted(lake.read(EXPORT).toPandas()["content_id"]) == sorted(pdf["content_id"])


def test_contract_names_each_broken_clause(spark):
    good = [("u1", 1, "a", 0.5, "ann", "1", dt.datetime(2024, 5, 5), DAY),
            ("u1", 2, "b", 0.4, "ann", "1", dt.datetime(2024, 5, 5), DAY)]
    schema = table(EXPORT).schema

    def frame(rows):  # creator_id and tags (contract 1.1) are optional: null here
        return spark.createDataFrame([r + (None, None) for r in rows], schema)
    assert check_contract(frame(good)) == {"rows": 2, "users": 1}
    dup = good + [("u1", 3, "a", 0.3, "ann", "1", dt.datetime(2024, 5, 5), DAY)]
    with pytest.raises(ContractError, match="content_id listed twice"):
        check_contract(frame(dup))
    gap = [good[0], ("u1", 3, "b", 0.4, "ann", "1", dt.datetime(2024, 5, 5), DAY)]
    with pytest.raises(ContractError, match="not exactly 1..n"):
        check_contract(frame(gap))
    nulls = [good[0], ("u1", 2, None, 0.4, "ann", "2", dt.datetime(2024, 5, 5), DAY)]
    with pytest.raises(ContractError, match="null content_id.*2 model_version") as err:
        check_contract(frame(nulls))
    assert f"contract {CONTRACT_VERSION}" in str(err.value)
    with pytest.raises(ContractError, match="more than the list size 1"):
        check_contract(frame(good), list_size=1)
    with pytest.raises(ContractError, match="older than"):
        check_contract(frame(good), now=dt.datetime(2024, 5, 9))
    with pytest.raises(ContractError, match="'rank' has type string"):
        check_contract(frame(good).withColumn("rank", F.col("rank").cast("string")))


def test_empty_pool_and_missing_champion(spark, config):
    lake = Lake(spark, config)
    empty = _scored_pool(spark).limit(0)
    built = build_export(lake, config.rerank, empty, DAY, "7", NOW)
    write, counts = write_export(lake, built.frame, 50)
    assert counts == {"rows": 0, "users": 0} and lake.read(EXPORT).count() == 0

    from foryou.ranking.registry import ChampionMissing
    from foryou.ranking.scoring import champion
    with pytest.raises(ChampionMissing, match="foryou train-ranker"):
        champion(config)


def test_without_a_ranker_the_pool_order_is_the_relevance(spark):
    """No champion (too few days of examples to train one): the pool's own order ranks."""
    from foryou.ranking.scoring import POOL_ORDER, pool_order

    pool = spark.createDataFrame([("u0", "a", 3), ("u0", "b", 1), ("u0", "c", 2)],
                                 "user_id string, content_id string, pool_rank int")
    rows = pool_order(pool).orderBy(F.col("relevance").desc()).collect()
    assert [r.content_id for r in rows] == ["b", "c", "a"] and rows[0].relevance == 0.0
    assert {r.model_version for r in rows} == {POOL_ORDER}


def test_user_rank_relevance_weighs_each_heads_percentile_among_the_users_candidates(spark):
    """rerank.score_scale = user_rank: a head moves the order by its weight, whatever its spread."""
    from foryou.ranking.scoring import head_columns, user_rank_relevance

    rows = [("u0", "a", 0.90, 0.10, 0.0), ("u0", "b", 0.91, 0.50, 0.0), ("u0", "c", 0.92, 0.30, 1.0),
            ("u1", "a", 0.10, 0.90, 0.0), ("u1", "b", 0.20, 0.80, 0.0)]
    scored = spark.createDataFrame(rows, "user_id string, content_id string, p_complete double, "
                                         "pred_watch double, fatigue double")
    weights = {"watch": 0.4, "complete": 0.2, "replay": 0.15, "fatigue": -0.1, "skip": 0.0}
    assert head_columns(weights, scored.columns) == {"watch": "pred_watch", "complete": "p_complete",
                                                     "fatigue": "fatigue"}
    got = {(r.user_id, r.content_id): r.relevance for r in user_rank_relevance(scored, weights).collect()}
    # u0: watch ranks a < c < b (0, .5, 1), completion a < b < c, fatigue a = b < c.
    assert got[("u0", "a")] == pytest.approx(0.0)
    assert got[("u0", "b")] == pytest.approx(0.4 * 1.0 + 0.2 * 0.5)
    assert got[("u0", "c")] == pytest.approx(0.4 * 0.5 + 0.2 * 1.0 - 0.1 * 1.0)
    # The tiny completion spread of u0 counts as much as u1's, which is scaled alike.
    assert got[("u1", "a")] == pytest.approx(0.4 * 1.0) and got[("u1", "b")] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="no head"):
        user_rank_relevance(scored.select("user_id", "content_id"), weights)


def test_pool_gets_the_training_example_features(spark, config):
    """Scoring reuses the feature store's point-in-time join: one example row per pool pair."""
    from foryou.ranking.scoring import scoring_frame

    lake = Lake(spark, config)
    pool = _scored_pool(spark, USERS[:2]).dropDuplicates(["user_id", "content_id"])
    frame = scoring_frame(lake, ExportSettings.of(config), pool, DAY)
    assert frame.columns == table("gold.training_examples").schema.fieldNames() + ["fatigue"]
    rows = frame.select("user_id", "content_id", "event_date", "split").collect()
    assert len(rows) == pool.count()
    assert {r.event_date for r in rows} == {DAY}


def test_the_pool_is_scored_at_the_users_usual_hour_with_its_fatigue(spark, config):
    """Served context, not midnight: the examples' hour is each user's circular mean session
    start, and a candidate's fatigue is the user's recent exposure to its creator and tags."""
    import math

    from foryou.ranking.scoring import scoring_frame

    lake = Lake(spark, config)
    day = DAY - dt.timedelta(days=1)
    at = lambda h, m=0: dt.datetime.combine(day, dt.time(h, m))  # noqa: E731
    sessions = [("u0", at(23), day), ("u0", at(1), day),        # around midnight: 0:00
                ("u1", at(20), day), ("u1", at(21), day)]       # 20:30
    lake.append("silver.sessions", _frame(spark, "silver.sessions", [
        {"session_id": f"s{k}", "user_id": u, "session_start": t, "session_end": t, "session_date": d}
        for k, (u, t, d) in enumerate(sessions)]))
    # u0 saw 4 items yesterday: 3 by creator c1 (tag t1 on all 3), 1 by c2 (tag t2).
    seen = [("i01", "c1"), ("i02", "c1"), ("i03", "c1"), ("i04", "c2")]
    lake.append("silver.impressions", _frame(spark, "silver.impressions", [
        {"request_id": f"r{k}", "position": k, "user_id": "u0", "content_id": c, "creator_id": cr,
         "event_ts": at(12, k), "event_date": day} for k, (c, cr) in enumerate(seen)]))
    # i04 carries a null tag, which counts for no tag.
    tags = {"i01": ["t1"], "i02": ["t1"], "i03": ["t1"], "i04": ["t2", None], "i10": ["t1"], "i11": ["t2", "t9", "t1"],
            "i12": ["t9"]}
    creators = {"i01": "c1", "i02": "c1", "i03": "c1", "i04": "c2", "i10": "c1", "i11": "c3", "i12": "c9"}
    lake.append("gold.item_features", _frame(spark, "gold.item_features", [
        {"content_id": c, "creator_id": creators[c], "tags": t, "as_of_date": DAY} for c, t in tags.items()]))
    pool = spark.createDataFrame([(u, c, creators[c]) for u in ("u0", "u1", "u2") for c in ("i10", "i11", "i12")],
                                 "user_id string, content_id string, creator_id string")
    frame = scoring_frame(lake, ExportSettings.of(config), pool, DAY)
    rows = {(r["user_id"], r["content_id"]): r for r in frame.collect()}
    assert len(rows) == 9

    def hour(r) -> float:
        return (math.atan2(r["hour_sin"], r["hour_cos"]) * 24 / (2 * math.pi)) % 24

    assert hour(rows[("u1", "i10")]) == pytest.approx(20.5, abs=0.02)
    assert min(hour(rows[("u0", "i10")]), 24 - hour(rows[("u0", "i10")])) < 0.02
    assert hour(rows[("u2", "i10")]) == 0.0                      # no sessions: midnight
    # i10: creator c1 (3 of 4) + tag t1 (3 of 4); i11: its most seen tag, t1 (3 of 4; t2 1 of
    # 4, t9 never); i12: nothing seen.
    assert rows[("u0", "i10")]["fatigue"] == pytest.approx(1.5)
    assert rows[("u0", "i11")]["fatigue"] == pytest.approx(0.75)
    assert rows[("u0", "i12")]["fatigue"] == 0.0
    assert rows[("u1", "i10")]["fatigue"] == 0.0                 # u1 saw nothing


def test_the_rerank_user_side_is_one_row_per_user_with_history_in_order_and_interests(spark):
    """One row per user: the vectors of the recent items that have one, in the recent list's
    order (the rest skipped), and the long-term interests strongest first; a user with no
    vector gets a null history, one with no interests an empty list."""
    features = spark.createDataFrame(
        [("u1", ["i3", "i9", "i1"], {"a": 0.2, "b": 0.9, "c": 0.5}), ("u2", ["i9"], {"a": 1.0}),
         ("u3", [], None)],
        "user_id string, recent_content_ids array<string>, interest_long map<string,double>")
    vectors = spark.createDataFrame([("i1", [1.0, 0.0]), ("i3", [0.0, 3.0])],
                                    "content_id string, vector array<float>")
    rows = {r["user_id"]: r for r in user_side(features, vectors).collect()}
    assert set(rows) == {"u1", "u2", "u3"}
    assert rows["u1"]["history"] == [[0.0, 3.0], [1.0, 0.0]]   # i3 then i1; i9 has no vector
    assert rows["u1"]["interests"] == ["b", "c", "a"]
    assert rows["u2"]["history"] is None and rows["u2"]["interests"] == ["a"]
    assert rows["u3"]["history"] is None and rows["u3"]["interests"] == []
