"""Cluster mode for real: the pipeline under ``spark-submit --master local-cluster[2,1,1024]``.

local-cluster starts a standalone master and two worker JVMs, so every task runs in a separate
executor process with its own Python workers: closures, ``mapInArrow``/``mapInPandas`` UDFs and
the lake's staged writes must all survive serialisation and shared-nothing executors, which
``local[2]`` (one JVM) never checks. ``make cluster-demo`` runs every stage the same way.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from foryou.world import preset

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MASTER = "local-cluster[2,1,1024]"
STAGES = ["generate", "ingest", "clean", "impressions", "sessionize", "features"]
DATES = ["2024-05-01", "2024-05-02"]


def _world_args(root: Path) -> list[str]:
    world = preset("tiny", n_users=48, days=1, users_per_block=12,
                   start_date=DATES[0]).model_dump(mode="json")
    world.pop("kuairand_dir")
    sets = [f"lake.root={root / 'lake'}", f"ingest.path={root / 'raw'}",
            "spark.shuffle_partitions=4", "spark.log_level=ERROR"]
    sets += [f"world.{k}={v}" for k, v in world.items()]
    return [a for s in sets for a in ("--set", s)]


def _spark_submit(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "PYTHONSAFEPATH": "1",
           "GX_ANALYTICS_ENABLED": "false"}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    return subprocess.run([str(BIN / "spark-submit"), "--master", MASTER,
                           "--conf", "spark.ui.enabled=false", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def _rows(path: Path) -> int:
    return DeltaTable(str(path)).to_pyarrow_table().num_rows


@pytest.mark.slow
def test_pipeline_runs_under_spark_submit_on_local_cluster(tmp_path):
    # Day one through sessionize, day two through features (which needs a day of history).
    proc = _spark_submit(["jobs/pipeline.py", "--backfill", *DATES, "--until", STAGES[-1],
                          *_world_args(tmp_path)])
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    for stage in STAGES:
        assert f"{stage:<18}done" in proc.stdout, proc.stdout[-3000:]

    lake = tmp_path / "lake"
    events = _rows(lake / "silver" / "events")
    assert events > 1000
    assert _rows(lake / "silver" / "sessions") > 0
    assert _rows(lake / "silver" / "impressions") > 0
    assert _rows(lake / "gold" / "user_features") > 0
    assert _rows(lake / "gold" / "training_examples") > 0

    # Every stage ran in the launcher's session: executors were separate JVMs.
    metrics = DeltaTable(str(lake / "gold" / "metrics")).to_pyarrow_table().to_pylist()
    masters = {(m["stage"], str(m["run_date"])): json.loads(m["detail"])["spark_master"]
               for m in metrics if m["name"] == "seconds" and m["detail"]
               and json.loads(m["detail"]).get("status") == "succeeded"}
    assert {s for s, _ in masters} >= set(STAGES)
    assert set(masters.values()) == {MASTER}

    # A second submit resumes nothing and commits nothing: every stage is already committed.
    versions = {p.name: DeltaTable(str(p)).version()
                for layer in ("silver", "gold") for p in (lake / layer).iterdir()}
    again = _spark_submit(["jobs/pipeline.py", "--run-date", DATES[-1], "--until", STAGES[-1],
                           *_world_args(tmp_path)])
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{'features':<18}committed" in again.stdout
    assert {p.name: DeltaTable(str(p)).version() for layer in ("silver", "gold")
            for p in (lake / layer).iterdir() if p.name != "metrics"} == \
        {k: v for k, v in versions.items() if k != "metrics"}
