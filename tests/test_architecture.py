"""The library's shape: dependencies point down, and nothing pulls a big table to the driver.

The import graph of ``lib/foryou`` between its packages and top-level modules follows the
layers below, bottom first (DESIGN.md's layout; STYLE.md).

An import is read from the source (``import foryou.x`` / ``from foryou.x import ...``; those
under ``if TYPE_CHECKING:`` are for type checkers only and are not followed). A unit may import
units of lower layers, and units of its own layer only on the top one (entry points). A new
package must be placed in a layer here.
"""
from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib" / "foryou"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("stages", "connectors"),             # leaves: the stage list and what a run returns, JARs
    ("world",),                           # the synthetic world (and its generate stage)
    ("config",),                          # every section, what each stage reads, the assembly
    ("spark",),
    ("lake",),
    ("runtime", "privacy"),
    ("quality",),
    ("ingest", "clean"),                  # the stages, in the data flow's order
    ("stream",),                          # Kafka to bronze and silver, as ingest + clean do
    ("impressions",),
    ("sessions",),
    ("features",),
    ("embeddings",),
    ("ranking",),
    ("candidates",),
    ("rerank",),
    ("export",),
    ("serving", "simulator"),
    ("monitoring",),
    ("evaluation",),
    ("cli", "pipeline", "demo", "demo_stream", "deploy", "notebook"),  # entry points
)
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}

def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "foryou" and len(parts) > 1 else None


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    return skipped


def edges() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the files that make the edge."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(LIB.rglob("*.py")):
        rel = path.relative_to(LIB)
        source = rel.parts[0].removesuffix(".py")
        if source == "__init__":
            continue
        tree = ast.parse(path.read_text())
        skipped = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = ([_unit(f"{node.module}.{a.name}") for a in node.names]
                           if node.module == "foryou" else [_unit(node.module)])
            elif isinstance(node, ast.Import):
                targets = [_unit(a.name) for a in node.names]
            else:
                continue
            for target in targets:
                if target and target != source and target != "__version__":
                    found.setdefault((source, target), []).append(str(rel))
    return found


def test_every_package_has_a_layer():
    units = {p.name.removesuffix(".py") for p in LIB.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert units - {"__init__"} == set(LAYER), "place the new package in LAYERS"


def test_imports_point_down():
    wrong = {}
    for (source, target), files in edges().items():
        top = source in LAYERS[-1] and target in LAYERS[-1]
        if LAYER[target] < LAYER[source] or top:
            continue
        wrong[(source, target)] = sorted(set(files))
    assert not wrong, "imports that run up or sideways:\n" + "\n".join(
        f"  {s} -> {t}: {', '.join(f)}" for (s, t), f in sorted(wrong.items()))


def test_entry_points_form_no_cycle():
    graph: dict[str, set[str]] = {}
    for source, target in edges():
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = [u for u in LAYERS[-1] if reaches(u, u, {u})]
    assert not cycles, f"import cycles through {cycles}"


def test_every_collect_to_the_driver_says_why_it_is_bounded():
    """Nothing collects a big table to the driver (10^9 events, 10^8 users on a cluster): each
    ``.collect()`` / ``.toPandas()`` in the library sits under a ``# bounded: <why>`` comment
    (one row per date, per source, a sample...). A new one must say why it stays small."""
    unsaid = []
    for path in sorted(LIB.rglob("*.py")):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("collect", "toPandas")):
                continue
            if isinstance(node.func.value, ast.Name) and node.func.value.id == "gc":
                continue
            stmt = node
            while not isinstance(stmt, ast.stmt):
                stmt = parents[stmt]
            above = lines[stmt.lineno - 2].strip() if stmt.lineno > 1 else ""
            if not above.startswith("# bounded: ") or len(above) <= len("# bounded: "):
                unsaid.append(f"{path.relative_to(LIB)}:{stmt.lineno}")
    assert not unsaid, "collect()/toPandas() without '# bounded: <why>' above: " + ", ".join(unsaid)


