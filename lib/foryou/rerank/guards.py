"""Guards: what a feed may not contain and how concentrated it may be.

- engagement farming: items whose engagement comes mostly from suspected bots (the feature
  store's ``suspected_bot``) are dropped (creator-level spam is already cut by the pool);
- negative feedback: items the user hid or reported are dropped (again, after the pool);
- loop prevention: an item exported to the user in the previous ``repeat_days`` runs is dropped;
  at most ``max_per_creator`` / ``max_per_tag`` items per creator / tag in the first
  ``cap_window`` positions (:func:`apply_caps`, per user);
- over-personalisation: at most ``max_top_interest_share`` of a list carries the user's
  strongest interest tag;
- homogenisation (:func:`homogenisation`): how alike users' lists are, written to gold.metrics.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Sequence

from pyspark.sql import DataFrame, Window as W
from pyspark.sql import functions as F

from foryou.config.rerank import GuardsConfig
from foryou.lake import Lake
from foryou.lake.vocabulary import CONTENT_ID, GOLD_USER_CANDIDATES as EXPORT, USER_ID

ENGAGEMENT_EVENTS = ("like", "comment", "share", "save", "follow")
# Users per hash bucket of the homogenisation pairing (pairs never cross buckets).
USERS_PER_BUCKET = 10_000


def apply_caps(order: Sequence[int], creators: Sequence[str | None],
               tags: Sequence[Sequence[str] | None], n: int, cfg: GuardsConfig,
               top_interest: str | None = None) -> list[int]:
    """Up to ``n`` items of ``order`` meeting the creator/tag caps and the interest share.

    Positions below ``cap_window`` take only items that keep every creator at most
    ``max_per_creator`` and every tag at most ``max_per_tag``; an item that would break a cap
    is deferred past the window (in its original order). When the candidates cannot fill the
    window, the deferred items are dropped rather than break a cap. Over the whole list at most
    ``floor(max_top_interest_share * n)`` (at least 1) items carry ``top_interest``.
    """
    n = min(n, len(order))
    interest_limit = max(1, math.floor(cfg.max_top_interest_share * n))
    by_creator: Counter = Counter()
    by_tag: Counter = Counter()
    interest = 0
    out: list[int] = []
    taken: set[int] = set()

    def carries_interest(i: int) -> bool:
        return top_interest is not None and top_interest in (tags[i] or ())

    for i in order:
        if len(out) >= min(n, cfg.cap_window):
            break
        item_tags = set(tags[i] or ())
        if creators[i] is not None and by_creator[creators[i]] >= cfg.max_per_creator:
            continue
        if any(by_tag[t] >= cfg.max_per_tag for t in item_tags):
            continue
        if carries_interest(i) and interest >= interest_limit:
            continue
        out.append(i); taken.add(i)
        by_creator[creators[i]] += 1
        by_tag.update(item_tags)
        interest += carries_interest(i)
    if len(out) < cfg.cap_window:
        return out
    for i in order:
        if len(out) >= n:
            break
        if i in taken or (carries_interest(i) and interest >= interest_limit):
            continue
        out.append(i); taken.add(i)
        interest += carries_interest(i)
    return out


def farmed_items(events: DataFrame, bot_users: DataFrame, cfg: GuardsConfig) -> DataFrame:
    """content_id, bot_share of items whose engagement (like, comment, share, save, follow
    events in ``events``, already cut to the window) comes mostly from suspected bots."""
    bots = bot_users.select(USER_ID, F.lit(1).alias("_bot")).distinct()
    eng = (events.where(F.col("event_type").isin(*ENGAGEMENT_EVENTS) & F.col(CONTENT_ID).isNotNull())
           .select(USER_ID, CONTENT_ID).join(bots, USER_ID, "left"))
    per_item = eng.groupBy(CONTENT_ID).agg(
        F.count(F.lit(1)).alias("_total"), F.sum(F.coalesce(F.col("_bot"), F.lit(0))).alias("_bots"))
    return (per_item.where(F.col("_total") >= cfg.farm_min_engagements)
            .withColumn("bot_share", F.col("_bots") / F.col("_total"))
            .where(F.col("bot_share") >= cfg.farm_bot_share).select(CONTENT_ID, "bot_share"))


def previous_exports(lake: Lake, as_of: dt.date, days: int, max_versions: int = 50) -> DataFrame | None:
    """Distinct (user_id, content_id) exported for a run date in ``[as_of - days, as_of)``,
    read from the export table's earlier versions (each version is one run's full export);
    None when there is nothing to read."""
    if days <= 0 or not lake.exists(EXPORT):
        return None
    since = as_of - dt.timedelta(days=days)
    frames = []
    for commit in lake.history(EXPORT, limit=max_versions):
        df = lake.read(EXPORT, version=commit.version)
        if "as_of_date" not in df.columns:
            continue
        frames.append(df.where((F.col("as_of_date") >= F.lit(since)) & (F.col("as_of_date") < F.lit(as_of)))
                      .select(USER_ID, CONTENT_ID))
    if not frames:
        return None
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out.distinct()


def homogenisation(export: DataFrame, top_items: int = 100) -> dict[str, float]:
    """How alike users' lists are (1 = everybody gets the same feed).

    - ``top_items_share``: share of all exported slots held by the ``top_items`` most exported
      items;
    - ``neighbour_jaccard``: mean Jaccard similarity of each user's item set with the next
      user's in a hash order (an unbiased sample of random pairs, linear in the export size).
    """
    per_item = export.groupBy(CONTENT_ID).agg(F.count(F.lit(1)).alias("_n"))
    totals = per_item.agg(F.sum("_n").alias("_all")).first()
    total = totals["_all"] or 0
    if total == 0:
        return {"top_items_share": 0.0, "neighbour_jaccard": 0.0, "users": 0.0}
    top = per_item.orderBy(F.col("_n").desc(), CONTENT_ID).limit(top_items).agg(F.sum("_n")).first()[0]
    # Users hashed into buckets, each paired with the next one in its bucket (no global sort).
    n_users = export.select(USER_ID).distinct().count()
    buckets = max(1, n_users // USERS_PER_BUCKET)
    users = (export.select(USER_ID).distinct().withColumn("_h", F.xxhash64(USER_ID))
             .withColumn("_b", F.pmod("_h", F.lit(buckets))))
    ring = (users.withColumn("_next", F.lead(USER_ID).over(W.partitionBy("_b").orderBy("_h", USER_ID)))
            .where(F.col("_next").isNotNull()))
    sizes = export.groupBy(USER_ID).agg(F.countDistinct(CONTENT_ID).alias("_size"))
    items = export.select(USER_ID, CONTENT_ID).distinct()
    common = (ring.join(items, USER_ID)
              .join(items.withColumnRenamed(USER_ID, "_next"), ["_next", CONTENT_ID])
              .groupBy(USER_ID, "_next").agg(F.count(F.lit(1)).alias("_common")))
    pairs = (ring.select(USER_ID, "_next").join(common, [USER_ID, "_next"], "left")
             .join(sizes, USER_ID)
             .join(sizes.withColumnRenamed(USER_ID, "_next").withColumnRenamed("_size", "_next_size"), "_next")
             .select((F.coalesce("_common", F.lit(0)) /
                      (F.col("_size") + F.col("_next_size") - F.coalesce("_common", F.lit(0)))).alias("_j")))
    jac = pairs.agg(F.avg("_j"), F.count(F.lit(1))).first()
    return {"top_items_share": float(top) / float(total),
            "neighbour_jaccard": float(jac[0]) if jac[1] else 0.0,
            "users": float(n_users)}
