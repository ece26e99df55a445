"""The KuaiRand adapter: KuaiRand's user and video side tables to bronze.

KuaiRand (Gao et al., "KuaiRand: An Unbiased Sequential Recommendation Dataset with Randomly
Exposed Videos", CIKM 2022; CC BY-SA 4.0) ships ``user_features_*.csv`` and
``video_features_basic_*.csv``. Bronze keeps each record as received in ``payload`` and maps
the fields our contracts know by name.
"""
from __future__ import annotations

import datetime as dt
import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

SOURCE = "kuairand"
# KuaiRand-Pure's log window ends on this day; register_days counts back from it.
LOG_END = dt.date(2022, 5, 8)
USERS_FILE = "user_features_pure.csv"
VIDEOS_FILE = "video_features_basic_pure.csv"


def _read_csv(spark: SparkSession, path: str) -> DataFrame:
    if not os.path.exists(path):
        raise FileNotFoundError(f"KuaiRand file not found: {path}")
    # Everything as strings: bronze keeps values as received, casts are explicit below.
    return spark.read.option("header", True).option("multiLine", False).csv(path)


def _lineage(df: DataFrame, ingest_id: str) -> DataFrame:
    return (df.withColumn("ingest_id", F.lit(ingest_id))
              .withColumn("source", F.lit(SOURCE))
              .withColumn("ingested_at", F.current_timestamp()))


def _long(col: str):
    return F.col(col).cast("double").cast("long")


def users(spark: SparkSession, folder: str, ingest_id: str) -> DataFrame:
    """``user_features_*.csv`` as ``bronze.users`` rows."""
    raw = _read_csv(spark, os.path.join(folder, USERS_FILE))
    out = raw.select(
        F.col("user_id").alias("user_id"),
        F.to_timestamp(F.date_sub(F.lit(LOG_END), F.col("register_days").cast("int"))).alias("signup_ts"),
        F.lit(None).cast("string").alias("country"),
        F.lit(None).cast("string").alias("language"),
        F.col("user_active_degree").alias("activity_degree"),
        _long("follow_user_num").alias("follow_count"),
        _long("fans_user_num").alias("follower_count"),
        F.to_json(F.struct(*raw.columns)).alias("payload"),
    )
    return _lineage(out, ingest_id)


def content(spark: SparkSession, folder: str, ingest_id: str) -> DataFrame:
    """``video_features_basic_*.csv`` as ``bronze.content`` rows."""
    raw = _read_csv(spark, os.path.join(folder, VIDEOS_FILE))
    out = raw.select(
        F.col("video_id").alias("content_id"),
        F.col("author_id").alias("creator_id"),
        F.to_timestamp(F.col("upload_dt"), "yyyy-MM-dd").alias("upload_ts"),
        _long("video_duration").alias("duration_ms"),
        F.col("tag").alias("tags"),
        F.lit(None).cast("string").alias("description"),
        F.col("video_type").alias("content_type"),
        F.to_json(F.struct(*raw.columns)).alias("payload"),
    )
    return _lineage(out, ingest_id)