# The top layer and the infrastructure that is built from the whole config (the session, the
# lake and the entry points); every other unit takes the sections it reads.
WHOLE_CONFIG = {"config", "runtime", "spark", "lake", *LAYERS[-1]}


def test_only_the_entry_points_take_the_whole_config():
    """Stages take their own settings (foryou.config.settings), never the assembled Config:
    what a stage reads is written down once, and no stage reaches into another's section."""
    found = []
    for path in sorted(LIB.rglob("*.py")):
        rel = path.relative_to(LIB)
        if rel.parts[0].removesuffix(".py") in WHOLE_CONFIG:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            whole = ("foryou.config", "foryou.config.model")
            if isinstance(node, ast.ImportFrom) and node.module in whole \
                    and any(a.name == "Config" for a in node.names):
                found.append(f"{rel}:{node.lineno}")
    assert not found, "the whole Config imported outside the entry points: " + ", ".join(found)


def test_every_stage_has_one_entry_of_the_same_shape():
    """Each stage of foryou.stages.STAGES runs through ``foryou.<package>.stage.run(lake,
    settings, run_date, key, force, *, options...) -> StageResult``, which the jobs and the
    pipeline call directly; its settings are one of foryou.config.settings' bundles."""
    import inspect

    from foryou.config import settings as S
    from foryou.pipeline import ENTRIES
    from foryou.stages import STAGES

    assert list(ENTRIES) == [s.name for s in STAGES]
    for name, (entry, settings) in ENTRIES.items():
        assert entry.__name__ == "run" and entry.__module__.endswith(".stage"), name
        assert entry.__module__.split(".")[1] in LAYER, name
        params = list(inspect.signature(entry).parameters.values())
        assert [p.name for p in params[:5]] == ["lake", "settings", "run_date", "key", "force"], name
        assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in params[5:]), name
        assert params[1].annotation == settings.__name__, name
        assert settings.__module__ == S.__name__ and inspect.signature(entry).return_annotation \
            == "StageResult", name
        job = (LIB.parents[1] / "jobs" / f"{name.replace('-', '_')}.py").read_text()
        assert "import stage" in job and settings.__name__ in job, f"jobs/{name} bypasses its entry"


def test_the_pipeline_demos_and_notebooks_call_the_stages_not_the_command_line():
    """The library runs stages through their entries (foryou.pipeline.run_stage); only the
    ``foryou`` command itself, and the demo's one operator command, go through jobs/."""
    calls = {unit: {t for (s, t) in edges() if s == unit} for unit in ("pipeline", "notebook",
                                                                       "demo_stream")}
    assert all("cli" not in targets for targets in calls.values()), calls


def _literals(tree: ast.AST) -> list[ast.Constant]:
    """String constants that are not docstrings."""
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_table_and_key_column_names_are_spelled_once():
    """Table names and the key columns live in foryou.lake.vocabulary, beside the catalog; code
    refers to them by constant (the world, below the lake, and the config's defaults, which are
    what a YAML file would say, spell their own)."""
    import re

    table = re.compile(r"^(bronze|silver|gold)\.[a-z_]+$")
    keys = {"user_id", "content_id", "creator_id", "event_date", "event_ts"}
    # Other systems' names that happen to be ours: KuaiRand's own log column, and the folder
    # names a Hive-style partitioned export uses.
    foreign = {("ingest/kuairand.py", "user_id"), ("ingest/sources.py", "event_date")}
    found = []
    for path in sorted(LIB.rglob("*.py")):
        rel = path.relative_to(LIB)
        if rel.parts[0] in ("world", "config") or str(rel) == "lake/vocabulary.py":
            continue
        for node in _literals(ast.parse(path.read_text())):
            if (str(rel), node.value) in foreign:
                continue
            if table.match(node.value) or node.value in keys:
                found.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not found, "names spelled outside foryou.lake.vocabulary: " + ", ".join(found)
