"""The in-session re-ranker's weights, learned at each export from the logged sessions.

The reader re-orders a user's exported list with what the user did in the current session
(:mod:`foryou.rerank.session`); how much each session signal should move an item is learned
here, from the impressions of the last ``rerank.session.days`` days before the run date:

1. a hashed sample of at most ``rerank.session.users`` users with impressions in the window
   (a three-weight model needs thousands of sessions, not the log: the sample is what reaches
   the driver, whatever the log's size);
2. their impressions with the items' tags (``silver.content``), cut into sessions at
   ``sessions.gap_minutes`` of inactivity, as ``foryou sessionize`` cuts them;
3. :func:`foryou.rerank.session.fit` replays each session through the reader's own session
   state and fits the logistic model; the row is appended to ``gold.session_model`` under the
   export run's commit key (a re-run commits nothing twice).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from foryou.config.rerank import SessionRerankConfig
from foryou.lake import CommitKey, Lake, WriteResult, table
from foryou.lake.days import days_before
from foryou.lake.vocabulary import (
    CONTENT_ID, CREATOR_ID, EVENT_TS, GOLD_SESSION_MODEL as TABLE, SILVER_CONTENT as CONTENT,
    SILVER_IMPRESSIONS as IMPRESSIONS, USER_ID,
)
from foryou.rerank.session import LABEL_EVENTS, SessionModel, fit


def sample_sessions(lake: Lake, cfg: SessionRerankConfig, gap_minutes: int, as_of: dt.date
                    ) -> DataFrame:
    """Impressions of the sampled users in the window, with ``tags`` and a ``session`` id
    (:data:`foryou.rerank.session.EXAMPLE_COLUMNS`, plus ``user_id``)."""
    impressions = lake.read(IMPRESSIONS, partitions=days_before(as_of, cfg.days))
    # The users with the lowest hash of (seed, user): a stable sample, a top-k, not a sort.
    users = (impressions.select(USER_ID).distinct()
             .withColumn("_h", F.xxhash64(F.lit(cfg.seed), USER_ID))
             .orderBy("_h").limit(cfg.users).select(USER_ID))
    tags = lake.read_or_empty(CONTENT).select(CONTENT_ID, "tags")
    rows = (impressions.join(F.broadcast(users), USER_ID)
            .select(USER_ID, EVENT_TS, "position", CONTENT_ID, CREATOR_ID,
                    *[F.coalesce(F.col(c), F.lit(0)).alias(c) for c in LABEL_EVENTS])
            .join(tags, CONTENT_ID, "left"))
    w = Window.partitionBy(USER_ID).orderBy(EVENT_TS, "position")
    gap = (F.col(EVENT_TS).cast("long") - F.lag(EVENT_TS).over(w).cast("long")) > gap_minutes * 60
    starts = F.sum(F.when(gap, 1).otherwise(0)).over(w.rowsBetween(Window.unboundedPreceding, 0))
    return rows.withColumn("session", F.concat_ws("|", USER_ID, starts.cast("string")))


def train_session_model(lake: Lake, cfg: SessionRerankConfig, gap_minutes: int, as_of: dt.date
                        ) -> SessionModel | None:
    """The session model learned from the window before ``as_of``; None when the window has
    no impressions to learn from (an interaction log, or too few rows: see ``fit``)."""
    if not lake.exists(IMPRESSIONS):
        return None
    # bounded: at most rerank.session.users users' impressions over rerank.session.days days
    frame = sample_sessions(lake, cfg, gap_minutes, as_of).toPandas()
    try:
        return fit(frame, label=cfg.label, seed=cfg.seed,
                   trained_until=(as_of - dt.timedelta(days=1)).isoformat())
    except ValueError:
        return None


def write_session_model(lake: Lake, model: SessionModel, as_of: dt.date, key: CommitKey | None,
                        force: bool = False) -> WriteResult:
    """Append the run's row to ``gold.session_model`` (one commit, under ``key``)."""
    row = pd.DataFrame({"run_date": [as_of], "model": [model.to_json()],
                        "examples": [model.examples], "auc_gain": [model.auc_gain],
                        "trained_at": [dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)]})
    frame = lake.spark.createDataFrame(row, schema=table(TABLE).schema)
    return lake.append(TABLE, frame, key=key, force=force)
