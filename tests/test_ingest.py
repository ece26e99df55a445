"""Ingest: raw files to bronze with quarantine, each file once, counts that add up."""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.ingest.batch import IngestError
from foryou.ingest.fields import utc_timestamp
from foryou.ingest.runs import ingest_interactions, ingest_kuairand, ingest_native
from foryou.lake import Lake

KUAIRAND = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kuairand_pure"
# MicroLens (Ni et al. 2023) in its own layout: <name>_pairs.csv (user, item, timestamp in epoch
# ms) and <name>_titles.csv (item, title); rows made for these tests.
MICROLENS = Path(__file__).resolve().parent / "data" / "microlens"
INSTANT = dt.datetime(2024, 5, 1, 12, 34, 56)
# Every way producers write INSTANT (UTC).
TIMESTAMP_SHAPES = [
    "2024-05-01T12:34:56.000Z", "2024-05-01T14:34:56+02:00", "2024-05-01T07:34:56-0500",
    "1714566896", "1714566896000", "1714566896.0", "2024/05/01 12:34:56", "2024-05-01T12:34:56",
]
# A reason always names its field (or says the record is not JSON at all).
NAMED = re.compile(r"(field '[a-z_]+'|missing required field '[a-z_]+'|malformed JSON|malformed CSV)")


def event(i: int, **fields) -> dict:
    base = {"event_id": f"e{i}", "event_type": "view", "user_id": f"u{i % 3}",
            "event_ts": "2024-05-01T12:34:56.000Z", "content_id": f"c{i % 5}", "position": i,
            "watch_ms": 1000 + i, "device_type": "phone", "received_at": "2024-05-01T12:35:00Z"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def write_lines(path: Path, lines: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines))
    return path


def lake_args(config) -> list[str]:
    return ["--set", f"lake.root={config.lake.root}"]


def metrics_of(lake: Lake, run_date: str) -> dict[str, float]:
    rows = lake.read("gold.metrics", partitions=[run_date]).collect()
    return {r["name"]: r["value"] for r in rows if r["stage"] == "ingest"}


def test_every_timestamp_shape_parses_to_the_same_utc_instant(spark):
    df = spark.createDataFrame([(s,) for s in TIMESTAMP_SHAPES + ["yesterday", None]], "ts string")
    parsed = utc_timestamp("event_ts", F.col("ts"))
    rows = df.select("ts", parsed.value.alias("v"), parsed.reason.alias("r")).collect()
    assert {r.v for r in rows[:-2]} == {INSTANT}
    assert rows[-2].v is None and rows[-2].r == "field 'event_ts': unparseable timestamp 'yesterday'"
    assert rows[-1].v is None and rows[-1].r is None  # absence is the required check's business


