"""Pseudonymous user ids: HMAC-SHA256 of the raw id under a secret key, hex encoded.

The scheme is part of the export contract: a serving system computes
``pseudonymise(raw_id, key)`` for a signed-in user to look up that user's feed in
``gold.user_candidates``. Raw ids stay in bronze; every silver and gold table holds pseudonyms.

Spark has no HMAC function, but HMAC is two SHA-256 passes (RFC 2104):
``H((K ^ opad) || H((K ^ ipad) || m))`` with ``K`` the key zero-padded to the 64-byte block.
Both padded keys are constants, so the whole HMAC is built from Spark's native ``sha2``,
``unhex`` and ``concat`` - no Python UDF. The padded keys reach the executors as a one-row
broadcast frame joined onto the data, not as literals: literals are printed in query plans,
the Spark UI and event logs, and ``K ^ ipad`` gives the key away.

The key comes from (first found): the Databricks secret named by ``privacy.secret_scope`` /
``privacy.secret_key``; the environment variable ``FORYOU_PSEUDONYM_KEY``; else a fixed demo key,
with a warning - pseudonyms made with it are only fit for demos. The key is never logged.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, StructField, StructType

if TYPE_CHECKING:
    from foryou.config.privacy import PrivacyConfig

log = logging.getLogger("foryou.privacy")

KEY_ENV = "FORYOU_PSEUDONYM_KEY"
# Used only where no key is configured; says what it is so nobody mistakes it for a secret.
DEMO_KEY = b"foryou-demo-pseudonym-key-not-secret"
# What every pseudonym looks like: 64 lower-case hex digits (a raw id never does, in practice).
PSEUDONYM_REGEX = r"^[0-9a-f]{64}$"
BLOCK_SIZE = 64  # SHA-256 block size in bytes (RFC 2104's B)
IPAD_COL = "_foryou_hmac_ipad"
OPAD_COL = "_foryou_hmac_opad"


@dataclass(frozen=True)
class PseudonymKey:
    """The secret key and where it came from (for logs; the value itself is never shown)."""

    value: bytes
    origin: str

    def __repr__(self) -> str:
        return f"PseudonymKey(origin={self.origin!r})"

    @property
    def is_demo(self) -> bool:
        return self.origin == "demo"


def pseudonymise(raw_id: str, key: bytes) -> str:
    """The pseudonym of one raw user id: ``HMAC-SHA256(key, utf8(raw_id))`` as lower-case hex.

    Example:
        >>> pseudonymise("42", b"k")[:16]
        '7955074f51169f1f'
    """
    return hmac.new(key, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()


def _databricks_secret(spark: SparkSession, scope: str, name: str) -> bytes:
    try:
        from pyspark.dbutils import DBUtils  # only exists on Databricks runtimes
    except ImportError:
        raise RuntimeError(
            f"privacy.secret_scope={scope!r} is set but this is not a Databricks runtime "
            f"(no pyspark.dbutils); unset it and use {KEY_ENV}") from None
    return DBUtils(spark).secrets.get(scope, name).encode("utf-8")


def load_key(privacy: "PrivacyConfig | None" = None, spark: SparkSession | None = None,
             environ: dict[str, str] | None = None) -> PseudonymKey:
    """The pseudonym key: Databricks secret, else ``FORYOU_PSEUDONYM_KEY``, else the demo key.

    Args:
        privacy: the ``privacy`` section: names the Databricks secret scope/key, if any.
        spark: the session (needed only for the Databricks secret).
        environ: the environment to read (default ``os.environ``).
    Returns:
        the key with its origin; with the demo key a warning is logged.
    """
    environ = os.environ if environ is None else environ
    if privacy is not None and privacy.secret_scope:
        if not privacy.secret_key:
            raise ValueError("privacy.secret_scope is set but privacy.secret_key is not")
        if spark is None:
            raise ValueError("reading the pseudonym key from a Databricks secret needs the session")
        value = _databricks_secret(spark, privacy.secret_scope, privacy.secret_key)
        log.info("pseudonym key from Databricks secret scope %r", privacy.secret_scope)
        return PseudonymKey(value, f"databricks:{privacy.secret_scope}")
    if environ.get(KEY_ENV):
        log.info("pseudonym key from environment variable %s", KEY_ENV)
        return PseudonymKey(environ[KEY_ENV].encode("utf-8"), f"env:{KEY_ENV}")
    log.warning("no pseudonym key configured (%s or privacy.secret_scope): using the fixed DEMO "
                "key; user pseudonyms are NOT protected - set %s outside demos", KEY_ENV, KEY_ENV)
    return PseudonymKey(DEMO_KEY, "demo")


def _padded_keys(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sha256_hex(value: Column, ipad: Column, opad: Column) -> Column:
    """HMAC-SHA256 hex of the string column ``value`` given the padded-key columns.

    ``ipad``/``opad`` are binary columns holding ``K ^ 0x36..`` and ``K ^ 0x5c..`` (see
    :func:`with_pseudonyms`, which provides them). Null in, null out.
    """
    inner = F.unhex(F.sha2(F.concat(ipad, F.encode(value, "UTF-8")), 256))
    return F.sha2(F.concat(opad, inner), 256)


def with_pseudonyms(df: DataFrame, columns: Sequence[str], key: bytes) -> DataFrame:
    """Replace each of ``columns`` (raw user ids) by its pseudonym, in Spark.

    Same result as :func:`pseudonymise` per value; nulls stay null.

    Example:
        >>> with_pseudonyms(events, ["user_id"], key.value)     # doctest: +SKIP
    """
    ipad, opad = _padded_keys(key)
    pads = df.sparkSession.createDataFrame(
        [(bytearray(ipad), bytearray(opad))],
        StructType([StructField(IPAD_COL, BinaryType(), False),
                    StructField(OPAD_COL, BinaryType(), False)]))
    joined = df.crossJoin(F.broadcast(pads))
    for name in columns:
        joined = joined.withColumn(name, hmac_sha256_hex(F.col(name), F.col(IPAD_COL),
                                                         F.col(OPAD_COL)))
    return joined.drop(IPAD_COL, OPAD_COL)
