"""Expiring a table's log: the current version becomes the oldest one the log can read.

Deleting rows and vacuuming removes them from the data files, but Delta's log keeps what it
knew about them: the ``add`` actions of the removed files carry per-file min/max statistics
(a user id column's smallest and largest value), a ``remove`` action may repeat them, and a
``DELETE`` commit records its predicate text. Neither Delta-Spark nor delta-rs deletes log
entries younger than ``delta.logRetentionDuration`` (30 days), and both keep the commit at
the checkpoint's version.

So expiry, on either backend:

1. sets ``delta.deletedFileRetentionDuration`` to 0 (a metadata-only commit, version V),
   so the checkpoint of V carries no ``remove`` tombstones of the vacuumed files;
2. writes a checkpoint at V (the live files' ``add`` actions, metadata, protocol, txn ids);
3. deletes every log entry below V: commits, checksums, older checkpoints, compacted
   logs, and Hadoop's hidden ``.crc`` files of each;
4. puts the retention property back as it was (version V + 1).

V's own commit holds only the property change. Time travel to any version before V is gone:
that is the point. The caller has vacuumed the table first (the removed files' data).
"""
from __future__ import annotations

import re
from typing import Iterable

RETENTION_PROPERTY = "delta.deletedFileRetentionDuration"
NO_RETENTION = "interval 0 hours"
DEFAULT_RETENTION = "interval 1 weeks"  # Delta's default, where a table never set one
LOG_DIR = "_delta_log"
# A log entry's name starts with its 20-digit version (a checksum file with a dot first).
_VERSIONED = re.compile(r"^\.?(\d{20})\.")


def entries_before(names: Iterable[str], version: int) -> list[str]:
    """The names (relative to ``_delta_log``, sub-folders included) of entries for versions
    below ``version``. ``_last_checkpoint`` and anything unversioned are kept."""
    out = []
    for name in names:
        found = _VERSIONED.match(name.rsplit("/", 1)[-1])
        if found and int(found.group(1)) < version:
            out.append(name)
    return sorted(out)
