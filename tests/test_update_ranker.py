"""The ranker within the day: streamed training examples, vocabulary growth, update-ranker.

Streamed examples are checked against the daily job's rows of the same impressions (on the
gold world), written only once closed and once each, and replaced by the daily job; growth on
a synthetic model (no Spark); ``foryou update-ranker`` end to end on a copy of the fed world:
its champion fine-tuned on the examples after its data end, with grown tables, lineage tags,
the gate and a rollback.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import mlflow
import pytest
import torch
from pyspark.sql import functions as F

from foryou.cli import main as foryou
from foryou.config.ranking import RankingConfig
from foryou.config.settings import FeaturesSettings, RankingSettings
from foryou.features import columns as C
from foryou.features.build import STATE_TABLES, read_state
from foryou.features.examples import BATCH, STREAM
from foryou.features.streamed import close_delay, open_dates, streamed_rows, write_streamed
from foryou.ranking import registry
from foryou.ranking.data import iter_batches
from foryou.ranking.growth import grow
from foryou.ranking.model import MultiTaskRanker
from foryou.ranking.scoring import predict
from foryou.ranking.spec import FeatureSpec
from foryou.ranking.synthetic import write_examples
from foryou.ranking.update import champion

UTC = dt.timezone.utc
# What the update may move a known id's probability by, on average over the held-out rows
# (the fine-tune's learning rate is a tenth of the daily run's; measured ~0.01 here).
SCORE_SHIFT_TOLERANCE = 0.05


def _day_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=UTC)


def _compared(df):
    return df.drop(C.ORIGIN, C.FEATURES_AS_OF)


def test_streamed_examples_equal_the_daily_rows_of_the_same_impressions(gold_world, tmp_path):
    """With the same state, a streamed row is the daily job's row: same labels, features, indices."""
    config, lake = gold_world.copy(tmp_path)
    day = gold_world.dates[-1]
    cfg = FeaturesSettings.of(config).features
    streamed = streamed_rows(lake, cfg, day, _day_end(day) + dt.timedelta(hours=1), as_of=day)
    daily = lake.read(C.EXAMPLES, partitions=[day])
    assert streamed.count() == daily.count() > 100
    assert not _compared(streamed).exceptAll(_compared(daily)).limit(1).collect()
    assert not _compared(daily).exceptAll(_compared(streamed)).limit(1).collect()
    assert {r[0] for r in streamed.select(C.ORIGIN).distinct().collect()} == {STREAM}
    assert {r[0] for r in daily.select(C.ORIGIN).distinct().collect()} == {BATCH}


def test_streamed_examples_are_closed_rows_written_once_then_replaced_by_the_daily_job(
        gold_world, tmp_path):
    config, lake = gold_world.copy(tmp_path)
    day, before = gold_world.dates[-1], gold_world.dates[-2]
    cfg = FeaturesSettings.of(config).features
    daily_rows = lake.read(C.EXAMPLES, partitions=[day]).count()
    # The last day as it is while it streams: no feature day, no examples yet.
    for name in STATE_TABLES:
        lake.delete(name, f"as_of_date = '{day}'")
    lake.delete(C.EXAMPLES, f"event_date = '{day}'")
    assert open_dates(lake)[0] == [day]

    noon = dt.datetime.combine(day, dt.time(12), tzinfo=UTC)
    first = write_streamed(lake, cfg, "test", until=noon)
    assert first.closed_until == noon - close_delay(cfg) and first.dates == {day: before}
    rows = lake.read(C.EXAMPLES, partitions=[day])
    assert rows.count() == first.written > 0
    # Only closed impressions, featured with the state of the day before, marked as streamed.
    # bounded: one row
    summary = rows.agg(F.max(C.EVENT_TS).cast("double"), F.collect_set(C.ORIGIN),
                       F.collect_set(C.FEATURES_AS_OF)).first()
    assert summary[0] <= first.closed_until.timestamp()
    assert summary[1] == [STREAM] and summary[2] == [before]

    again = write_streamed(lake, cfg, "test", until=noon)
    assert again.written == 0 and lake.read(C.EXAMPLES, partitions=[day]).count() == first.written
    later = write_streamed(lake, cfg, "test", until=_day_end(day) + dt.timedelta(hours=1))
    total = lake.read(C.EXAMPLES, partitions=[day]).count()
    assert later.written > 0 and total == first.written + later.written
    # Every impression of the day is there once (the state differs, the rows do not).
    assert total == daily_rows
    # By default the horizon is the newest event as the stream's watermark takes it (here,
    # with no stream, the 99th percentile of the open day's event times): inside the day.
    default = write_streamed(lake, cfg, "test")
    assert default.horizon.date() in (day, day + dt.timedelta(days=1)) and default.written == 0

    # The daily job builds the day (forced: the copied world had built it before the test
    # took it back): its rows replace the streamed ones.
    code = foryou(["features", "--run-date", str(day), "--force",
                   *gold_world.args(Path(config.lake.root))])
    assert code == 0
    built = lake.read(C.EXAMPLES, partitions=[day])
    assert built.count() == daily_rows
    assert {r[0] for r in built.select(C.ORIGIN).distinct().collect()} == {BATCH}
    assert open_dates(lake)[0] == []


