"""Errors the lake layer raises; each names the table and what was wrong."""


class LakeError(RuntimeError):
    """Base class for lake failures."""


class SchemaMismatch(LakeError):
    """A frame does not fit a table's declared schema; the table was not changed."""


class PartitionMismatch(LakeError):
    """Files would land outside the partitions a replace was asked to touch."""


class ConcurrentWriteError(LakeError):
    """Another writer holds the table, or changed it under a read-modify-write."""


class TableNotFound(LakeError):
    """The table has not been created yet."""


def vacuumed_version_message(table: str, version: int) -> str:
    """Why a version cannot be restored or read although it is in the log."""
    return (f"{table}: version {version} cannot be restored: VACUUM has removed its data files "
            "(time travel reaches back lake.vacuum_retention_hours, and forget-users vacuums "
            "at once); restore a newer version (`foryou history` lists them)")