def test_world_ingest_quarantines_by_field_and_ingests_each_file_once(spark, config, tmp_path, capsys):
    world = tmp_path / "world"
    good = [event(i, event_ts=ts) for i, ts in enumerate(TIMESTAMP_SHAPES)]
    odd = [event(20, event_type="teleport", watch_ms=-5)]  # semantic problems: clean's job
    bad = [
        '{"event_id": "b1", "user_id": ',                        # line 10: malformed
        event(21, user_id=None),                                   # line 11
        event(22, position="abc"),                                 # line 12
        "",                                                        # line 13: blank, not a record
        event(23, event_ts="yesterday"),                           # line 14
        "[1, 2]",                                                  # line 15: not an object
        event(24, watch_ms="12.5", user_id=""),                    # line 16: two reasons
        event(25, content_id={"id": 1}),                           # line 17
    ]
    day1 = write_lines(world / "events" / "date=2024-05-01" / "part-0.jsonl", good + odd + bad)
    write_lines(world / "events" / "date=2024-05-02" / "part-0.jsonl",
                [event(30, event_ts="2024-05-02T00:00:01Z")])
    write_lines(world / "content" / "part-0.jsonl", [
        {"content_id": "c1", "creator_id": "k1", "upload_ts": "2024-04-01T00:00:00Z",
         "duration_ms": 15000, "tags": ["t1", "t2"], "description": "#fun"},
        {"content_id": "c2", "duration_ms": "long"}])
    write_lines(world / "users" / "part-0.jsonl", [
        {"user_id": "u1", "signup_ts": "2023-01-01T00:00:00Z", "country": "DE", "follow_count": 3},
        {"signup_ts": "2023-01-01T00:00:00Z"}])

    args = ["ingest", "--path", str(world), *lake_args(config)]
    assert foryou([*args, "--run-date", "2024-05-03"]) == 0
    lake = Lake(spark, config)
    events = lake.read("bronze.events")
    assert events.count() == len(good) + len(odd) + 1
    got = {r.event_id: r for r in events.collect()}
    assert {got[f"e{i}"].event_ts for i in range(len(good))} == {INSTANT}
    assert got["e20"].event_type == "teleport" and got["e20"].watch_ms == -5
    assert got["e30"].event_date == dt.date(2024, 5, 2)
    assert got["e0"].position == 0 and isinstance(got["e0"].watch_ms, int)
    assert json.loads(got["e3"].payload)["event_ts"] == "1714566896"
    assert {r.source for r in got.values()} == {"native"}
    assert all(r.ingest_id.startswith("ingest-2024-05-03-native") for r in got.values())

    rejected = lake.read("bronze.quarantine").collect()
    assert all(NAMED.search(r.reason) for r in rejected)
    lines = {r.record_ref.rsplit(":", 1)[1]: r for r in rejected if r.record_ref.startswith(str(day1))}
    assert lines["line 10"].reason == "malformed JSON"
    assert lines["line 10"].payload == '{"event_id": "b1", "user_id": '
    assert lines["line 11"].reason == "missing required field 'user_id'"
    assert lines["line 12"].reason == "field 'position': not an integer: 'abc'"
    assert lines["line 14"].reason == "field 'event_ts': unparseable timestamp 'yesterday'"
    assert lines["line 15"].reason == "malformed JSON: not a JSON object"
    assert lines["line 16"].reason == ("missing required field 'user_id'; "
                                       "field 'watch_ms': not an integer: '12.5'")
    assert lines["line 17"].reason == "field 'content_id': expected string, got an object '{\"id\":1}'"
    assert lines["line 11"].record_ref.startswith(str(day1))
    assert {r.ingest_date for r in rejected} == {dt.date(2024, 5, 3)}
    assert "line 13" not in lines

    content = {r.content_id: r for r in lake.read("bronze.content").collect()}
    assert content["c1"].tags == "t1,t2" and content["c1"].duration_ms == 15000
    assert set(content) == {"c1"}
    users = lake.read("bronze.users").collect()
    assert [(u.user_id, u.follow_count) for u in users] == [("u1", 3)]
    reasons = {r.reason for r in rejected}
    assert "field 'duration_ms': not an integer: 'long'" in reasons
    assert "missing required field 'user_id'" in reasons

    m = metrics_of(lake, "2024-05-03")
    # Events: 8 + 1 + 7 (blank line excluded) + 1; content 2; users 2.
    assert m["records_in"] == m["records_accepted"] + m["records_quarantined"] == 17 + 2 + 2
    assert m["records_quarantined"] == 7 + 1 + 1
    assert m["records.bronze.events"] == m["accepted.bronze.events"] + m["quarantined.bronze.events"] == 17
    assert m["rows_written.bronze.events"] == m["accepted.bronze.events"] == 10
    assert m["rows_written.bronze.quarantine"] == m["records_quarantined"]
    assert m["files_new"] == m["files_seen"] == 4 and m["blank_lines.bronze.events"] == 1

    # Same run date again: the job is done for that date.
    assert foryou([*args, "--run-date", "2024-05-03"]) == 0
    assert "already committed" in capsys.readouterr().out
    # Another run date over the same folder: every file is known, nothing is written.
    versions = {t: lake.version(t) for t in ("bronze.events", "bronze.quarantine", "bronze.content")}
    assert foryou([*args, "--run-date", "2024-05-04"]) == 0
    assert {t: lake.version(t) for t in versions} == versions
    m = metrics_of(lake, "2024-05-04")
    assert m["files_new"] == 0 and m["files_skipped"] == 4 and m["records_in"] == 0

    # One new file: only it is read.
    write_lines(world / "events" / "date=2024-05-02" / "part-1.jsonl",
                [event(40), event(41, user_id=None)])
    assert foryou([*args, "--run-date", "2024-05-05"]) == 0
    m = metrics_of(lake, "2024-05-05")
    assert (m["files_new"], m["records_in"], m["records_accepted"], m["records_quarantined"]) == (1, 2, 1, 1)
    assert lake.read("bronze.events").count() == len(got) + 1
    manifest = lake.read("bronze.ingested_files").collect()
    assert len(manifest) == 5 and all(r.records == r.accepted + r.quarantined for r in manifest)


