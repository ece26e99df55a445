"""Every notebook in notebooks/ runs, cell by cell, on a copy of the tiny gold world.

A notebook is split at its ``# COMMAND ----------`` markers; ``# MAGIC`` (markdown) cells are
skipped and the Python cells run in one namespace whose ``spark`` is the test session, as on
Databricks. The stages a notebook reads beyond the fixture's (features) are run first through
``foryou <stage>``, the way the pipeline runs them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from foryou.cli import main as foryou
from foryou.notebook import HEADER, SEPARATOR, cells, run_notebook
from foryou.stages import stage_names
from worlds import FEED_STAGES

pytestmark = [pytest.mark.notebooks, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

# The stages each notebook reads beyond what the gold_world fixture built (through features),
# run first. The fed_world fixture has run the UPSTREAM stages already; the others run here on
# the notebooks' copy.
UPSTREAM = FEED_STAGES
NEEDS: dict[str, list[str]] = {
    "01_explore_events_and_sessions.py": [],
    "02_features.py": [],
    "03_train_and_inspect_ranker.py": ["train-ranker"],
    "04_user_candidates.py": list(UPSTREAM),
    "05_evaluation.py": ["evaluate", *UPSTREAM],
}
# Kept small for speed: the simulator section of evaluate is the slowest part, and no notebook
# reads it (tests/test_simulator.py runs evaluate with it).
EXTRA_ARGS = {"evaluate": ["--no-simulate"]}


def test_every_notebook_is_listed_and_in_databricks_source_format():
    found = sorted(p.name for p in NOTEBOOKS.glob("*.py"))
    assert found == sorted(NEEDS), "a notebook is missing from NEEDS (or NEEDS names a missing one)"
    for name in found:
        text = (NOTEBOOKS / name).read_text()
        assert "# MAGIC %md" in text, f"{name}: no markdown cell"
        assert len(cells(NOTEBOOKS / name)) >= 3, f"{name}: fewer than three code cells"
        # Notebooks call lib/ only: no pipeline writes of their own.
        for verb in (".append(", ".overwrite(", ".replace_partitions(", ".insert_new(",
                     ".write.", "saveAsTable"):
            assert verb not in text, f"{name}: writes ({verb}) belong in lib/ and jobs/"


def _plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.py"
    path.write_text("x = 1\n")
    return path


def test_cells_splits_at_command_markers_and_drops_markdown(tmp_path):
    nb = tmp_path / "x.py"
    nb.write_text(f"{HEADER}\n# MAGIC %md\n# MAGIC # Title\n\n{SEPARATOR}\n\nx = 1\n\n"
                  f"{SEPARATOR}\n\ny = x + 1\n")
    assert [c.strip() for c in cells(nb)] == ["x = 1", "y = x + 1"]
    assert run_notebook(nb)["y"] == 2
    bad = tmp_path / "bad.py"
    bad.write_text(f"{HEADER}\nx = 1\n{SEPARATOR}\nraise RuntimeError('cell two')\n")
    with pytest.raises(RuntimeError, match="cell two"):
        run_notebook(bad)
    with pytest.raises(ValueError, match="not a Databricks source notebook"):
        cells(_plain(tmp_path))


def test_session_and_lake_reads_databricks_widgets(spark, tmp_path):
    """With ``dbutils`` in the namespace the parameters come from widgets (created if absent)."""
    from foryou.notebook import session_and_lake

    class Widgets:
        def __init__(self, values):
            self.values, self.created = dict(values), []

        def get(self, name):
            if name not in self.values:
                raise ValueError(f"InputWidgetNotDefined: {name}")
            return self.values[name]

        def text(self, name, default):
            self.created.append(name)
            self.values[name] = default

    class DbUtils:
        widgets = Widgets({"set": f"lake.root={tmp_path}; spark.shuffle_partitions=3",
                           "run_date": "2024-05-02"})

    env = {"FORYOU_SET": "lake.root=/not/this/one"}
    session = session_and_lake({"spark": spark, "dbutils": DbUtils}, environ=env)
    assert session.spark is spark
    assert session.config.lake.root == str(tmp_path)
    assert session.config.spark.shuffle_partitions == 3
    assert str(session.run_date) == "2024-05-02"
    assert DbUtils.widgets.created == ["conf"]

    with pytest.raises(Exception, match="lake.rooot"):
        session_and_lake({"spark": spark}, environ={"FORYOU_SET": "lake.rooot=/x"})
    with pytest.raises(ValueError, match="run_date '05/02'"):
        session_and_lake({"spark": spark}, environ={"FORYOU_RUN_DATE": "05/02"})


@pytest.fixture(scope="module")
def notebook_lake(fed_world, tmp_path_factory):
    """A private copy of the fed world's lake; the stages it lacks are run on it on demand."""
    root = tmp_path_factory.mktemp("notebooks")
    config, lake = fed_world.copy(root)
    return {"world": fed_world, "root": root / "lake", "lake": lake, "ran": set(FEED_STAGES)}


def _prepare(notebook_lake, needs: list[str]) -> None:
    world = notebook_lake["world"]
    run_date = str(world.dates[-1])
    wanted = set(needs)
    for stage in [s for s in stage_names() if s in wanted]:  # pipeline order
        if stage in notebook_lake["ran"]:
            continue
        code = foryou([stage, "--run-date", run_date, *EXTRA_ARGS.get(stage, []),
                       *world.args(notebook_lake["root"])])
        assert code == 0, f"foryou {stage} --run-date {run_date} failed (exit {code})"
        notebook_lake["ran"].add(stage)

@pytest.mark.parametrize("name", sorted(NEEDS))
def test_notebook_runs(name, spark, notebook_lake, monkeypatch, capsys):
    _prepare(notebook_lake, NEEDS[name])
    world = notebook_lake["world"]
    # The notebook's parameters, as a job or a person would set them off Databricks.
    monkeypatch.setenv("FORYOU_SET", ";".join(world.overrides(notebook_lake["root"])))
    monkeypatch.setenv("FORYOU_RUN_DATE", str(world.dates[-1]))
    monkeypatch.delenv("FORYOU_CONF", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = run_notebook(NOTEBOOKS / name, {"spark": spark})
    assert namespace["lake"].settings.root == str(notebook_lake["root"])
    assert capsys.readouterr().out.strip(), f"{name} showed nothing"
