"""Airflow DAG: the foryou daily pipeline, one SparkSubmitOperator per stage.

Install the foryou wheel and apache-airflow-providers-apache-spark on the Airflow workers, point
the ``spark_default`` connection at the cluster, and set:

    FORYOU_HOME   where the repository (jobs/, conf/) is deployed   (default /opt/foryou)
    FORYOU_CONF   the config overlay for this environment           (default conf/cluster.yaml)
    FORYOU_STREAM 1: also land the Kafka topic (``foryou stream-ingest --available-now``)
                  before each day's clean, for sites that stream events (default 0)

``run_date`` is the logical date (``{{ ds }}``). Days run in order (``max_active_runs=1``,
``depends_on_past``) because sessions and features of day D build on day D-1. Backfill:

    airflow backfill create --dag-id foryou_daily --from-date 2024-05-01 --to-date 2024-05-07
"""
import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from foryou.deploy import airflow_stream_task, airflow_tasks
from foryou.stages import production_stages

FORYOU_HOME = os.environ.get("FORYOU_HOME", "/opt/foryou")
FORYOU_CONF = os.environ.get("FORYOU_CONF", f"{FORYOU_HOME}/conf/cluster.yaml")
FORYOU_STREAM = os.environ.get("FORYOU_STREAM", "0") == "1"

with DAG(
    dag_id="foryou_daily",
    description="foryou: events to the For You feed, one Spark job per stage",
    schedule="@daily",
    start_date=datetime(2024, 5, 1),
    catchup=True,
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "depends_on_past": True,
        "conn_id": "spark_default",
    },
    tags=["foryou"],
) as dag:
    previous = None
    tasks = {}
    for spec in airflow_tasks(production_stages(), FORYOU_CONF, f"{FORYOU_HOME}/jobs"):
        task = tasks[spec["task_id"]] = SparkSubmitOperator(**spec)
        if previous is not None:
            previous >> task
        previous = task
    if FORYOU_STREAM:
        # Streamed events reach silver themselves; the day's clean waits for them to land.
        SparkSubmitOperator(**airflow_stream_task(FORYOU_CONF, f"{FORYOU_HOME}/jobs")) >> tasks["clean"]
