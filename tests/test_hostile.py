"""Hostile input: no file crashes ingest, nothing is altered silently, counts always add up.

Each defect a hostile tester reproduced with one small file has a test here (issue 26):
timestamps past the year 9999, binary garbage, invalid UTF-8, JSON values of the wrong type,
repeated keys, a bare time of day, CSV files whose headers differ, quoted newlines, Parquet
files that type a column differently, a new file left out by a committed date, a killed
writer's staging folder. A fuzz test (hypothesis) throws generated records and whole files at
ingest and clean and checks the accounting of every batch.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.ingest.runs import ingest_native
from foryou.lake import CommitKey, Lake, table
from foryou.lake.stats import file_stats

from conftest import mode_args
from test_clean import NO_GX, write_bronze
from test_clean import event as bronze_event
from test_ingest import event, lake_args, metrics_of

RUN = "2024-05-03"
# A reason names a field, a repeated key or column, or says the record as a whole is broken.
NAMED = re.compile(r"(field '[a-z_]+'|missing required field '[a-z_]+'|malformed JSON|"
                   r"malformed CSV|record is not valid UTF-8|^[a-z_]+: )")


def jsonl(path: Path, records: list) -> Path:
    """Write records (dicts as JSON, str as text, bytes as they are) one per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for r in records:
            raw = r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r)).encode()
            fh.write(raw + b"\n")
    return path


def quarantine_by_line(lake: Lake) -> dict[int, dict]:
    rows = DeltaTable(lake.location("bronze.quarantine")).to_pyarrow_table().to_pylist()
    return {int(r["record_ref"].rsplit(" ", 1)[1]): r for r in rows}


def test_stats_skip_values_python_cannot_hold(tmp_path):
    """A timestamp in the year 56000 and a string column of non-UTF-8 bytes: the file gets
    stats without min/max for those columns instead of an OverflowError/UnicodeDecodeError."""
    far = pa.array([1714557600000000 * 1000], pa.timestamp("us"))  # µs read as ms, times 1000
    broken = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(b"\0\0\0\0\4\0\0\0"),
                                                    pa.py_buffer(b"\xff\xfeab")])
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"ts": far, "s": broken, "n": [7]}), path)
    rows, stats = file_stats(str(path))
    stats = json.loads(stats)
    assert rows == 1 and stats["nullCount"] == {"ts": 0, "s": 0, "n": 0}
    assert stats["minValues"] == stats["maxValues"] == {"n": 7}


@pytest.mark.parametrize("lake_mode", ["bridge", "native"], indirect=True)
def test_hostile_json_lines_are_quarantined_with_the_field_named(spark, config, lake_mode, tmp_path):
    garbage = b"\x00\xff\xfe\x80{garbage\x9f"
    records = [
        event(1),                                                               # 1 accepted
        event(2, event_ts=1714557600000000),                                    # 2 µs read as ms
        event(3, event_ts="+10000-01-01T00:00:00Z"),                            # 3
        garbage,                                                                # 4 binary
        json.dumps(event(5, user_id="u\u00e9"), ensure_ascii=False).encode().replace(b"\xc3\xa9", b"\xe9"),  # 5 latin-1
        event(6, event_id=True),                                                # 6
        event(7, user_id=12.5),                                                 # 7
        event(8, device_type={"a": 1}),                                         # 8
        event(9, os=["x"]),                                                     # 9
        '{"event_id": "e10", "user_id": "u1", "user_id": "u2", "event_type": "view", '
        '"event_ts": "2024-05-01T12:00:00Z"}',                                  # 10 repeated key
        event(11, event_ts="10:00:00"),                                         # 11 no date
        event(12, position=3.0, watch_ms="1200"),                               # 12 accepted
    ]
    path = jsonl(tmp_path / "raw" / "events.jsonl", records)
    assert foryou(["ingest", "--path", str(path), "--run-date", RUN, *lake_args(config),
                   *mode_args(config)]) == 0
    lake = Lake(spark, config)
    m = metrics_of(lake, RUN)
    assert m["records_in"] == m["records_accepted"] + m["records_quarantined"] == 12
    accepted = {r.event_id: r for r in lake.read("bronze.events").collect()}
    assert set(accepted) == {"e1", "e12"}
    assert (accepted["e12"].position, accepted["e12"].watch_ms) == (3, 1200)

    q = quarantine_by_line(lake)
    assert set(q) == set(range(2, 12))
    assert all(NAMED.search(r["reason"]) for r in q.values()), [r["reason"] for r in q.values()]
    assert q[2]["reason"].startswith("field 'event_ts': timestamp out of range")
    assert q[3]["reason"].startswith("field 'event_ts': unparseable timestamp")
    assert q[4]["reason"].startswith("record is not valid UTF-8")
    assert q[5]["reason"] == "field 'user_id': not valid UTF-8 (undecodable bytes)"
    assert q[6]["reason"] == "field 'event_id': expected string, got a boolean 'true'"
    assert q[7]["reason"] == "field 'user_id': expected string, got a number '12.5'"
    assert q[8]["reason"] == "field 'device_type': expected string, got an object '{\"a\":1}'"
    assert q[9]["reason"].startswith("field 'os': expected string, got an array")
    assert q[10]["reason"] == "malformed JSON: key 'user_id' appears more than once"
    assert q[11]["reason"] == "field 'event_ts': unparseable timestamp '10:00:00'"
    # Nothing lost: the undecodable records' exact bytes come back from base64.
    assert q[4]["payload_encoding"] == "base64" and base64.b64decode(q[4]["payload"]) == garbage
    assert base64.b64decode(q[5]["payload"]) == records[4]
    assert q[5]["user_id"] is None
    assert {q[i]["payload_encoding"] for i in (2, 3, 6, 10)} == {"utf-8"}
    # Every reader reads both tables (polars refused invalid UTF-8 before).
    for name in ("bronze.events", "bronze.quarantine"):
        assert pl.read_delta(lake.location(name)).height == (2 if name == "bronze.events" else 10)


