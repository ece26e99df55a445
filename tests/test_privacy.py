"""Pseudonyms (HMAC-SHA256 known answers, in Python and in Spark) and forgetting users."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.config import load_config
from foryou.lake import Lake, table
from foryou.privacy import KEY_ENV, load_key, pseudonymise, with_pseudonyms
from foryou.privacy.forget import predicate, read_ids
from foryou.privacy.pseudonyms import DEMO_KEY

from conftest import mode_args
from test_clean import D1, NO_GX, clean, event, write_bronze

IDS = ["42", "user_7", "élodie", "", "a'b", "x" * 300]
KEYS = [b"k", b"test-secret", b"K" * 64, b"long-key-" * 20]


def expected(raw: str, key: bytes) -> str:
    return hmac.new(key, raw.encode("utf-8"), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("key", KEYS)
def test_pseudonym_is_hmac_sha256_hex_in_python_and_in_spark(spark, key):
    for raw in IDS:
        assert pseudonymise(raw, key) == expected(raw, key)
    df = spark.createDataFrame([(i, raw) for i, raw in enumerate(IDS + [None])], "n int, user_id string")
    got = {r.n: r.user_id for r in with_pseudonyms(df, ["user_id"], key).collect()}
    assert got == {**{i: expected(raw, key) for i, raw in enumerate(IDS)}, len(IDS): None}


def test_key_material_stays_out_of_the_query_plan(spark):
    key = b"plan-secret"
    padded = key.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in padded).hex().upper()
    df = with_pseudonyms(spark.createDataFrame([("u1",)], "user_id string"), ["user_id"], key)
    plan = df._jdf.queryExecution().toString()
    assert "sha2" in plan
    assert ipad not in plan.upper() and "plan-secret" not in plan


def test_key_sources(monkeypatch, caplog):
    assert load_key(environ={KEY_ENV: "s3cret"}).value == b"s3cret"
    with caplog.at_level(logging.WARNING, logger="foryou.privacy"):
        key = load_key(environ={})
    assert key.is_demo and key.value == DEMO_KEY
    assert "DEMO key" in caplog.text
    assert "s3cret" not in repr(load_key(environ={KEY_ENV: "s3cret"}))
    databricks = load_config(overrides=["privacy.secret_scope=foryou", "privacy.secret_key=pseudonym"])
    with pytest.raises(RuntimeError, match="not a Databricks runtime"):
        load_key(databricks.privacy, spark=object(), environ={KEY_ENV: "ignored"})


def test_quarantine_predicate_matches_ids_and_payload_mentions():
    pred = predicate(table("bronze.quarantine"), ["a_b", "o'k"])
    assert pred == ("(user_id IN ('a_b', 'o''k')) OR (user_id IS NULL AND "
                    "(payload LIKE '%a\\_b%' OR payload LIKE '%o''k%'))")
    assert predicate(table("silver.events"), ["p1"]) == "user_id IN ('p1')"


GONE = "u-forget-7731"  # distinctive, so a byte search finds nothing by chance


def files_holding(root: str, needles: list[str]) -> list[str]:
    """Every file under ``root`` (data, Delta log, checkpoints, checksums, anything) whose
    bytes contain one of ``needles``."""
    found = []
    for path in Path(root).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(n.encode() in data for n in needles):
                found.append(str(path.relative_to(root)))
    return sorted(found)


def parquet_values(folder: str, column: str) -> set:
    """Every value of ``column`` in every Parquet file on disk under ``folder`` (any version)."""
    values = set()
    for path in Path(folder).rglob("*.parquet"):
        t = pq.read_table(path, columns=[column]) if column in pq.read_schema(path).names else None
        if t is not None:
            values |= set(t[column].to_pylist())
    return values


@pytest.mark.parametrize("lake_mode", ["bridge", "native"], indirect=True)
def test_forget_users_deletes_everywhere_and_vacuums(spark, config, lake_mode, tmp_path, monkeypatch,
                                                    capsys):
    monkeypatch.setenv(KEY_ENV, "forget-secret")
    lake = Lake(spark, config)
    write_bronze(spark, lake, [event("e1", user_id=GONE), event("e2", user_id=GONE),
                               event("e3", user_id="stays"), event("e4", "teleport", user_id=GONE)])
    write_bronze(spark, lake, [{"user_id": GONE, "ingest_id": f"ingest-{D1}-x", "source": "x",
                                "ingested_at": dt.datetime(2024, 5, 1, 12)},
                               {"user_id": "stays", "ingest_id": f"ingest-{D1}-x", "source": "x",
                                "ingested_at": dt.datetime(2024, 5, 1, 12)}], "bronze.users")
    # A record ingest could not parse: no user_id column, the id only in the payload.
    lake.append("bronze.quarantine", spark.createDataFrame([
        {"payload": '{"user": "%s", "ts": "garbage"}' % GONE, "reason": "event_ts: unparseable",
         "ingest_id": "ingest-x", "source": "native", "ingested_at": dt.datetime(2024, 5, 1, 12),
         "ingest_date": dt.date(2024, 5, 1), "rejected_by": "ingest"},
        {"payload": '{"user": "stays"}', "reason": "event_ts: unparseable",
         "ingest_id": "ingest-x", "source": "native", "ingested_at": dt.datetime(2024, 5, 1, 12),
         "ingest_date": dt.date(2024, 5, 1), "rejected_by": "ingest"},
    ], table("bronze.quarantine").schema))
    assert clean(config, D1, *NO_GX, *mode_args(config)) == 0
    gone = pseudonymise(GONE, b"forget-secret")
    assert lake.read("silver.events").where(F.col("user_id") == gone).count() == 2
    capsys.readouterr()

    root = str(config.lake.root)
    before = files_holding(root, [GONE, gone])
    assert any("_delta_log" in f for f in before) and any(f.endswith(".parquet") for f in before)

    ids = tmp_path / "ids.txt"
    ids.write_text(f"# erasure requests\n{GONE}\n\n{GONE}\nnobody\n")
    assert read_ids(ids) == [GONE, "nobody"]
    assert foryou(["forget-users", "--ids", str(ids), "--set", f"lake.root={config.lake.root}",
                   "--set", "privacy.forget_chunk_size=1", *mode_args(config)]) == 0
    out = capsys.readouterr().out
    assert "bronze.events: 3 rows deleted" in out and "silver.events: 2 rows deleted" in out

    assert lake.read("bronze.events").where(F.col("user_id") == GONE).count() == 0
    assert lake.read("bronze.events").count() == 1
    assert lake.read("silver.events").where(F.col("user_id") == gone).count() == 0
    assert lake.read("silver.users").where(F.col("user_id") == gone).count() == 0
    assert lake.read("bronze.users").where(F.col("user_id") == GONE).count() == 0
    assert {r.payload for r in lake.read("bronze.quarantine").collect()} == {'{"user": "stays"}'}

    # Vacuumed: no file on disk, of any version, still holds the user.
    for name, value in (("bronze.events", GONE), ("silver.events", gone), ("bronze.users", GONE),
                        ("silver.users", gone)):
        on_disk = parquet_values(lake.location(name), "user_id")
        assert value not in on_disk and on_disk, name
    assert not any(GONE in (p or "") for p in parquet_values(lake.location("bronze.quarantine"),
                                                             "payload"))

    metrics = lake.read("gold.metrics").where(F.col("stage") == "forget-users")
    deleted = {r.name: r.value for r in metrics.collect()}
    assert deleted["rows_deleted.bronze.events"] == 3
    assert deleted["rows_deleted.silver.events"] == 2
    assert deleted["rows_deleted.bronze.quarantine"] == 2
    assert deleted["rows_deleted.silver.users"] == 1
    assert deleted["rows_deleted"] == 3 + 2 + 2 + 1 + 1

    # Forget means gone: no byte under the lake root (data, Delta log, checkpoints, checksums)
    # holds the raw id or the pseudonym. The tables' history starts at the forget, and they
    # stay ordinary Delta tables that take new writes.
    assert files_holding(root, [GONE, gone]) == []
    for name in ("bronze.events", "silver.events", "bronze.quarantine"):
        history = lake.history(name)
        assert history[-1].version > 0 and len(history) == 2, (name, history)
        assert pl.read_delta(lake.location(name)).height == lake.read(name).count() > 0
    write_bronze(spark, lake, [event("e9", user_id="later")])
    assert lake.read("bronze.events").count() == 2
