"""The serving reader: lookups, the trending fallback for unknown users, reload on a new
version, all without Spark on the read side (the test writes the export through the lake)."""
from __future__ import annotations

import datetime as dt

import pytest

from foryou.lake import Lake, table
from foryou.privacy.pseudonyms import pseudonymise
from foryou.serving import FALLBACK_SOURCE, FeedReader, FeedReaderError

EXPORT = "gold.user_candidates"
AT = dt.datetime(2024, 5, 5, 6, 0)


def write_export(lake: Lake, lists: dict[str, list[str]], version: str = "ranker-1") -> None:
    """Overwrite the export with one ranked list per user (score falls with rank)."""
    rows = [{"user_id": user, "rank": r, "content_id": item, "score": 1.0 / r, "source": "ann",
             "model_version": version, "generated_at": AT}
            for user, items in lists.items() for r, item in enumerate(items, start=1)]
    lake.overwrite(EXPORT, lake.spark.createDataFrame(rows, table(EXPORT).schema))


@pytest.fixture
def lake(spark, config):
    lake = Lake(spark, config)
    # "x" is in every list, "y" in two: the fallback's first two items.
    write_export(lake, {"alice": ["a1", "x", "y"], "bob": ["x", "b1", "y"], "carol": ["c1", "c2", "x"]})
    return lake


def test_lookup_returns_the_users_list_in_rank_order(lake, config):
    reader = FeedReader(config.lake.root)
    feed = reader.feed("bob")
    assert [r["content_id"] for r in feed] == ["x", "b1", "y"]
    assert [r["rank"] for r in feed] == [1, 2, 3]
    assert feed[0] == {"user_id": "bob", "rank": 1, "content_id": "x", "score": 1.0, "source": "ann",
                       "model_version": "ranker-1", "generated_at": feed[0]["generated_at"]}
    assert feed[0]["generated_at"].replace(tzinfo=None) == AT
    assert [r["content_id"] for r in reader.feed("alice", n=2)] == ["a1", "x"]
    assert reader.users == 3 and reader.is_known("carol") and not reader.is_known("dave")
    # The table URI itself works as well as the lake root.
    assert FeedReader(lake.location(EXPORT)).feed("carol", n=1)[0]["content_id"] == "c1"


def test_unknown_user_gets_the_trending_fallback(lake, config):
    reader = FeedReader(config.lake.root)
    feed = reader.feed("newcomer")
    assert [r["content_id"] for r in feed][:2] == ["x", "y"]
    assert len(feed) == 3  # the median list length
    assert {r["source"] for r in feed} == {FALLBACK_SOURCE}
    assert [r["rank"] for r in feed] == [1, 2, 3]
    assert feed[0]["score"] == pytest.approx(1.0)  # in every user's list
    assert len(reader.feed("newcomer", n=1)) == 1


def test_reader_reloads_when_a_new_version_lands(lake, config):
    polling = FeedReader(config.lake.root, refresh_interval_s=0)
    manual = FeedReader(config.lake.root, refresh_interval_s=None)
    first = polling.version
    write_export(lake, {"alice": ["n1", "n2"], "dave": ["d1"]}, version="ranker-2")
    feed = polling.feed("alice")
    assert [r["content_id"] for r in feed] == ["n1", "n2"] and feed[0]["model_version"] == "ranker-2"
    assert polling.version > first
    assert polling.feed("bob")[0]["source"] == FALLBACK_SOURCE  # bob left the export
    # Without polling the old version is served until refresh() sees the new one.
    assert manual.feed("alice")[0]["content_id"] == "a1"
    assert manual.refresh() is True and manual.refresh() is False
    assert manual.feed("dave")[0]["content_id"] == "d1"


def test_raw_user_id_is_pseudonymised(spark, config):
    key = b"serving-test-key"
    lake = Lake(spark, config)
    write_export(lake, {pseudonymise("42", key): ["p1", "p2"], "other": ["o1"]})
    reader = FeedReader(config.lake.root)
    assert [r["content_id"] for r in reader.feed_for_raw_id("42", key)] == ["p1", "p2"]


def test_missing_export_is_a_clear_error(tmp_path):
    with pytest.raises(FeedReaderError, match="foryou export"):
        FeedReader(tmp_path)


def test_a_session_reorders_the_list_with_the_exports_session_model(spark, config):
    from foryou.export.session_model import write_session_model
    from foryou.rerank.session import Session, SessionModel

    lake = Lake(spark, config)
    items = [("a1", "c1", ["cars"]), ("a2", "c2", ["pets"]), ("a3", "c3", ["cook"]),
             ("a4", "c4", ["cook", "food"])]
    rows = [{"user_id": "ann", "rank": r, "content_id": c, "score": 1.0 / r, "source": "ann",
             "model_version": "ranker-1", "generated_at": AT, "creator_id": creator, "tags": tags}
            for r, (c, creator, tags) in enumerate(items, start=1)]
    lake.overwrite(EXPORT, lake.spark.createDataFrame(rows, table(EXPORT).schema))
    reader = FeedReader(config.lake.root, refresh_interval_s=None)
    session = Session()
    session.record("z1", ["cook"], "c9", ["view", "like", "share"])  # this session: cooking
    session.record("a1", ["cars"], "c1", ["skip"])
    # No session model yet: what the session saw is dropped, nothing else moves.
    assert [r["content_id"] for r in reader.feed("ann", session=session)] == ["a2", "a3", "a4"]
    assert [r["content_id"] for r in reader.feed("ann")] == ["a1", "a2", "a3", "a4"]
    write_session_model(lake, SessionModel({"tag_interest": 1.0, "creator_interest": 0.5,
                                            "tag_shown": -0.2}), dt.date(2024, 5, 5), None)
    assert reader.refresh() is True  # the export did not move; its session model did
    feed = reader.feed("ann", n=2, session=session)
    # a3: -ln 3 + log1p(3.2) - 0.2 ln 2 = 0.20; a2: -ln 2 = -0.69; a4: -ln 4 + 0.72 - 0.07 = -0.74
    assert [r["content_id"] for r in feed] == ["a3", "a2"] and [r["rank"] for r in feed] == [1, 2]
    assert feed[0]["score"] == pytest.approx(1 / 3)  # the exported row, re-ranked
    assert [r["content_id"] for r in reader.feed("ann", session=Session())] == ["a1", "a2", "a3", "a4"]
    assert reader.feed("nobody", session=session)[0]["source"] == FALLBACK_SOURCE
    # The reader of a lake finds the session model beside the export.
    assert [r["content_id"] for r in FeedReader.from_lake(lake).feed("ann", session=session)] == \
        ["a3", "a2", "a4"]
