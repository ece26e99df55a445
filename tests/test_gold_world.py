"""The shared gold_world fixture: its copy is a readable, writable lake with every day built."""
from __future__ import annotations

from pyspark.sql import functions as F


def test_gold_world_copy_has_features_and_examples_for_every_day(gold_world, tmp_path):
    config, lake = gold_world.copy(tmp_path)
    dates = {r[0] for r in lake.read("gold.training_examples").select("event_date").distinct().collect()}
    assert dates == set(gold_world.dates)
    assert lake.read("gold.user_features").where(F.col("as_of_date") == gold_world.dates[-1]).count() > 0
    # The copy is private: writing to it leaves the shared build alone.
    before = lake.version("gold.metrics")
    lake.append("gold.metrics", lake.read("gold.metrics").limit(1))
    assert lake.version("gold.metrics") == before + 1
    assert (gold_world.truth / "impressions").is_dir()
