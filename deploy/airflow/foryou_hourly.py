"""Airflow DAG: the ranker's hourly update, ``foryou update-ranker`` (one SparkSubmitOperator).

It fine-tunes the champion on the examples since its last update (the streamed rows of the
day so far included) and promotes the result only through the daily training's gate. The same
settings as the daily DAG (``FORYOU_HOME``, ``FORYOU_CONF``, the ``spark_default``
connection). Runs never overlap (``max_active_runs=1``) and missed hours are not replayed
(``catchup=False``): an update learns from everything since the champion's data end, so the
next run covers a skipped one.
"""
import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from foryou.deploy import UPDATE_MINUTE, airflow_update_task

FORYOU_HOME = os.environ.get("FORYOU_HOME", "/opt/foryou")
FORYOU_CONF = os.environ.get("FORYOU_CONF", f"{FORYOU_HOME}/conf/cluster.yaml")

with DAG(
    dag_id="foryou_hourly",
    description="foryou: the ranker's hourly fine-tune on the day's streamed examples",
    schedule=f"{UPDATE_MINUTE} * * * *",
    start_date=datetime(2024, 5, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5), "conn_id": "spark_default"},
    tags=["foryou"],
) as dag:
    SparkSubmitOperator(**airflow_update_task(FORYOU_CONF, f"{FORYOU_HOME}/jobs"))