def test_csv_and_parquet_events(spark, config, tmp_path):
    lake = Lake(spark, config)
    rows = [event(1), event(2, position="x"), event(3, event_ts="1714566896000")]
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    columns = ["event_id", "event_type", "user_id", "event_ts", "position", "watch_ms"]
    (csv_dir / "a.csv").write_text(
        ",".join(columns) + "\n"
        + "".join(",".join(str(r.get(c, "")) for c in columns) + "\n" for r in rows)
        + "e9,view,u1,2024-05-01T00:00:00Z,1,2,extra,cells\n")
    [report] = ingest_native(spark, lake, str(csv_dir), dt.date(2024, 5, 3), "csv")
    assert (report.records, report.accepted, report.quarantined) == (4, 2, 2)
    q = {r.record_ref.rsplit(":", 1)[1]: r.reason for r in lake.read("bronze.quarantine").collect()}
    assert q["row 2"] == "field 'position': not an integer: 'x'"
    assert q["row 4"].startswith("malformed CSV row")
    assert {r.event_ts for r in lake.read("bronze.events").collect()} == {INSTANT}

    pq = tmp_path / "events.parquet"
    spark.createDataFrame(
        [("p1", "like", "u1", dt.datetime(2024, 5, 1, 12, 34, 56), 3, 10),
         ("p2", "like", None, dt.datetime(2024, 5, 1, 12, 34, 56), 4, 20)],
        "event_id string, event_type string, user_id string, event_ts timestamp, position int, "
        "watch_ms long").coalesce(1).write.parquet(str(pq))
    [report] = ingest_native(spark, lake, str(pq), dt.date(2024, 5, 3), "parquet")
    assert (report.files_new, report.accepted, report.quarantined) == (1, 1, 1)
    p1 = lake.read("bronze.events").where("event_id = 'p1'").first()
    assert (p1.event_ts, p1.position, p1.watch_ms) == (INSTANT, 3, 10)
    [again] = ingest_native(spark, lake, str(pq), dt.date(2024, 5, 4), "parquet")
    assert (again.files_new, again.files_skipped, again.records) == (0, 1, 0)


def test_kuairand_sample_log_maps_one_impression_per_row(spark, config, tmp_path):
    folder = tmp_path / "kuairand"
    folder.mkdir()
    shutil.copy(KUAIRAND / "kuairand_1k_log_sample.csv", folder)
    lake = Lake(spark, config)
    [report] = ingest_kuairand(spark, lake, config.ingest, str(folder), dt.date(2022, 5, 9))
    assert (report.records, report.accepted, report.quarantined) == (200, 200, 0)
    events = lake.read("bronze.events")
    assert events.where("event_type = 'impression'").count() == 200
    sample = spark.read.option("header", True).csv(str(folder))
    clicks = sample.where("is_click = '1'").count()
    assert events.where("event_type = 'view'").count() == clicks
    # A zero duration is unknown, never "completed".
    completes = sample.where("cast(duration_ms as long) > 0 and "
                             "cast(play_time_ms as long) >= cast(duration_ms as long)").count()
    assert events.where("event_type = 'complete_view'").count() == completes
    assert events.count() == 200 + clicks + completes
    assert events.select("event_id").distinct().count() == events.count()
    # One (request, position) per impression; every outcome points at its impression's request.
    imps = events.where("event_type = 'impression'")
    assert imps.select("request_id", "position").distinct().count() == 200
    assert {r.source for r in events.select("source").distinct().collect()} == {"kuairand"}


