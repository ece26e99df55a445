"""The data contract of gold.user_candidates (docs/contract.md), checked on every export.

Readers rely on:
- the schema: the catalog's columns with their types; the required ones never null;
- per user, ranks 1..n without gaps (n <= the list size), each content_id at most once;
- scores finite; one model_version and one generated_at per export (one run wrote it);
- freshness: generated_at no older than ``FRESHNESS_HOURS`` when read (serving treats an
  older export as stale and says so).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.lake import table
from foryou.lake.vocabulary import CONTENT_ID, GOLD_USER_CANDIDATES as EXPORT, USER_ID

CONTRACT_VERSION = "1.1.0"  # 1.1.0: creator_id and tags (optional)
FRESHNESS_HOURS = 48


class ContractError(ValueError):
    """An export breaks the contract; the message names every broken clause."""


def check_contract(df: DataFrame, list_size: int | None = None,
                   now: dt.datetime | None = None) -> dict[str, int]:
    """Check an export frame against the contract; raise :class:`ContractError` naming each
    broken clause, else return counts (rows, users).

    Args:
        df: the export (or a frame about to be written as one).
        list_size: the most ranks a user may have (None: not checked).
        now: with it, generated_at must be within ``FRESHNESS_HOURS`` of it.
    """
    spec = table(EXPORT)
    problems: list[str] = []
    types = dict(df.dtypes)
    for field in spec.schema:
        if field.name not in types:
            problems.append(f"column {field.name!r} is missing")
        elif types[field.name] != field.dataType.simpleString():
            problems.append(f"column {field.name!r} has type {types[field.name]}, "
                            f"contract says {field.dataType.simpleString()}")
    if problems:
        raise ContractError(f"{EXPORT} contract {CONTRACT_VERSION}: " + "; ".join(problems))

    nulls = [F.sum(F.col(c).isNull().cast("long")).alias(c) for c in spec.required]
    per_user = df.groupBy(USER_ID).agg(
        F.count(F.lit(1)).alias("_n"), F.countDistinct(CONTENT_ID).alias("_distinct"),
        F.min("rank").alias("_min"), F.max("rank").alias("_max"),
        F.countDistinct("rank").alias("_ranks"))
    facts = df.agg(F.count(F.lit(1)).alias("_rows"),
                   F.countDistinct("model_version").alias("_versions"),
                   F.countDistinct("generated_at").alias("_generated"),
                   F.max("generated_at").alias("_latest"),
                   F.sum((F.isnan("score") | F.col("score").isin(float("inf"), float("-inf")))
                         .cast("long")).alias("_bad_scores"),
                   *nulls).first()
    users = per_user.agg(
        F.count(F.lit(1)).alias("users"),
        F.sum((F.col("_distinct") != F.col("_n")).cast("long")).alias("dup_content"),
        F.sum(((F.col("_min") != 1) | (F.col("_max") != F.col("_n")) | (F.col("_ranks") != F.col("_n")))
              .cast("long")).alias("bad_ranks"),
        F.max("_n").alias("longest")).first()

    for c in spec.required:
        if facts[c]:
            problems.append(f"{facts[c]} row(s) with null {c}")
    if users["dup_content"]:
        problems.append(f"{users['dup_content']} user(s) with a content_id listed twice")
    if users["bad_ranks"]:
        problems.append(f"{users['bad_ranks']} user(s) whose ranks are not exactly 1..n")
    if list_size is not None and (users["longest"] or 0) > list_size:
        problems.append(f"a user has {users['longest']} ranks, more than the list size {list_size}")
    if facts["_bad_scores"]:
        problems.append(f"{facts['_bad_scores']} row(s) with a NaN or infinite score")
    if facts["_rows"] and facts["_versions"] != 1:
        problems.append(f"{facts['_versions']} model_version values; one export has one")
    if facts["_rows"] and facts["_generated"] != 1:
        problems.append(f"{facts['_generated']} generated_at values; one export has one")
    if now is not None and facts["_latest"] is not None:
        age = now.replace(tzinfo=None) - facts["_latest"]
        if age > dt.timedelta(hours=FRESHNESS_HOURS):
            problems.append(f"generated_at {facts['_latest']} is older than {FRESHNESS_HOURS} h")
    if problems:
        raise ContractError(f"{EXPORT} contract {CONTRACT_VERSION}: " + "; ".join(problems))
    return {"rows": int(facts["_rows"]), "users": int(users["users"] or 0)}
