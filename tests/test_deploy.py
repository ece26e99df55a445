"""Deployment files: they parse, are up to date with the pipeline, and name entry points that exist.

Airflow itself is not installed in the test venv: apache-airflow 3.3 resolves beside the pinned
stack only by pulling ``pyspark-client`` (a second distribution of the ``pyspark`` package,
which would overwrite pyspark's files) and downgrading fastapi under MLflow. So the DAG is
checked by parsing it, by testing the task list it builds (``foryou.deploy.airflow_tasks``),
and by importing what it imports from foryou where Spark, PyTorch and MLflow cannot be imported.
"""
import ast
import glob
import subprocess
import sys
from pathlib import Path

import yaml

from foryou.cli import commands
from foryou.config import load_config
from foryou.deploy import airflow_tasks, databricks_job, render_databricks_job
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


def test_a_scheduler_parses_the_dag_without_the_pipeline_stack():
    """The DAG's foryou imports load with Spark, PyTorch, MLflow and pandas unimportable, as on
    an Airflow scheduler that has Airflow and its Spark provider alone."""
    tree = ast.parse((REPO / "deploy" / "airflow" / "foryou_daily.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    ours = sorted(m for m in modules if m.startswith("foryou"))
    assert ours == ["foryou.deploy", "foryou.stages"]
    blocked = ("pyspark", "torch", "mlflow", "pandas", "numpy", "deltalake", "pydantic")
    script = "\n".join([
        "import sys",
        *[f"sys.modules[{m!r}] = None" for m in blocked],
        *[f"import {m}" for m in ours],
        "from foryou.deploy import airflow_tasks",
        "from foryou.stages import production_stages",
        "tasks = airflow_tasks(production_stages(), 'conf/cluster.yaml', 'jobs')",
        "print(len(tasks), sorted(m for m in sys.modules if m.startswith('foryou')))",
    ])
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    count, loaded = proc.stdout.split(" ", 1)
    assert int(count) == len(production_stages())
    assert ast.literal_eval(loaded) == ["foryou", "foryou.connectors", "foryou.deploy", "foryou.stages"]


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
    daily = yaml.safe_load(rendered["foryou-daily.yaml"])
    assert daily["kind"] == "ScheduledSparkApplication" and daily["spec"]["schedule"]


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
