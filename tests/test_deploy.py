"""Deployment files: they parse, are up to date with the pipeline, and name entry points that exist.

The Airflow DAG is parsed by real Airflow 3.3 in a scheduler's environment that `make setup`
builds beside the main venv (``.venv/airflow``: Airflow and its Spark provider, no Spark, no
PyTorch, no foryou dependencies). Airflow cannot live in the main venv: it resolves beside the
pinned stack only by pulling ``pyspark-client`` (a second distribution of the ``pyspark``
package, which would overwrite pyspark's files) and downgrading fastapi under MLflow.
"""
import ast
import glob
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from foryou.cli import commands
from foryou.config import load_config
from foryou.deploy import (STREAM_PACKAGES, UPDATE_MINUTE, airflow_stream_task, airflow_tasks,
                           airflow_update_task, databricks_job, render_databricks_job,
                           render_databricks_stream_job, render_databricks_update_job)
from foryou.stages import STAGES, production_stages

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "deploy" / "databricks"


def test_bundle_parses_and_references_existing_files():
    bundle = yaml.safe_load((BUNDLE / "databricks.yml").read_text())
    assert set(bundle["targets"]) == {"dev", "prod"}
    assert bundle["targets"]["dev"]["default"] is True
    assert {"catalog", "lake_root"} <= set(bundle["variables"])
    for pattern in bundle["include"]:
        assert glob.glob(str(BUNDLE / pattern)), pattern
    assert (BUNDLE / bundle["artifacts"]["foryou"]["path"] / "setup.py").exists()
    for path in bundle["sync"]["paths"]:
        assert (BUNDLE / path / "databricks.yaml").exists()
    load_config([REPO / "conf" / "databricks.yaml"], environ={})


def test_job_yaml_is_generated_from_the_pipeline():
    path = BUNDLE / "resources" / "foryou_daily.job.yml"
    assert path.read_text() == render_databricks_job(), "run `make deploy-files`"


def test_stream_job_is_generated_continuous_and_runs_stream_ingest():
    path = BUNDLE / "resources" / "foryou_stream.job.yml"
    assert path.read_text() == render_databricks_stream_job(), "run `make deploy-files`"
    job = yaml.safe_load(path.read_text())["resources"]["jobs"]["foryou_stream"]
    assert "continuous" in job and "schedule" not in job and job["max_concurrent_runs"] == 1
    (task,) = job["tasks"]
    assert task["python_wheel_task"]["parameters"][0] == "stream-ingest" in commands()
    airflow = airflow_stream_task("conf/cluster.yaml", str(REPO / "jobs"))
    assert Path(airflow["application"]).exists()
    assert "--available-now" in airflow["application_args"]
    assert "spark-sql-kafka" in STREAM_PACKAGES == airflow["packages"]


def test_update_job_runs_update_ranker_every_hour_one_at_a_time():
    path = BUNDLE / "resources" / "foryou_update.job.yml"
    assert path.read_text() == render_databricks_update_job(), "run `make deploy-files`"
    job = yaml.safe_load(path.read_text())["resources"]["jobs"]["foryou_update_ranker"]
    assert job["schedule"]["quartz_cron_expression"] == f"0 {UPDATE_MINUTE} * * * ?"
    assert job["max_concurrent_runs"] == 1
    (task,) = job["tasks"]
    assert task["python_wheel_task"]["parameters"][0] == "update-ranker" in commands()
    airflow = airflow_update_task("conf/cluster.yaml", str(REPO / "jobs"))
    assert Path(airflow["application"]).exists()


def test_every_bundle_task_names_an_existing_entry_point_in_pipeline_order():
    job = yaml.safe_load((BUNDLE / "resources" / "foryou_daily.job.yml").read_text())
    job = job["resources"]["jobs"]["foryou_daily"]
    assert job["schedule"]["quartz_cron_expression"]
    tasks = job["tasks"]
    names = [t["python_wheel_task"]["parameters"][0] for t in tasks]
    assert names and set(names) <= set(commands())
    assert names == [s.name for s in production_stages()]
    for before, task in zip(tasks, tasks[1:]):
        assert task["depends_on"] == [{"task_key": before["task_key"]}]
    for task in tasks:
        assert task["python_wheel_task"]["entry_point"] == "foryou"
        assert "{{job.parameters.run_date}}" in task["python_wheel_task"]["parameters"]
    clusters = {c["job_cluster_key"] for c in job["job_clusters"]}
    assert {t["job_cluster_key"] for t in tasks} <= clusters


def test_gpu_stages_get_the_gpu_cluster():
    gpu = [s for s in STAGES if s.gpu]
    job = databricks_job(gpu)["resources"]["jobs"]["foryou_daily"]
    assert [t["job_cluster_key"] for t in job["tasks"]] == ["gpu"] * len(gpu)


