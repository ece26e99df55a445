"""One feature day: roll the state of the latest earlier as_of_date forward by the events
in between, write the five gold tables, and build that day's training examples.

``build_day(lake, cfg, D)`` writes ``as_of_date = D`` of gold.user_features,
gold.user_affinities, gold.item_features and gold.vocabularies (events strictly before
D) and ``event_date = D`` of gold.training_examples. It reads the rows of the latest
as_of_date P < D held by all four state tables and the silver rows of ``[P, D)``; with no
earlier state (or ``full=True``) it reads the whole history before D.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.config.features import FeaturesConfig
from foryou.features import columns as C
from foryou.features.examples import build_examples
from foryou.features.inputs import Inputs, Window, read_inputs
from foryou.features.items import finish_items, item_delta, roll_items, text_features
from foryou.features.users import (affinity_delta, roll_affinities, roll_users, user_items,
                                   weighted_events)
from foryou.features.vocab import context_counts, roll_vocabularies, state_counts
from foryou.lake import CommitKey, Lake, WriteResult

STATE_TABLES = (C.USER_FEATURES, C.USER_AFFINITIES, C.ITEM_FEATURES, C.VOCABULARIES)


@dataclass
class DayResult:
    """What one feature day wrote, and the window it read."""

    window: Window
    writes: dict[str, WriteResult] = field(default_factory=dict)
    # Seconds from the previous table's write to this one's (its compute and its write).
    seconds: dict[str, float] = field(default_factory=dict)


def state_dates(lake: Lake, before: dt.date) -> list[dt.date]:
    """as_of_dates earlier than ``before`` held by every state table, oldest first."""
    common: set[dt.date] | None = None
    for name in STATE_TABLES:
        if not lake.exists(name):
            return []
        # bounded: one row per feature day
        dates = {r[0] for r in lake.read(name).where(F.col(C.AS_OF_DATE) < F.lit(before))
                 .select(C.AS_OF_DATE).distinct().collect()}
        common = dates if common is None else common & dates
    return sorted(common or ())


@dataclass
class State:
    """The four state tables of one as_of_date (gold rows, or frames not yet written)."""

    affinities: DataFrame
    users: DataFrame
    items: DataFrame
    vocab: DataFrame


def read_state(lake: Lake, as_of: dt.date) -> State:
    """The state tables' rows of ``as_of``."""
    return State(*(lake.read(name, partitions=[as_of]) for name in
                   (C.USER_AFFINITIES, C.USER_FEATURES, C.ITEM_FEATURES, C.VOCABULARIES)))


def _keep(name: str, df: DataFrame) -> DataFrame:
    return df


def compute_state(inputs: Inputs, previous: State | None, window: Window, cfg: FeaturesConfig,
                  materialize: Callable[[str, DataFrame], DataFrame] = _keep) -> State:
    """Roll ``previous`` (the state of ``window.since``) forward by ``inputs`` (the silver rows
    of the window). ``materialize(table, df)`` is called on each table as soon as it is
    built, and what it returns is used downstream (a write and read-back in :func:`build_day`)."""
    if (previous is None) != (window.since is None):
        raise ValueError(f"window since={window.since} needs the state of that date, and only then")
    ev = weighted_events(inputs.events, window, cfg).persist()
    try:
        items_of_users = user_items(ev, inputs.content, cfg).persist()
        affinities = roll_affinities(previous and previous.affinities,
                                     affinity_delta(ev, items_of_users, inputs.content,
                                                    inputs.impressions), window, cfg)
        affinities = materialize(C.USER_AFFINITIES, affinities)
        users = roll_users(previous and previous.users, ev, items_of_users, inputs.sessions,
                           affinities, window, cfg)
        users = materialize(C.USER_FEATURES, users)
        items_of_users.unpersist()
        item_state = roll_items(previous and previous.items,
                                item_delta(inputs.impressions, window, cfg), window, cfg)
        items = finish_items(item_state, text_features(inputs.content, cfg), affinities, window, cfg)
        items = materialize(C.ITEM_FEATURES, items)
        vocab = roll_vocabularies(previous and previous.vocab, state_counts(users, items),
                                  context_counts(ev), window, cfg)
        vocab = materialize(C.VOCABULARIES, vocab)
    finally:
        ev.unpersist()
    return State(affinities, users, items, vocab)


def history_dates(lake: Lake, as_of: dt.date, arrived: list[dt.date], days: int) -> list[dt.date]:
    """The earlier dates to build feature days for before ``as_of``: the last ``days`` of the
    event dates in ``arrived`` (those a run's clean wrote to) later than every feature day the
    store holds. Empty for a live deployment, whose late data lands on days it already built."""
    held = state_dates(lake, as_of)
    newer = sorted(d for d in set(arrived) if d < as_of and (not held or d > held[-1]))
    return newer[-days:] if days else []


def examples_of(lake: Lake, state: State, date: dt.date, cfg: FeaturesConfig) -> DataFrame:
    """The training examples of ``date`` from its impressions and the state of as_of ``date``."""
    day = lake.read_or_empty(C.IMPRESSIONS, [date])
    return build_examples(day, state.users, state.items, state.affinities, state.vocab, date, cfg)


def build_day(lake: Lake, cfg: FeaturesConfig, as_of: dt.date, key: CommitKey | None = None,
              force: bool = False, full: bool = False) -> DayResult:
    """Build and write the feature day ``as_of`` (see the module docstring)."""
    earlier = [] if full else state_dates(lake, as_of)
    window = Window(as_of, earlier[-1] if earlier else None)
    result = DayResult(window)
    inputs = read_inputs(lake, window, cfg.session_max_days)
    previous = read_state(lake, window.since) if window.since is not None else None

    clock = [time.perf_counter()]

    def write(name: str, df: DataFrame) -> DataFrame:
        part_key = None if key is None else key.sub(name)
        result.writes[name] = lake.replace_partitions(name, df, partitions=[as_of], key=part_key,
                                                      force=force)
        now = time.perf_counter()
        result.seconds[name], clock[0] = now - clock[0], now
        return lake.read(name, partitions=[as_of])

    state = compute_state(inputs, previous, window, cfg, write)
    write(C.EXAMPLES, examples_of(lake, state, as_of, cfg))
    return result
