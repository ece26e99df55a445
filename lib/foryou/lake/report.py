"""Plain-text views of the lake for operators: the table list and a table's history."""
from __future__ import annotations

from foryou.lake.store import Lake


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def tables_text(lake: Lake) -> str:
    """One line per catalog table: version, rows, size, files and last operation."""
    rows = [["table", "version", "rows", "size", "files", "last operation", "last commit (UTC)"]]
    for name in lake.tables():
        info = lake.describe(name)
        if info.version is None:
            rows.append([name, "-", "-", "-", "-", "(not created)", "-"])
            continue
        when = info.last_commit.strftime("%Y-%m-%d %H:%M:%S") if info.last_commit else "-"
        rows.append([name, str(info.version), f"{info.rows:,}", _size(info.size_bytes),
                     str(info.files), info.last_operation or "-", when])
    where = f"lake root: {lake.settings.root} (backend: {lake.backend_name}"
    if lake.settings.catalog:
        where += f", catalog tables {lake.settings.catalog}.<layer>.<name>"
    return where + ")\n" + _table(rows)


def history_text(lake: Lake, name: str, limit: int | None = None) -> str:
    """A table's commits, newest first, with operation, parameters and commit key."""
    rows = [["version", "timestamp (UTC)", "operation", "parameters", "commit key"]]
    for commit in lake.history(name, limit):
        shown = ", ".join(f"{k}={v}" for k, v in commit.parameters.items()
                          if k in ("mode", "predicate", "version", "partitionBy"))
        rows.append([str(commit.version), commit.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                     commit.operation, shown or "-", commit.key or "-"])
    return _table(rows)
