"""Generate ``docs/tables.md`` from the table catalog, so the docs never drift from the code."""
from __future__ import annotations

from foryou.lake.catalog import TABLES


def tables_markdown() -> str:
    """The catalog as Markdown: one section per table with its columns."""
    out = [
        "# Tables",
        "",
        "Generated from `lib/foryou/lake/catalog.py` by `make docs`; do not edit by hand.",
        "A table `<layer>.<name>` lives at `<lake.root>/<layer>/<name>` (on Databricks with",
        "`lake.catalog` set: `<catalog>.<layer>.<name>`). Columns marked required must be present",
        "in every write; the others may be left out and arrive as nulls.",
        "",
    ]
    for spec in TABLES:
        out += [f"## `{spec.name}`", "", spec.doc, ""]
        facts = []
        if spec.partition_by:
            facts.append(f"partitioned by `{', '.join(spec.partition_by)}`")
        if spec.key:
            facts.append(f"unique key `({', '.join(spec.key)})`")
        if spec.sort_by:
            facts.append(f"files sorted by `{', '.join(spec.sort_by)}`")
        if facts:
            out += ["- " + "; ".join(facts), ""]
        out += ["| column | type | required | meaning |", "|---|---|---|---|"]
        for c in spec.columns:
            out.append(f"| `{c.name}` | {c.dtype.simpleString()} | {'yes' if c.required else ''} | {c.doc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(tables_markdown(), end="")
