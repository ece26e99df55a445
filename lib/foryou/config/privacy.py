"""Settings of the privacy layer (the ``privacy`` config section).

The pseudonym key itself is never a setting: it comes from the environment variable
``FORYOU_PSEUDONYM_KEY`` or, on Databricks, from the secret scope named here.
"""
from __future__ import annotations

from pydantic import Field

from foryou.config.section import Section


class PrivacyConfig(Section):
    # Databricks secret holding the pseudonym key: dbutils.secrets.get(secret_scope, secret_key).
    secret_scope: str | None = None
    secret_key: str | None = None
    # Ids per DELETE predicate when forgetting users (keeps each predicate a manageable size).
    forget_chunk_size: int = Field(default=1000, ge=1)
