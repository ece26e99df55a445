"""Privacy: pseudonymous user ids (HMAC-SHA256) and forgetting users on request.

``foryou.privacy.forget`` holds the right-to-erasure job's logic; this package's top level
holds only the pseudonym scheme, so serving code can import it without the lake.
"""
from foryou.privacy.pseudonyms import (
    KEY_ENV,
    PSEUDONYM_REGEX,
    PseudonymKey,
    hmac_sha256_hex,
    load_key,
    pseudonymise,
    with_pseudonyms,
)

__all__ = ["KEY_ENV", "PSEUDONYM_REGEX", "PseudonymKey", "hmac_sha256_hex", "load_key", "pseudonymise",
           "with_pseudonyms"]