def test_kuairand_full_log_labels_become_events(spark, config, tmp_path):
    folder = tmp_path / "kuairand"
    header = ("user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,"
              "is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,"
              "comment_stay_time,is_profile_enter,is_rand,tab\n")
    t = 1651363200000  # 2022-05-01T00:00:00Z
    write_lines(folder / "log_random_4_22_to_5_08_pure.csv", [
        header.strip(),
        f"1,10,20220501,0,{t},1,1,1,1,1,0,1,20000,15000,0,0,0,1,1",
        f"1,11,20220501,0,{t + 5000},0,0,0,0,0,1,0,500,15000,0,0,0,1,1",
        f"2,10,20220501,0,{t + 120000},1,0,0,0,0,0,0,3000,15000,0,0,0,0,1",
        f"3,12,20220501,0,soon,1,0,0,0,0,0,0,3000,15000,0,0,0,0,1",
    ])
    write_lines(folder / "video_features_basic_pure.csv",
                ["video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,"
                 "server_width,server_height,music_id,music_type,tag",
                 "10,700,NORMAL,2022-04-10,Web,0.0,15000.0,720.0,1280.0,1,9.0,\"1,2\""])
    lake = Lake(spark, config)
    reports = {r.target: r for r in ingest_kuairand(spark, lake, config.ingest, str(folder), dt.date(2022, 5, 9))}
    log = reports["bronze.events"]
    assert (log.records, log.accepted, log.quarantined) == (4, 3, 1)
    assert lake.read("bronze.quarantine").first().reason == "field 'time_ms': not an integer: 'soon'"
    events = lake.read("bronze.events").collect()
    by_row = {}
    for e in events:
        by_row.setdefault((e.user_id, e.content_id), {})[e.event_type] = e
    first = by_row[("1", "10")]
    assert set(first) == {"impression", "view", "complete_view", "like", "follow", "comment", "share"}
    assert first["view"].watch_ms == 20000 and first["impression"].creator_id == "700"
    assert first["impression"].event_ts == dt.datetime(2022, 5, 1)
    assert all(e.event_ts > first["impression"].event_ts for k, e in first.items() if k != "impression")
    assert set(by_row[("1", "11")]) == {"impression", "hide"}
    # is_rand: every event of a randomly exposed row says so (the unbiased test set).
    assert {e.exposure for e in first.values()} == {"random"}
    assert by_row[("2", "10")]["impression"].exposure == "policy"
    # User 1's two impressions 5 s apart share a request; user 2's is another request.
    assert by_row[("1", "10")]["impression"].request_id == by_row[("1", "11")]["impression"].request_id
    assert [by_row[("1", v)]["impression"].position for v in ("10", "11")] == [0, 1]
    assert lake.read("bronze.content").first().creator_id == "700"
    # Re-ingesting the same rows from a new file gives the same event ids.
    shutil.copy(folder / "log_random_4_22_to_5_08_pure.csv", folder / "log_copy.csv")
    ingest_kuairand(spark, lake, config.ingest, str(folder), dt.date(2022, 5, 10))
    assert lake.read("bronze.events").select("event_id").distinct().count() == len(events)


def test_interactions_adapter(spark, config, tmp_path, capsys):
    log = write_lines(tmp_path / "ratings.tsv", [
        "userId\tmovieId\trating\ttimestamp",
        "1\t31\t2.5\t1714566896000",
        "1\t1029\t5.0\t1714566897000",
        "2\t31\tgreat\t1714566898000",
        "3\t\t4.0\t1714566899000",
        "4\t40\t3.0\tlater",
    ])
    lake = Lake(spark, config)
    cols = "user=userId,item=movieId,ts=timestamp,weight=rating"
    [report] = ingest_interactions(spark, lake, config.ingest, str(log), dt.date(2024, 5, 3), cols,
                                   sep="\t", ts_unit="ms")
    assert (report.records, report.accepted, report.quarantined) == (5, 2, 3)
    events = lake.read("bronze.events").collect()
    assert sorted((e.user_id, e.content_id, e.event_type) for e in events) == [
        ("1", "1029", "like"), ("1", "1029", "view"), ("1", "31", "view")]
    assert {e.source for e in events} == {"interactions"} and all(e.request_id is None for e in events)
    assert min(e.event_ts for e in events) == INSTANT
    reasons = sorted(r.reason for r in lake.read("bronze.quarantine").collect())
    assert reasons == ["field 'rating': not a number: 'great'",
                       "field 'timestamp': not epoch milliseconds: 'later'",
                       "missing required field 'movieId'"]

    with pytest.raises(IngestError, match="column 'item_id' is not in"):
        ingest_interactions(spark, lake, config.ingest, str(log), dt.date(2024, 5, 4),
                            "user=userId,item=item_id,ts=timestamp", sep="\t")
    with pytest.raises(IngestError, match="role 'ts' is required"):
        ingest_interactions(spark, lake, config.ingest, str(log), dt.date(2024, 5, 4),
                            "user=userId,item=movieId", sep="\t")
    # From the command line: one line naming the column, exit code 1, nothing ingested.
    assert foryou(["ingest", "--format", "interactions", "--path", str(log), "--sep", "\\t",
                   "--columns", "user=userId,item=nope,ts=timestamp", "--run-date", "2024-05-06",
                   *lake_args(config)]) == 1
    assert "column 'nope' is not in" in capsys.readouterr().err


