"""The ``features`` stage: one day of the point-in-time feature store and its training examples.

Writes ``as_of_date`` = run date of gold.user_features, gold.user_affinities,
gold.item_features and gold.vocabularies (events strictly before the run date, rolled forward
from the latest earlier day) and ``event_date`` = run date of gold.training_examples. When the
run's clean brought events of dates later than the store's last feature day but before the run
date (a historical log ingested at once), the feature days of the last
``features.history_days`` of those dates are built first, so the ranker has examples to train,
validate and test on.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from foryou.config.settings import FeaturesSettings
from foryou.features import columns as C
from foryou.features.bots import detection_quality
from foryou.features.build import build_day, history_dates
from foryou.features.inputs import read_content
from foryou.lake import CommitKey, Lake
from foryou.privacy.pseudonyms import load_key, with_pseudonyms
from foryou.runtime.arrivals import ingest_prefix, reopened_dates
from foryou.stages import StageResult


def run(lake: Lake, settings: FeaturesSettings, run_date: dt.date, key: CommitKey,
        force: bool = False, *, full: bool = False, truth: str | None = None) -> StageResult:
    """Build the run date's feature day (and the history days its clean calls for).

    Args:
        full: recompute from every event before the run date, ignoring earlier days.
        truth: Parquet of raw ``user_id, is_bot`` (a generated world's ``truth/users``): record
            the bot detector's precision and recall.
    """
    with StageResult() as out:  # a failure keeps what was recorded so far
        cfg = settings.features
        if read_content(lake, run_date).isEmpty():
            out.say("  features: no item catalogue (silver.content is empty): no text or content vectors")
        arrived = reopened_dates(lake, run_date, ingest_prefix(run_date, settings.clean))
        history = [] if full else history_dates(lake, run_date, arrived, cfg.history_days)
        if history:
            out.say(f"  history: this run's events reach back to {arrived[0]}; building the feature "
                    f"days of its last {len(history)} event dates first ({history[0]} .. {history[-1]})")
        for day in history:
            past = build_day(lake, cfg, day, key=key.sub(f"history-{day}/"), force=force)
            for write in past.writes.values():
                out.record_write(write)
            examples = past.writes[C.EXAMPLES]
            out.say(f"  as_of {day}: {examples.rows:,} training examples"
                    + (" (already committed)" if examples.skipped else ""))
        out.record("features.history_days", len(history), "dates", dates=[str(d) for d in history])
        result = build_day(lake, cfg, run_date, key=key, force=force, full=full)
        window = result.window
        out.say(f"  as_of {window.as_of}: rolled forward from "
                f"{window.since or 'nothing (full recompute over the history)'}")
        for name, write in result.writes.items():
            out.record_write(write)
            out.record(f"seconds.{name}", result.seconds[name], "s")
            out.say(f"  {name}: {write.rows:,} rows" + (" (already committed)" if write.skipped else ""))
        users = lake.read(C.USER_FEATURES, partitions=[run_date])
        bots = users.where(F.col("suspected_bot")).count()
        out.record("suspected_bots", bots, "users")
        out.say(f"  suspected bots: {bots:,}")
        if truth:
            known = lake.spark.read.parquet(truth).select(C.USER_ID, "is_bot")
            # Truth holds raw ids; the features hold pseudonyms made with the pipeline's key.
            known = with_pseudonyms(known, [C.USER_ID], load_key(settings.privacy, lake.spark).value)
            quality = detection_quality(users, known)
            for name in ("precision", "recall"):
                out.record(f"bot_{name}", quality[name], "ratio", **quality)
            out.say(f"  bot detection: precision {quality['precision']:.3f}, recall "
                    f"{quality['recall']:.3f} (tp {quality['tp']}, fp {quality['fp']}, fn {quality['fn']})")
        return out
