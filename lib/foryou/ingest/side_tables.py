"""Optional side tables of an interaction log: an item catalogue and a user table.

    foryou ingest --format interactions --path ratings.csv --columns user=...,item=...,ts=... \\
        --items movies.csv --item-columns item=movieId,title=title,tags=genres \\
        --users users.csv --user-columns user=userId,country=country

The catalogue becomes ``bronze.content`` rows and the user table ``bronze.users`` rows, the
same tables the app's own catalogue and KuaiRand's side tables feed, so clean, the content
features (text and tag vectors, creators, upload age) and the user features use them as they
use the synthetic world's. Roles:

| table | role | becomes | notes |
|---|---|---|---|
| items | ``item`` (required) | ``content_id`` | the log's item ids |
| items | ``title`` | ``description`` | text: hashed TF-IDF text vectors |
| items | ``tags`` | ``tags`` | ``|`` and ``;`` separators become commas (MovieLens genres) |
| items | ``creator`` | ``creator_id`` | creator caps, follows, creator features |
| items | ``upload_ts`` | ``upload_ts`` | any timestamp shape or epoch number; cold start |
| items | ``duration_ms`` | ``duration_ms`` | an integer |
| users | ``user`` (required) | ``user_id`` | the log's user ids (pseudonymised by clean) |
| users | ``country``, ``language`` | the same | ISO codes, normalised by clean |
| users | ``signup_ts`` | ``signup_ts`` | any timestamp shape |
| users | ``activity`` | ``activity_degree`` | e.g. an age group or activity level, as text |

Unmapped columns stay in ``payload``. A mapped column absent from the file is an
:class:`IngestError` naming it; a row whose value cannot be read is quarantined naming the
field.
"""
from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from foryou.ingest import fields as fld
from foryou.ingest.batch import INGEST_ID, INGESTED_AT, REASON, SOURCE as SOURCE_COL, Adapter
from foryou.ingest.interactions import check_columns, parse_roles
from foryou.ingest.records import PAYLOAD, read_csv, read_parquet
from foryou.lake.vocabulary import (
    BRONZE_CONTENT, BRONZE_USERS, CONTENT_ID, CREATOR_ID, INTERACTION_LOG, USER_ID,
)

ITEM_ROLES = ("item", "title", "tags", "creator", "upload_ts", "duration_ms")
USER_ROLES = ("user", "country", "language", "signup_ts", "activity")
_PARSED = "_v_"


def _text(roles: dict[str, str], role: str) -> Column:
    return (F.trim(F.col(roles[role])) if role in roles else F.lit(None)).cast("string")


def _timestamp_check(roles: dict[str, str], role: str) -> fld.Parsed | None:
    return fld.utc_timestamp(roles[role], F.col(roles[role])) if role in roles else None


def _check(frame: DataFrame, roles: dict[str, str], key: str, times: Sequence[str],
           integers: Sequence[str] = ()) -> DataFrame:
    why = [fld.required(roles[key], F.col(roles[key]))]
    typed = []
    for role in times:
        parsed = _timestamp_check(roles, role)
        if parsed is not None:
            why.append(parsed.reason)
            typed.append(parsed.value.alias(_PARSED + role))
    for role in integers:
        if role in roles:
            parsed = fld.integer(roles[role], F.col(roles[role]))
            why.append(parsed.reason)
            typed.append(parsed.value.alias(_PARSED + role))
    if key == "user" and roles[key] != USER_ID:
        # Lets quarantine rows carry the user (the forget-users job finds them by it).
        typed.append(F.col(roles[key]).alias(USER_ID))
    return frame.select("*", *typed, fld.reasons(*why).alias(REASON))


def _typed(frame: DataFrame, role: str, kind: str) -> Column:
    name = _PARSED + role
    return F.col(name) if name in frame.columns else F.lit(None).cast(kind)


def content_rows(frame: DataFrame, roles: dict[str, str]) -> DataFrame:
    """Accepted catalogue records as ``bronze.content`` rows."""
    tags = F.regexp_replace(_text(roles, "tags"), r"[|;]", ",")
    return frame.select(
        _text(roles, "item").alias(CONTENT_ID), _text(roles, "creator").alias(CREATOR_ID),
        _typed(frame, "upload_ts", "timestamp").alias("upload_ts"),
        _typed(frame, "duration_ms", "long").alias("duration_ms"),
        tags.alias("tags"), _text(roles, "title").alias("description"),
        F.lit(None).cast("string").alias("content_type"),
        PAYLOAD, INGEST_ID, SOURCE_COL, INGESTED_AT)


def user_rows(frame: DataFrame, roles: dict[str, str]) -> DataFrame:
    """Accepted user records as ``bronze.users`` rows."""
    return frame.select(
        _text(roles, "user").alias(USER_ID),
        _typed(frame, "signup_ts", "timestamp").alias("signup_ts"),
        _text(roles, "country").alias("country"), _text(roles, "language").alias("language"),
        _text(roles, "activity").alias("activity_degree"),
        F.lit(None).cast("long").alias("follow_count"), F.lit(None).cast("long").alias("follower_count"),
        PAYLOAD, INGEST_ID, SOURCE_COL, INGESTED_AT)


def _reader(spark: SparkSession, roles: dict[str, str], sep: str):
    def read(paths: Sequence[str]):
        if all(p.endswith(".parquet") for p in paths):
            return read_parquet(spark, paths, list(roles.values()))
        return read_csv(spark, paths, None, sep)
    return read


def catalogue_adapter(spark: SparkSession, paths: Sequence[str], columns: str, sep: str = ",") -> Adapter:
    """The item catalogue's adapter for ``--item-columns`` (checked against ``paths``)."""
    roles = parse_roles(columns, "--item-columns", ITEM_ROLES, ("item",))
    check_columns(spark, paths, roles, sep, "--item-columns")
    return Adapter(INTERACTION_LOG, BRONZE_CONTENT, _reader(spark, roles, sep),
                   lambda f: _check(f, roles, "item", ("upload_ts",), ("duration_ms",)),
                   lambda f: content_rows(f, roles))


def users_adapter(spark: SparkSession, paths: Sequence[str], columns: str, sep: str = ",") -> Adapter:
    """The user table's adapter for ``--user-columns`` (checked against ``paths``)."""
    roles = parse_roles(columns, "--user-columns", USER_ROLES, ("user",))
    check_columns(spark, paths, roles, sep, "--user-columns")
    return Adapter(INTERACTION_LOG, BRONZE_USERS, _reader(spark, roles, sep),
                   lambda f: _check(f, roles, "user", ("signup_ts",)),
                   lambda f: user_rows(f, roles))