def test_interactions_with_an_item_catalogue_and_a_user_table(spark, config, tmp_path, capsys):
    """MovieLens' shape: genres joined by '|', a title, users with an age group. The side
    tables land in bronze.content / bronze.users and clean makes them silver like any catalogue."""
    log = write_lines(tmp_path / "ratings.csv", ["userId,movieId,rating,timestamp",
                                                 "1,31,5,1714566896", "2,1029,3,1714566897"])
    movies = write_lines(tmp_path / "movies.csv", [
        "movieId,title,genres,released",
        '31,"Dangerous Minds (1995)",Drama,1995-08-11',
        "1029,Dumbo (1941),Animation|Children|Drama,1941-10-23",
        "1030,No Date,Comedy,someday",
        ",Nameless,Drama,2000-01-01"])
    users = write_lines(tmp_path / "users.csv", ["userId,gender,age,country",
                                                 "1,F,18-24,de", "2,M,35-44,FR"])
    run = ["ingest", "--format", "interactions", "--path", str(log), "--ts-unit", "s",
           "--columns", "user=userId,item=movieId,ts=timestamp,weight=rating",
           "--items", str(movies), "--item-columns", "item=movieId,title=title,tags=genres,upload_ts=released",
           "--users", str(users), "--user-columns", "user=userId,activity=age,country=country",
           "--run-date", "2024-05-03", *lake_args(config)]
    assert foryou(run) == 0
    out = capsys.readouterr().out
    assert "bronze.content <- interactions: files 1 new / 0 skipped, records 4 = 2 accepted + 2 quarantined" in out
    assert "bronze.users <- interactions: files 1 new / 0 skipped, records 2 = 2 accepted" in out
    lake = Lake(spark, config)
    reasons = sorted(r.reason for r in lake.read("bronze.quarantine").collect())
    assert reasons == ["field 'released': unparseable timestamp 'someday'",
                       "missing required field 'movieId'"]
    assert foryou(["clean", "--run-date", "2024-05-03", *lake_args(config), "--set", "quality.enabled=false"]) == 0
    content = {r.content_id: r for r in lake.read("silver.content").collect()}
    assert content["1029"].tags == ["Animation", "Children", "Drama"]
    assert content["31"].description == "Dangerous Minds (1995)"
    assert content["1029"].upload_ts == dt.datetime(1941, 10, 23)
    silver_users = lake.read("silver.users").collect()
    assert sorted(u.activity_degree for u in silver_users) == ["18-24", "35-44"]
    assert sorted(u.country for u in silver_users) == ["DE", "FR"]

    # A side table needs its mapping, and a mapped column must exist; nothing is written.
    assert foryou([*run[:-4], "--items", str(movies), "--item-columns", "item=movieId,tags=nope",
                   "--run-date", "2024-05-04", *lake_args(config)]) == 1
    assert "--item-columns tags=nope: column 'nope' is not in" in capsys.readouterr().err
    with pytest.raises(IngestError, match="--users .* needs --user-columns"):
        ingest_interactions(spark, lake, config.ingest, str(log), dt.date(2024, 5, 4),
                            "user=userId,item=movieId,ts=timestamp", users=str(users))


def test_microlens_pairs_and_titles_ingest_as_an_interaction_log(spark, config, capsys):
    """README's MicroLens line: its pairs as an interaction log (epoch ms), its titles as the
    item catalogue; every pair a view, every title the item's text, a quoted comma kept."""
    pairs, titles = MICROLENS / "MicroLens-sample_pairs.csv", MICROLENS / "MicroLens-sample_titles.csv"
    rows = pairs.read_text().splitlines()[1:]
    assert foryou(["ingest", "--format", "interactions", "--path", str(pairs), "--ts-unit", "ms",
                   "--columns", "user=user,item=item,ts=timestamp",
                   "--items", str(titles), "--item-columns", "item=item,title=title",
                   "--run-date", "2020-05-01", *lake_args(config)]) == 0
    out = capsys.readouterr().out
    assert f"records {len(rows)} = {len(rows)} accepted" in out
    assert foryou(["clean", "--run-date", "2020-05-01", *lake_args(config), "--set", "quality.enabled=false"]) == 0
    lake = Lake(spark, config)
    views = lake.read("silver.events").where(F.col("event_type") == "view")
    assert views.count() == len(rows)                           # a re-watch is a second view
    first = min(int(r.split(",")[2]) for r in rows)
    assert views.agg(F.min("event_ts")).first()[0] == dt.datetime.fromtimestamp(first / 1000, dt.timezone.utc).replace(tzinfo=None)
    content = {r.content_id: r.description for r in lake.read("silver.content").collect()}
    assert len(content) == 15 and content["3"] == "Cats, dogs and a very confused parrot"
    assert lake.read("bronze.quarantine").count() == 0
