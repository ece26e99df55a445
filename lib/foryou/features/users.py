"""User features and user affinities (per tag and creator), rolled forward day by day.

State and features are the same rows: the additive columns of ``gold.user_features`` and
``gold.user_affinities`` (counts, sums, decayed sums, latest times) are merged with the
window's events by one ``groupBy`` each; the derived columns (rates, maps, bot score) are
recomputed from them. Merging the previous state with the events of ``[since, as_of)`` gives
the same result as aggregating every event before ``as_of`` (the full recompute), because
decayed sums roll forward by ``exp(-lambda * shift)`` and every other column is a sum, a
max, a latest-wins or a top-N of distinct items.
"""
from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from foryou.config.features import FeaturesConfig
from foryou.features import bots
from foryou.features import columns as C
from foryou.features.inputs import Window
from foryou.lake import table

# Additive columns of gold.user_features, merged by sum.
SUMMED = (
    "events", *C.USER_COUNTERS, "watch_ms", "engagement", "engagement_decayed", "active_days",
    "sessions", "session_seconds", "session_views", "gaps", "gap_sum_s", "gap_sumsq_s",
    "blind_engagements", "burst_engagements",
)
DECAYED = ("engagement_decayed",)
AFFINITY_SUMMED = ("weight", "decayed_mid", "decayed_long", "last_day")
# Exposure counts of gold.user_affinities (from silver.impressions), merged by sum.
EXPOSURE_SUMMED = ("impressions", "views")

_HIST = "_history"  # array<struct<ts, content_id, tags>> while merging
_FIRST_TS = "_first_ts"
_PREV_LAST_TS = "_prev_last_ts"


def _count(event_type: str) -> Column:
    return F.sum(F.when(F.col(C.EVENT_TYPE) == event_type, 1).otherwise(0)).cast("long")


def weighted_events(events: DataFrame, window: Window, cfg: FeaturesConfig) -> DataFrame:
    """The window's events with ``_age`` (days before as_of) and engagement weight ``_w``."""
    weights = F.create_map(*[F.lit(x) for kv in sorted(cfg.engagement_weights.items()) for x in kv])
    return (events.select(C.EVENT_ID, C.EVENT_TYPE, C.USER_ID, C.EVENT_TS, C.EVENT_DATE,
                          C.CONTENT_ID, C.CREATOR_ID, C.WATCH_MS, C.DEVICE_TYPE, C.OS,
                          C.NETWORK_TYPE)
            .withColumn("_age", window.age())
            .withColumn("_w", F.coalesce(F.try_element_at(weights, F.col(C.EVENT_TYPE)),
                                         F.lit(0.0)).cast("double")))