def test_airflow_dag_builds_one_spark_submit_per_stage():
    tree = ast.parse((REPO / "deploy" / "airflow" / "foryou_daily.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"DAG", "SparkSubmitOperator", "airflow_tasks", "production_stages"} <= imported
    dag_kwargs = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                      and getattr(n.func, "id", None) == "DAG").keywords
    kwargs = {k.arg: k.value for k in dag_kwargs}
    assert ast.literal_eval(kwargs["catchup"]) is True  # backfill works
    assert ast.literal_eval(kwargs["max_active_runs"]) == 1

    tasks = airflow_tasks(production_stages(), "conf/cluster.yaml", str(REPO / "jobs"))
    assert [t["task_id"] for t in tasks] == [s.module for s in production_stages()]
    for task in tasks:
        assert Path(task["application"]).exists(), task["application"]
        assert task["application_args"][-2:] == ["--run-date", "{{ ds }}"]
        assert "DeltaSparkSessionExtension" in task["conf"]["spark.sql.extensions"]


@pytest.mark.parametrize("stream", [False, True])
def test_airflow_parses_the_dag_where_only_airflow_is_installed(tmp_path, stream):
    """A scheduler parses the DAG with Airflow and its provider alone: foryou's deploy module
    and stage list load, nothing of Spark or PyTorch does, and the tasks chain in order (with
    ``FORYOU_STREAM=1``, the stream lands the topic before the day's clean)."""
    python = REPO / ".venv" / "airflow" / "bin" / "python"
    assert python.exists(), "run `make setup`: it builds the scheduler's venv .venv/airflow"
    script = "\n".join([
        "import json, sys",
        "from airflow.dag_processing.dagbag import DagBag",
        "bag = DagBag(dag_folder='deploy/airflow')",
        "dag = bag.dags.get('foryou_daily')",
        "hourly = bag.dags.get('foryou_hourly')",
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},",
        "    'hourly': [hourly.max_active_runs, [t.task_id for t in hourly.tasks]] if hourly else None,",
        "    'chain': [[t.task_id, sorted(d.task_id for d in t.downstream_list)] for t in dag.tasks]",
        "    if dag else None,",
        "    'heavy': sorted(m for m in ('pyspark', 'torch', 'mlflow', 'pandas') if m in sys.modules)}))",
    ])
    env = {"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(tmp_path), "PYTHONPATH": str(REPO / "lib"),
           "FORYOU_HOME": str(REPO), "FORYOU_STREAM": "1" if stream else "0"}
    proc = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["heavy"] == []
    assert parsed["hourly"] == [1, ["update_ranker"]]
    chain = dict((task, after) for task, after in parsed["chain"])
    if stream:
        assert chain.pop("stream_ingest") == ["clean"]
    modules = [s.module for s in production_stages()]
    assert list(chain) == modules
    assert list(chain.values()) == [[m] for m in modules[1:]] + [[]]


def test_k8s_manifests_are_generated_and_run_existing_jobs():
    from foryou.deploy import IMAGE_HOME, K8S, k8s_manifests

    rendered = k8s_manifests()
    on_disk = {str(p.relative_to(K8S)): p.read_text() for p in K8S.rglob("*.yaml")}
    assert on_disk == rendered, "run `make deploy-files`"
    apps = [yaml.safe_load(t) for n, t in rendered.items() if n.startswith("stages/")]
    assert [a["metadata"]["labels"]["stage"] for a in apps] == [s.name for s in production_stages()]
    for app in apps + [yaml.safe_load(rendered["foryou-daily.yaml"])["spec"]["template"]]:
        spec = app.get("spec", app)
        job = spec["mainApplicationFile"].removeprefix(f"local://{IMAGE_HOME}/")
        assert (REPO / job).exists(), job
        conf = spec["arguments"][spec["arguments"].index("--conf") + 1]
        assert (REPO / conf.removeprefix(f"{IMAGE_HOME}/")).exists(), conf
        assert "DeltaSparkSessionExtension" in spec["sparkConf"]["spark.sql.extensions"]
    stream = yaml.safe_load(rendered["stream-ingest.yaml"])["spec"]
    assert stream["mainApplicationFile"].endswith("/jobs/stream_ingest.py")
    assert stream["restartPolicy"]["type"] == "Always"
    daily = yaml.safe_load(rendered["foryou-daily.yaml"])
    assert daily["kind"] == "ScheduledSparkApplication" and daily["spec"]["schedule"]
    hourly = yaml.safe_load(rendered["update-ranker.yaml"])["spec"]
    assert hourly["schedule"] == f"{UPDATE_MINUTE} * * * *" and hourly["concurrencyPolicy"] == "Forbid"
    assert (REPO / hourly["template"]["mainApplicationFile"].removeprefix(f"local://{IMAGE_HOME}/")).exists()


def test_pytorchjob_trains_the_ranker_with_torchrun_on_gpus():
    from foryou.deploy import k8s_training_job

    job = k8s_training_job(gpus=4)
    master = job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    command = master["command"]
    assert command[:2] == ["foryou", "train-ranker"]
    assert command[command.index("--launcher") + 1] == "torchrun"
    assert master["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert "train-ranker" in [s.name for s in STAGES if s.gpu]


def test_dockerfile_copies_files_that_exist_and_bakes_the_delta_package():
    from foryou.deploy import DELTA_PACKAGE

    text = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    copies = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY ")]
    assert copies
    for sources in copies:
        for source in sources:
            assert (REPO / source).exists(), source
    assert f"DELTA_PACKAGE={DELTA_PACKAGE}" in text
    assert "openjdk-17" in text
