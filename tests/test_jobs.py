"""The job pattern: idempotent runs, operator commands, metrics, and spark-submit on local-cluster."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from foryou.cli import commands, main as foryou
from foryou.lake import Lake

REPO = Path(__file__).resolve().parents[1]
KUAIRAND = REPO.parent / "shared" / "data" / "kuairand_pure"
BIN = Path(sys.executable).parent


def lake_args(config) -> list[str]:
    return ["--set", f"lake.root={config.lake.root}"]


def test_cli_lists_the_operator_commands_and_the_jobs():
    assert {"tables", "history", "restore", "ingest"} <= set(commands())
    assert foryou(["no-such-command"]) == 2


def test_ingest_job_is_idempotent_per_run_date(spark, config, capsys):
    args = ["--format", "kuairand", "--path", str(KUAIRAND), "--run-date", "2022-05-08",
            *lake_args(config)]
    assert foryou(["ingest", *args]) == 0
    lake = Lake(spark, config)
    versions = {t: lake.version(t) for t in ("bronze.users", "bronze.content", "gold.metrics")}
    users = DeltaTable(lake.location("bronze.users")).to_pyarrow_table()
    assert users.num_rows == 27285
    assert len(set(users["user_id"].to_pylist())) == 27285
    assert json.loads(users["payload"][0].as_py())["user_active_degree"]

    assert foryou(["ingest", *args]) == 0
    assert "already committed" in capsys.readouterr().out
    assert {t: lake.version(t) for t in versions} == versions
    assert DeltaTable(lake.location("bronze.users")).to_pyarrow_table().num_rows == 27285

    metrics = {r["name"]: r for r in lake.read("gold.metrics").collect()}
    assert metrics["rows_written.bronze.content"]["value"] == 7583
    assert metrics["seconds"]["value"] > 0
    assert json.loads(metrics["seconds"]["detail"])["backend"] == "bridge"

    # Operator commands over the same lake.
    assert foryou(["tables", *lake_args(config)]) == 0
    out = capsys.readouterr().out
    assert "bronze.users" in out and "27,285" in out and "(not created)" in out
    assert foryou(["history", "bronze.users", *lake_args(config)]) == 0
    assert "foryou/ingest/2022-05-08/bronze.users" in capsys.readouterr().out


def test_restore_command(spark, config, capsys):
    lake = Lake(spark, config)
    df = spark.createDataFrame([("u1", "x", "native")], "user_id string, ingest_id string, source string")
    from pyspark.sql import functions as F

    df = df.withColumn("ingested_at", F.current_timestamp())
    lake.append("bronze.users", df)
    lake.append("bronze.users", df.withColumn("user_id", F.lit("u2")))
    assert foryou(["restore", "bronze.users", "--version", "0", *lake_args(config)]) == 0
    assert "now version 2" in capsys.readouterr().out
    assert [r.user_id for r in lake.read("bronze.users").collect()] == ["u1"]
    assert foryou(["restore", "bronze.users", "--version", "9", *lake_args(config)]) == 2


def test_bad_config_fails_at_start_naming_the_key(config, capsys):
    assert foryou(["tables", "--set", "lake.rooot=/x"]) == 2
    assert "lake.rooot" in capsys.readouterr().err


def _spark_submit(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    return subprocess.run([str(BIN / "spark-submit"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_job_file_runs_under_spark_submit(tmp_path):
    """``spark-submit jobs/<name>.py``, as clusters run a job (test_cluster runs the whole
    pipeline under local-cluster; here one job file, on local[2], which is cheaper)."""
    root = tmp_path / "lake"
    proc = _spark_submit(
        ["--master", "local[2]", "--conf", "spark.ui.enabled=false",
         "jobs/ingest.py", "--format", "kuairand", "--path", str(KUAIRAND),
         "--run-date", "2022-05-08", "--set", f"lake.root={root}", "--set", "lake.backend=auto"],
        tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert DeltaTable(str(root / "bronze" / "content")).to_pyarrow_table().num_rows == 7583
    metrics = DeltaTable(str(root / "gold" / "metrics")).to_pyarrow_table().to_pylist()
    detail = json.loads(next(m for m in metrics if m["name"] == "seconds")["detail"])
    # The launcher's master is kept.
    assert detail["spark_master"] == "local[2]"
    # Without Delta's extension `auto` is the bridge: no Delta JAR is needed anywhere.
    assert detail["backend"] == "bridge"