def test_growing_keeps_every_old_row_and_every_score(tmp_path):
    files = write_examples(tmp_path, n_files=1, rows_per_file=300)
    cfg = RankingConfig(threads=1)
    spec = FeatureSpec.from_files(files, cfg)
    model = MultiTaskRanker(spec, cfg)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    sizes = {"item": spec.vocab_sizes["item"] + 7, "user": spec.vocab_sizes["user"] + 3,
             "tag": spec.vocab_sizes["tag"] - 5}  # a smaller size never shrinks a table
    new_spec, new_state, grown = grow(spec, state, cfg, sizes)
    assert grown == {"item": (spec.vocab_sizes["item"], sizes["item"]),
                     "user": (spec.vocab_sizes["user"], sizes["user"])}
    assert new_spec.vocab_sizes["tag"] == spec.vocab_sizes["tag"]
    old_items = state["embedding.tables.item.weight"]
    new_items = new_state["embedding.tables.item.weight"]
    assert torch.equal(new_items[:len(old_items)], old_items)
    assert torch.equal(new_items[len(old_items):], old_items[:1].expand(7, -1))

    grown_model = MultiTaskRanker(new_spec, cfg)
    grown_model.load_state_dict(new_state)
    batch = next(iter_batches(files, spec, 128, shuffle=False))
    before, after = predict(model, batch), predict(grown_model, batch)
    for head in spec.tasks:
        assert torch.equal(before[head], after[head])
    # A new item scores as the out-of-vocabulary item did before the growth.
    newer = {**batch, "item_index": torch.full_like(batch["item_index"], sizes["item"] - 1)}
    oov = {**batch, "item_index": torch.zeros_like(batch["item_index"])}
    assert torch.equal(predict(grown_model, newer)["click"], predict(model, oov)["click"])


def test_update_ranker_fine_tunes_the_champion_with_new_ids_lineage_and_the_gate(fed_world, tmp_path):
    config, lake = fed_world.copy(tmp_path)
    settings = RankingSettings.of(config)
    parent = champion(settings)
    assert parent is not None
    args = fed_world.args(Path(config.lake.root))
    assert foryou(["update-ranker", *args]) == 0
    # The window's Parquet copies served that update only.
    work = Path(config.lake.root) / "_checkpoints" / "update-ranker"
    assert not list(work.rglob("*.parquet")), list(work.rglob("*.parquet"))

    client = registry.configure(config)
    name = config.mlflow.registered_model
    newest = max(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
    tags, version = newest.tags, str(newest.version)
    assert version != parent.version
    assert tags[registry.PARENT] == parent.version and tags[registry.KIND] == "update"
    start, end = (dt.datetime.fromisoformat(tags[k]) for k in (registry.DATA_START, registry.DATA_END))
    assert parent.data_end < start <= end
    metrics = {r["name"]: r for r in lake.read("gold.metrics")
               .where(F.col("stage") == "update-ranker").collect()}
    assert metrics["registered_version"]["value"] == float(version)
    assert metrics["rows.train"]["value"] > 0 and metrics["rows.holdout"]["value"] > 0
    shifts = {k: r["value"] for k, r in metrics.items() if k.startswith("score_shift.")}
    assert shifts and max(shifts.values()) <= SCORE_SHIFT_TOLERANCE, shifts

    # New ids got rows of their own, and the fine-tune moved those its window saw.
    grown = {k.removeprefix("embedding_rows."): r for k, r in metrics.items()
             if k.startswith("embedding_rows.")}
    assert grown, "the world's last day admits new ids after the champion's vocabulary"
    state = torch.load(mlflow.artifacts.download_artifacts(run_id=newest.run_id,
                                                           artifact_path="state_dict.pt"),
                       map_location="cpu", weights_only=True)
    moved = 0
    for kind in set(grown) & {"user", "item", "creator"}:
        old = parent.state[f"embedding.tables.{kind}.weight"]
        new = state[f"embedding.tables.{kind}.weight"]
        assert new.shape[0] == grown[kind]["value"] > old.shape[0]
        moved += int((new[old.shape[0]:] != old[:1]).any(dim=1).sum())
    assert moved > 0

    # The gate decided as the daily training's does; a promotion rolls back to the parent.
    current = registry.champion_version(config, client)
    if metrics["promoted"]["value"]:
        assert current == version
        assert foryou(["rollback-ranker", *args]) == 0
        assert registry.champion_version(config, client) == parent.version
    else:
        assert current == parent.version
        assert str(client.get_model_version_by_alias(name, registry.CHALLENGER).version) == version