def test_csv_headers_are_mapped_per_file(spark, config, tmp_path):
    """Swapped and reversed headers map by name; a quoted newline stays in its field; a
    header naming a column twice quarantines that file's rows with the reason."""
    cols = ["event_id", "event_type", "user_id", "content_id", "event_ts", "comment_text"]
    row = lambda i: {"event_id": f"e{i}", "event_type": "comment", "user_id": f"u{i}",  # noqa: E731
                     "content_id": f"c{i}", "event_ts": "2024-05-01T12:00:00Z", "comment_text": f"t{i}"}

    def write(name: str, header: list[str], rows: list[dict], text: str = "") -> None:
        lines = [",".join(header)] + [",".join(r[c] for c in header) for r in rows]
        (tmp_path / "csv" / name).write_text("\n".join(lines) + "\n" + text)

    (tmp_path / "csv").mkdir()
    write("a.csv", cols, [row(1)])
    swapped = ["event_id", "event_type", "content_id", "user_id", "event_ts", "comment_text"]
    write("b.csv", swapped, [row(2)])
    write("c.csv", cols[::-1], [row(3)])
    write("d.csv", cols, [row(4)], 'e5,comment,u5,c5,2024-05-01T12:00:00Z,"two\nlines, one field"\n')
    write("e.csv", ["event_id", "user_id", "user_id", "event_ts"], [])
    (tmp_path / "csv" / "e.csv").write_text("event_id,user_id,user_id,event_ts\ne6,u6,u7,2024-05-01T12:00:00Z\n")
    lake = Lake(spark, config)
    [report] = ingest_native(spark, lake, str(tmp_path / "csv"), dt.date(2024, 5, 3), "csv")
    assert (report.records, report.accepted, report.quarantined) == (6, 5, 1)
    got = {r.event_id: r for r in lake.read("bronze.events").collect()}
    for i in (1, 2, 3, 4, 5):
        assert (got[f"e{i}"].user_id, got[f"e{i}"].content_id) == (f"u{i}", f"c{i}")
    assert got["e5"].comment_text == "two\nlines, one field"
    [bad] = lake.read("bronze.quarantine").collect()
    assert bad.reason == "malformed CSV header: column 'user_id' appears more than once"
    assert bad.record_ref.endswith("e.csv:row 1")


