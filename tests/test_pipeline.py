"""The pipeline runner: stage selection, backfill ranges, resume after failure."""
import datetime as dt

import pytest

from foryou.lake.days import date_range
from foryou.pipeline import one_line, select
from foryou.stages import STAGES


def test_from_until_select_an_inclusive_slice_in_dependency_order():
    names = [s.name for s in select(STAGES, "clean", "features")]
    assert names == ["clean", "impressions", "sessionize", "features"]
    assert [s.name for s in select(STAGES, None, "ingest")] == ["generate", "ingest"]


def test_the_pipeline_starts_where_the_data_is():
    """Without --synthetic, `generate` runs only when --from names it."""
    assert select(STAGES, None, "clean", synthetic=False)[0].name == "ingest"
    assert select(STAGES, "generate", "ingest", synthetic=False)[0].name == "generate"


def test_a_crashing_stage_is_one_line_naming_the_java_error():
    err = RuntimeError("An error occurred while calling o123.fit.\n: java.lang.IllegalStateException: "
                       "Haven't seen any document yet.\n\tat org.apache.spark.ml.feature.IDF.fit")
    assert one_line(err) == "IllegalStateException: Haven't seen any document yet."
    assert one_line(ValueError("bad\nmore")) == "ValueError: bad"


def test_bad_selections_are_named():
    with pytest.raises(ValueError, match="--from 'cleaning': unknown stage"):
        select(STAGES, "cleaning", None)
    with pytest.raises(ValueError, match="comes after"):
        select(STAGES, "features", "clean")


def test_backfill_is_one_run_date_after_another():
    days = date_range(dt.date(2024, 5, 30), dt.date(2024, 6, 2))
    assert days == [dt.date(2024, 5, 30), dt.date(2024, 5, 31), dt.date(2024, 6, 1), dt.date(2024, 6, 2)]
    with pytest.raises(ValueError, match="before the start"):
        date_range(dt.date(2024, 6, 2), dt.date(2024, 6, 1))