def _event_delta(ev: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Per user: counters, engagement, active days and inter-event gaps of the window."""
    action = F.col(C.EVENT_TYPE) != C.IMPRESSION
    ts = F.col("_ts")
    n = F.size(ts)
    diffs = F.zip_with(F.slice(ts, 2, F.greatest(n - 1, F.lit(0))),
                       F.slice(ts, 1, F.greatest(n - 1, F.lit(0))), lambda a, b: (a - b) / 1e6)
    # Only gaps inside a stretch of activity say how regular the pace is; the pauses between
    # sessions (or between a farm's bursts) would swamp them.
    diffs = F.filter(diffs, lambda x: x <= cfg.bots.max_gap_s)
    return (ev.groupBy(C.USER_ID).agg(
        F.count(F.lit(1)).alias("events"),
        *[_count(t).alias(name) for name, t in C.USER_COUNTERS.items()],
        F.sum(F.when(F.col(C.EVENT_TYPE) == C.VIEW, F.coalesce(F.col(C.WATCH_MS), F.lit(0)))
              .otherwise(0)).cast("long").alias("watch_ms"),
        F.sum("_w").alias("engagement"),
        F.sum(F.col("_w") * F.exp(-cfg.decay_per_day * F.col("_age"))).alias("engagement_decayed"),
        F.countDistinct(C.EVENT_DATE).alias("active_days"),
        F.max(F.when(action, F.col(C.EVENT_TS))).alias("last_event_ts"),
        F.min(F.when(action, F.col(C.EVENT_TS))).alias(_FIRST_TS),
        F.sort_array(F.collect_list(F.when(action, F.unix_micros(C.EVENT_TS)))).alias("_ts"),
    ).select("*", diffs.alias("_gaps")).select(
        # Staged: the gaps are computed once, not once per use.
        "*",
        F.size("_gaps").cast("long").alias("gaps"),
        F.aggregate("_gaps", F.lit(0.0), lambda acc, x: acc + x).alias("gap_sum_s"),
        F.aggregate("_gaps", F.lit(0.0), lambda acc, x: acc + x * x).alias("gap_sumsq_s"),
    ).drop("_ts", "_gaps"))


def user_items(ev: DataFrame, content: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Per (user, item) of the window: weights, decayed weights, latest time, blind
    engagements (likes/follows on a day without a real view of the item), and the item's
    creator and tags. A view of unknown length (an interaction log's: clean refuses it from
    anywhere else) counts as real: the log cannot say otherwise."""
    real_view = ((F.col(C.EVENT_TYPE) == C.VIEW)
                 & F.coalesce(F.col(C.WATCH_MS) >= cfg.min_view_ms, F.lit(True))
                 | F.col(C.EVENT_TYPE).isin(C.COMPLETE_VIEW, C.REPLAY))
    liked = F.col(C.EVENT_TYPE).isin(C.LIKE, C.FOLLOW)
    # Per day, then per item: numeric buffers keep Spark's compiled hash aggregate, where
    # collecting each pair's days into sets fell back to a sort (2.2x slower, measured).
    daily = (ev.where(F.col(C.CONTENT_ID).isNotNull() & F.col(C.EVENT_TYPE).isin(*C.INTERACTION_TYPES))
             .groupBy(C.USER_ID, C.CONTENT_ID, "_age").agg(
                 F.sum("_w").alias("_w"),
                 F.max(C.EVENT_TS).alias("_ts"),
                 F.max(real_view).alias("_viewed"),
                 F.sum(liked.cast("long")).alias("_liked")))
    w, age = F.col("_w"), F.col("_age")
    uc = daily.groupBy(C.USER_ID, C.CONTENT_ID).agg(
        F.sum(w).alias("weight"),
        F.sum(w * F.exp(-age / cfg.mid_term_days)).alias("decayed_mid"),
        F.sum(w * F.exp(-age / cfg.long_term_days)).alias("decayed_long"),
        F.sum(F.when(age == 1, w).otherwise(0.0)).alias("last_day"),
        F.max("_ts").alias("last_ts"),
        F.sum(F.when(~F.col("_viewed"), F.col("_liked")).otherwise(0)).cast("long").alias("blind_engagements"))
    return uc.join(_item_meta(content), C.CONTENT_ID, "left")


def _item_meta(content: DataFrame) -> DataFrame:
    """Each item's creator (as ``_creator``) and tags, for the per-item rows of a user."""
    return content.select(C.CONTENT_ID, F.col(C.CREATOR_ID).alias("_creator"), C.TAGS)


def served_items(impressions: DataFrame, content: DataFrame) -> DataFrame:
    """Per (user, item) of the window: served impressions and valid plays (the click label)
    among them, so a user's rate on a tag or creator is measured against what the user was
    shown, not only against what the user engaged with."""
    return (impressions.where(F.coalesce(F.col(C.HAS_IMPRESSIONS), F.lit(True)))
            .groupBy(C.USER_ID, C.CONTENT_ID).agg(
                F.count(F.lit(1)).alias("impressions"),
                F.sum(F.coalesce(F.col("click").cast("long"), F.lit(0))).alias("views"))
            .join(_item_meta(content), C.CONTENT_ID, "left"))


def affinity_delta(ev: DataFrame, items: DataFrame, content: DataFrame,
                   impressions: DataFrame) -> DataFrame:
    """Per (user, kind, key) of the window: tag and creator engagement, exposure, follow state."""
    pairs = items.unionByName(served_items(impressions, content), allowMissingColumns=True)
    cols = [C.USER_ID, *AFFINITY_SUMMED, *EXPOSURE_SUMMED, "last_ts"]
    tags = pairs.select(*cols, F.lit(C.TAG_KIND).alias(C.KIND), F.explode(C.TAGS).alias(C.KEY))
    creators = pairs.where(F.col("_creator").isNotNull()).select(
        *cols, F.lit(C.CREATOR_KIND).alias(C.KIND), F.col("_creator").alias(C.KEY))
    follow_events = ev.where(F.col(C.EVENT_TYPE).isin(C.FOLLOW, C.UNFOLLOW))
    owner = _item_meta(content).select(C.CONTENT_ID, "_creator")
    follows = (follow_events.join(owner, C.CONTENT_ID, "left")
               .select(C.USER_ID, F.coalesce(C.CREATOR_ID, "_creator").alias(C.KEY), C.EVENT_TYPE,
                       C.EVENT_TS, C.EVENT_ID)
               .where(F.col(C.KEY).isNotNull())
               .groupBy(C.USER_ID, C.KEY).agg(
                   F.max_by(F.col(C.EVENT_TYPE) == C.FOLLOW,
                            F.struct(C.EVENT_TS, C.EVENT_ID)).alias("followed"),
                   F.max(C.EVENT_TS).alias("follow_ts"))
               .withColumn(C.KIND, F.lit(C.CREATOR_KIND)))
    return tags.unionByName(creators).unionByName(follows, allowMissingColumns=True)


def roll_affinities(previous: DataFrame | None, delta: DataFrame, window: Window,
                    cfg: FeaturesConfig) -> DataFrame:
    """Merge the decayed previous affinities with the window's; one row per (user, kind, key)."""
    parts = delta
    if previous is not None:
        s = window.shift
        prev = previous.select(
            C.USER_ID, C.KIND, C.KEY, "weight",
            (F.col("decayed_mid") * math.exp(-s / cfg.mid_term_days)).alias("decayed_mid"),
            (F.col("decayed_long") * math.exp(-s / cfg.long_term_days)).alias("decayed_long"),
            F.lit(0.0).alias("last_day"), *EXPOSURE_SUMMED, "last_ts", "followed", "follow_ts")
        parts = prev.unionByName(delta, allowMissingColumns=True)
    return (parts.groupBy(C.USER_ID, C.KIND, C.KEY).agg(
        *[F.coalesce(F.sum(c), F.lit(0.0)).alias(c) for c in AFFINITY_SUMMED],
        *[F.coalesce(F.sum(c), F.lit(0)).cast("long").alias(c) for c in EXPOSURE_SUMMED],
        F.max("last_ts").alias("last_ts"),
        F.max_by("followed", "follow_ts").alias("followed"),
        F.max("follow_ts").alias("follow_ts"))
        .withColumn(C.AS_OF_DATE, F.lit(window.as_of)))


def _bursts(ev: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Per user: engagements inside a coordinated burst (many users, one item, one window)."""
    b = cfg.bots
    eng = ev.where(F.col(C.EVENT_TYPE).isin(*C.ENGAGEMENT_TYPES) & F.col(C.CONTENT_ID).isNotNull())
    bucket = F.floor(F.unix_seconds(C.EVENT_TS) / b.burst_window_s)
    return (eng.groupBy(C.CONTENT_ID, bucket.alias("_bucket"))
            .agg(F.collect_list(C.USER_ID).alias("_users"))
            .where(F.size(F.array_distinct("_users")) >= b.burst_min_users)
            .select(F.explode("_users").alias(C.USER_ID))
            .groupBy(C.USER_ID).agg(F.count(F.lit(1)).alias("burst_engagements")))


def _session_delta(sessions: DataFrame) -> DataFrame:
    return sessions.groupBy(C.USER_ID).agg(
        F.count(F.lit(1)).alias("sessions"),
        F.coalesce(F.sum(C.DURATION_S), F.lit(0.0)).alias("session_seconds"),
        F.coalesce(F.sum("views"), F.lit(0)).cast("long").alias("session_views"))


def _history_entries(ts: Column, content_id: Column, tags: Column) -> Column:
    return F.struct(ts.alias("ts"), content_id.alias(C.CONTENT_ID), tags.alias("tags"))


def roll_users(previous: DataFrame | None, ev: DataFrame, items: DataFrame, sessions: DataFrame,
               affinities: DataFrame, window: Window, cfg: FeaturesConfig) -> DataFrame:
    """gold.user_features for ``window.as_of``: the previous state rolled forward by the
    window's events (``ev`` from :func:`weighted_events`, ``items`` from :func:`user_items`),
    plus features derived from the merged affinities."""
    parts = [
        _event_delta(ev, cfg).withColumn(_PREV_LAST_TS, F.lit(None).cast("timestamp")),
        items.groupBy(C.USER_ID).agg(
            F.sum("blind_engagements").alias("blind_engagements"),
            F.collect_list(_history_entries(F.col("last_ts"), F.col(C.CONTENT_ID),
                                            F.col(C.TAGS))).alias(_HIST)),
        _bursts(ev, cfg),
        _session_delta(sessions),
    ]
    if previous is not None:
        decay = math.exp(-cfg.decay_per_day * window.shift)
        prev = previous.select(
            C.USER_ID, *[(F.col(c) * decay).alias(c) if c in DECAYED else F.col(c) for c in SUMMED],
            "last_event_ts", F.col("last_event_ts").alias(_PREV_LAST_TS),
            F.transform(F.arrays_zip("recent_event_ts", "recent_content_ids", "recent_content_tags"),
                        lambda e: _history_entries(e["recent_event_ts"], e["recent_content_ids"],
                                                   e["recent_content_tags"])).alias(_HIST),
        )
        parts.append(prev)
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part, allowMissingColumns=True)
    merged = union.groupBy(C.USER_ID).agg(
        *[F.sum(c).alias(c) for c in SUMMED],
        F.max("last_event_ts").alias("last_event_ts"),
        F.min(_FIRST_TS).alias(_FIRST_TS),
        F.max(_PREV_LAST_TS).alias(_PREV_LAST_TS),
        F.flatten(F.collect_list(_HIST)).alias(_HIST))
    zero = {c: 0 for c in SUMMED}
    merged = merged.fillna(zero)
    # The gap between the previous state's last action and the window's first one.
    boundary = (F.unix_micros(_FIRST_TS) - F.unix_micros(_PREV_LAST_TS)) / 1e6
    has_boundary = (F.col(_FIRST_TS).isNotNull() & F.col(_PREV_LAST_TS).isNotNull()
                    & (boundary <= cfg.bots.max_gap_s))
    merged = (merged
              .withColumn("gaps", F.col("gaps") + F.when(has_boundary, 1).otherwise(0))
              .withColumn("gap_sum_s", F.col("gap_sum_s") + F.when(has_boundary, boundary).otherwise(0.0))
              .withColumn("gap_sumsq_s", F.col("gap_sumsq_s")
                          + F.when(has_boundary, boundary * boundary).otherwise(0.0)))
    merged = _recent(merged, cfg.history_length)
    features = _derived(merged).join(affinity_maps(affinities, window, cfg), C.USER_ID, "left")
    features = bots.score(features, cfg.bots).withColumn(C.AS_OF_DATE, F.lit(window.as_of))
    return features.select(*table(C.USER_FEATURES).schema.fieldNames())


def _recent(df: DataFrame, n: int) -> DataFrame:
    """The last ``n`` distinct items, newest first (ties broken by content id)."""
    # sort_array's natural struct order (ts, then content id) runs compiled; a comparator
    # lambda would be interpreted per comparison.
    newest_first = F.sort_array(F.coalesce(F.col(_HIST), F.array()), asc=False)
    # An item appears at most twice (in the previous history and in the window), so the
    # first 2n entries hold the n newest distinct items. Sorted by item, newest first within
    # an item, an entry repeats an item exactly when the entry before it holds that item:
    # one pass with the previous item zipped alongside, instead of searching the head per
    # entry (quadratic, with the head read inside a lambda: 2x slower, measured).
    by_item = F.sort_array(F.transform("_head", lambda x: F.struct(
        x[C.CONTENT_ID].alias("c"),
        F.coalesce(-F.unix_micros(x["ts"]), F.lit(2**63 - 1)).alias("neg_ts"), x.alias("e"))))
    items = F.col("_by_item")["c"]
    previous = F.slice(F.concat(F.array(F.lit(None).cast("string")), items), 1, F.size("_by_item"))
    first = F.filter(F.arrays_zip("_by_item", "_prev"), lambda z: F.coalesce(
        z["_prev"] != z["_by_item"]["c"], F.lit(True)))
    distinct = F.slice(F.sort_array(F.transform(first, lambda z: z["_by_item"]["e"]), asc=False), 1, n)
    # Staged as separate projections: a column read inside a lambda is then read, not
    # recomputed, per element.
    return (df.withColumn("_head", F.slice(newest_first, 1, 2 * n))
            .withColumn("_by_item", by_item)
            .withColumn("_prev", previous)
            .withColumn(_HIST, distinct).drop("_head", "_by_item", "_prev")
            .withColumn("recent_content_ids", F.transform(_HIST, lambda x: x[C.CONTENT_ID]))
            .withColumn("recent_event_ts", F.transform(_HIST, lambda x: x["ts"]))
            .withColumn("recent_content_tags", F.transform(
                _HIST, lambda x: F.coalesce(x["tags"], F.array().cast("array<string>"))))
            .withColumn("recent_tags", F.array_distinct(F.flatten("recent_content_tags")))
            .drop(_HIST, _FIRST_TS, _PREV_LAST_TS))


def _ratio(num: str | Column, den: Column) -> Column:
    num = F.col(num) if isinstance(num, str) else num
    return F.when(den > 0, num.cast("double") / den).otherwise(0.0)


def _derived(df: DataFrame) -> DataFrame:
    exposures = F.when(F.col("impressions") > 0, F.col("impressions")).otherwise(
        F.col("views") + F.col("skips") + F.col("hides") + F.col("reports"))
    return (df
            .withColumn("avg_session_s", _ratio("session_seconds", F.col("sessions")))
            .withColumn("contents_per_session", _ratio("session_views", F.col("sessions")))
            .withColumn("skip_rate", _ratio("skips", exposures))
            .withColumn("hide_rate", _ratio("hides", exposures))
            .withColumn("report_rate", _ratio("reports", exposures)))


def _top(entries: Column, k: int) -> Column:
    """The first ``k`` entries by descending ``w`` (ties by key): entries are structs
    ``(neg, k, ...)`` with ``neg = -w``, sorted in their natural (compiled) order."""
    return F.slice(F.sort_array(entries), 1, k)


def _normalised_map(kind: str, weight: str, k: int) -> Column:
    entries = F.collect_list(F.when((F.col(C.KIND) == kind) & (F.col(weight) > 0),
                                    F.struct((-F.col(weight)).alias("neg"), F.col(C.KEY).alias("k"),
                                             F.col(weight).alias("w"))))
    total = F.sum(F.when(F.col(C.KIND) == kind, F.col(weight)).otherwise(0.0))
    top = _top(entries, k)
    return F.map_from_entries(F.transform(top, lambda e: F.struct(
        e["k"], F.when(total > 0, e["w"] / total).otherwise(0.0))))


def _recency_map(kind: str, window: Window, k: int) -> Column:
    as_of = F.unix_seconds(F.to_timestamp(F.lit(window.as_of.isoformat())))
    entries = F.collect_list(F.when((F.col(C.KIND) == kind) & F.col("last_ts").isNotNull(), F.struct(
        (-F.col("weight")).alias("neg"), F.col(C.KEY).alias("k"),
        ((as_of - F.unix_seconds("last_ts")) / 86400.0).alias("days"))))
    return F.map_from_entries(F.transform(_top(entries, k), lambda e: F.struct(e["k"], e["days"])))


def _exposure_map(count: str, k: int) -> Column:
    """``count`` per tag for the user's ``k`` most served tags (ties by tag). Every count
    collects the same entries (Spark aggregates them once), so the maps share their keys."""
    entries = F.collect_list(F.when((F.col(C.KIND) == C.TAG_KIND) & (F.col("impressions") > 0),
                                    F.struct((-F.col("impressions")).alias("neg"),
                                             F.col(C.KEY).alias("k"), *EXPOSURE_SUMMED)))
    return F.map_from_entries(F.transform(_top(entries, k), lambda e: F.struct(e["k"], e[count])))


def affinity_maps(affinities: DataFrame, window: Window, cfg: FeaturesConfig) -> DataFrame:
    """Per user: tag shares, the three interest vectors, top tag/creator recency, follows,
    tag exposure and the overall view rate (each item has one creator, so the creator rows
    count every served item with a known creator once)."""
    on_creators = lambda c: F.sum(F.when(F.col(C.KIND) == C.CREATOR_KIND, F.col(c)))  # noqa: E731
    return affinities.groupBy(C.USER_ID).agg(
        _normalised_map(C.TAG_KIND, "weight", cfg.max_tags).alias("tag_share"),
        _normalised_map(C.TAG_KIND, "last_day", cfg.max_tags).alias("interest_short"),
        _normalised_map(C.TAG_KIND, "decayed_mid", cfg.max_tags).alias("interest_mid"),
        _normalised_map(C.TAG_KIND, "decayed_long", cfg.max_tags).alias("interest_long"),
        _recency_map(C.TAG_KIND, window, cfg.top_k).alias("top_tag_days"),
        _recency_map(C.CREATOR_KIND, window, cfg.top_k).alias("top_creator_days"),
        F.sort_array(F.collect_list(F.when((F.col(C.KIND) == C.CREATOR_KIND) & F.col("followed"),
                                           F.col(C.KEY)))).alias("followed_creators"),
        _exposure_map("impressions", cfg.max_tags).alias("tag_impressions"),
        _exposure_map("views", cfg.max_tags).alias("tag_views"),
        _ratio(on_creators("views"), on_creators("impressions")).alias("view_rate"))