def test_parquet_files_that_type_a_column_differently(spark, config, tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    base = {"event_id": ["p1"], "event_type": ["view"], "user_id": ["u1"],
            "event_ts": ["2024-05-01T12:00:00Z"], "content_id": ["c1"], "watch_ms": [10]}
    pq.write_table(pa.table({**base, "position": pa.array([3], pa.int32())}), folder / "a.parquet")
    two = {k: v * 2 for k, v in base.items()}
    pq.write_table(pa.table({**two, "event_id": ["p2", "p3"], "position": ["5", "abc"]}),
                   folder / "b.parquet")
    lake = Lake(spark, config)
    [report] = ingest_native(spark, lake, str(folder), dt.date(2024, 5, 3), "parquet")
    assert (report.records, report.accepted, report.quarantined) == (3, 2, 1)
    assert {(r.event_id, r.position) for r in lake.read("bronze.events").collect()} == {("p1", 3), ("p2", 5)}
    [bad] = lake.read("bronze.quarantine").collect()
    assert bad.reason == "field 'position': not an integer: 'abc'"


def test_a_committed_date_says_which_new_files_it_leaves_out(spark, config, tmp_path, capsys):
    folder = tmp_path / "raw"
    jsonl(folder / "a.jsonl", [event(1)])
    args = ["ingest", "--path", str(folder), "--run-date", RUN, *lake_args(config)]
    assert foryou(args) == 0
    jsonl(folder / "b.jsonl", [event(2)])
    capsys.readouterr()
    assert foryou(args) == 0
    out = capsys.readouterr()
    assert "already committed" in out.out
    assert "1 file(s) under" in out.err and "b.jsonl" in out.err and "NOT ingested" in out.err
    assert foryou([*args[:-2], "--run-date", "2024-05-04", *lake_args(config)]) == 0
    assert {r.event_id for r in Lake(spark, config).read("bronze.events").collect()} == {"e1", "e2"}


def test_a_killed_writers_staging_folder_goes_with_a_rerun_that_adds_nothing(spark, config):
    lake = Lake(spark, config)
    key = CommitKey("clean", dt.date(2024, 5, 1))
    row = {k: v for k, v in bronze_event("e1").items() if k in table("silver.events").schema.names}
    silver = spark.createDataFrame([row], table("silver.events").schema)
    lake.insert_new("silver.events", silver, key=key)
    staging = Path(lake.location("silver.events")) / "_staging" / "killed"
    staging.mkdir(parents=True)
    (staging / "part-0.parquet").write_bytes(b"half")
    assert lake.insert_new("silver.events", silver, key=key).skipped
    assert not staging.exists()


def test_restore_to_a_vacuumed_version_is_one_clear_line(spark, config, capsys):
    lake = Lake(spark, config)
    write_bronze(spark, lake, [bronze_event("e1")])
    lake.overwrite("bronze.events", spark.createDataFrame([bronze_event("e2")], table("bronze.events").schema))
    lake.vacuum("bronze.events", retention_hours=0)
    capsys.readouterr()
    assert foryou(["restore", "bronze.events", "--version", "0", *lake_args(config)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "version 0" in err and "vacuum" in err


# -- fuzz ---------------------------------------------------------------------------------
# Hypothesis builds whole raw files from valid events, mutated ones (wrong JSON types, odd
# timestamps, missing fields), repeated keys, arbitrary text and arbitrary bytes, in JSON lines
# and CSV (shuffled headers, hostile cells, quoted newlines, short rows). Each example is one
# file; hypothesis generates them and they go through ingest and clean in batches of
# FUZZ_BATCH files (a Spark job per example would not fit CI). FUZZ_EXAMPLES files in CI;
# `make fuzz` runs many more. (Batching gives up hypothesis's shrinking: a failure names the
# file, which stays under the test's folder.)
FUZZ_EXAMPLES = int(os.environ.get("FORYOU_FUZZ_EXAMPLES", "250"))
FUZZ_BATCH = 500

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ODD_TIMES = ["2024-05-01T12:00:00Z", "1714564800", "1714564800000", "1714557600000000", "10:00:00",
             "+10000-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "2026-01-01T00:00:00Z", "", "0",
             "1999-12-31T23:59:59.999999+14:00", "2024/05/01 12:00:00", "-1e300", "NaN"]
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                        st.lists(st.text(max_size=3), max_size=2),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
FIELDS = ["event_id", "event_type", "user_id", "event_ts", "content_id", "position", "watch_ms",
          "device_type", "comment_text"]


@st.composite
def valid_events(draw) -> dict:
    i = draw(st.integers(0, 60))  # few ids: duplicates happen, within and across files
    return {"event_id": f"e{i}", "event_type": draw(st.sampled_from(["view", "like", "skip", "Share"])),
            "user_id": f"u{draw(st.integers(0, 5))}", "event_ts": draw(st.sampled_from(ODD_TIMES[:3])),
            "content_id": f"c{draw(st.integers(0, 9))}", "watch_ms": draw(st.integers(0, 60000)),
            "position": draw(st.integers(0, 30)),
            "comment_text": draw(st.text(st.characters(codec="utf-8"), max_size=20))}


@st.composite
def json_lines(draw) -> bytes:
    """One line of a JSON-lines file, as bytes."""
    kind = draw(st.sampled_from(["valid", "mutated", "repeated", "text", "bytes"]))
    record = draw(valid_events())
    if kind == "mutated":
        for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3)):
            record[name] = draw(st.one_of(JSON_VALUES, st.sampled_from(ODD_TIMES)))
    if kind in ("valid", "mutated"):
        return json.dumps(record, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == "repeated":
        return (json.dumps(record)[:-1] + ', "user_id": "other"}').encode()
    if kind == "text":
        return draw(st.text(max_size=40)).replace("\n", " ").replace("\r", " ").encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=40)).replace(b"\n", b" ").replace(b"\r", b" ")


def csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


@st.composite
def csv_files(draw) -> bytes:
    """A CSV file: a shuffled header, rows of events, some cells hostile, quoted newlines."""
    header = draw(st.permutations(FIELDS))
    rows = []
    for record in draw(st.lists(valid_events(), max_size=8)):
        if draw(st.booleans()):
            record[draw(st.sampled_from(FIELDS))] = draw(st.one_of(
                st.sampled_from(ODD_TIMES), st.text(max_size=10), st.just("a\nb")))
        cells = [csv_cell(record.get(c)) for c in header]
        if draw(st.integers(0, 9)) == 0:
            cells = cells[:-1]  # a short row
        rows.append(",".join(cells))
    return ("\n".join([",".join(header), *rows]) + "\n").encode("utf-8", "surrogatepass")


FILES = st.one_of(
    st.tuples(st.just("json"), st.lists(json_lines(), min_size=1, max_size=12)
              .map(lambda lines: b"\n".join(lines) + b"\n")),
    st.tuples(st.just("csv"), csv_files()))


def _check_batch(spark, config, root: Path, files: list[tuple[str, bytes]], run: int) -> int:
    """Ingest and clean one batch of files; assert the accounting. Returns records seen."""
    lake = Lake(spark, config)
    run_date = dt.date(2024, 1, 1) + dt.timedelta(days=run)
    folders = {"json": root / f"{run:03d}" / "json", "csv": root / f"{run:03d}" / "csv"}
    for i, (fmt, data) in enumerate(files):
        folders[fmt].mkdir(parents=True, exist_ok=True)
        (folders[fmt] / f"f{i:04d}.{'jsonl' if fmt == 'json' else 'csv'}").write_bytes(data)
    reports = [r for fmt, folder in folders.items() if folder.exists()
               for r in ingest_native(spark, lake, str(folder), run_date, fmt)]
    records = sum(r.records for r in reports)
    accepted = sum(r.accepted for r in reports)
    assert records == accepted + sum(r.quarantined for r in reports)
    manifest = lake.read("bronze.ingested_files").where(F.col("ingest_date") == run_date).collect()
    assert len(manifest) == len(files)
    assert all(m.records == m.accepted + m.quarantined for m in manifest), \
        [m.file_path for m in manifest if m.records != m.accepted + m.quarantined]
    quarantine = (lake.read("bronze.quarantine").where(F.col("ingest_date") == run_date).collect()
                  if lake.exists("bronze.quarantine") else [])
    assert len(quarantine) == records - accepted
    assert all(NAMED.search(q.reason) for q in quarantine), [q.reason for q in quarantine]
    # Every accepted value equals its input after the documented normalisation.
    bronze = lake.read("bronze.events").where(F.col("ingest_id").contains(f"-{run_date}-")).collect()
    assert len(bronze) == accepted
    for r in bronze:
        sent = json.loads(r.payload)
        assert (r.event_id, r.user_id) == (sent["event_id"], sent["user_id"]), r
        for name in ("position", "watch_ms"):
            value = sent.get(name)
            if value is None or str(value).strip() == "":
                assert getattr(r, name) is None, r  # a blank number is absent, not an error
            else:
                assert getattr(r, name) == int(float(str(value))), r
        assert 1900 <= r.event_ts.year <= 9999
    assert foryou(["clean", "--run-date", str(run_date), *lake_args(config), *NO_GX]) == 0
    counts = {m.name: m.value for m in lake.read("gold.metrics", partitions=[str(run_date)])
              .where(F.col("stage") == "clean").collect()}
    t = "silver.events"
    assert counts[f"{t}.input"] == accepted
    assert counts[f"{t}.input"] == (counts[f"{t}.accepted"] + counts[f"{t}.quarantined"]
                                    + counts[f"{t}.duplicates"])
    # Every table stays readable by a reader that insists on valid UTF-8.
    for name in ("bronze.events", "bronze.quarantine", "silver.events"):
        if lake.exists(name):
            pl.read_delta(lake.location(name))
    return records


def test_fuzz_ingest_and_clean_never_crash_and_always_account(spark, config, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    files: list[tuple[str, bytes]] = []

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(FILES)
    def generate(file):
        files.append(file)

    generate()
    records = sum(_check_batch(spark, config, root, files[start:start + FUZZ_BATCH], run)
                  for run, start in enumerate(range(0, len(files), FUZZ_BATCH)))
    print(f"fuzz: {len(files)} files, {records} records through ingest and clean")
