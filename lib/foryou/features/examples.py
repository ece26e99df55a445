"""Training examples: each impression of a day with its labels, context, vocabulary indices
and the user and item features as of that day (built from events strictly before it).

Logs without impressions (``has_impressions = false``: only positive interactions are
known) get sampled negatives: ``negative_ratio`` per positive, drawn by popularity from the
most viewed items, never an item the user engaged with that day or holds in its history.
"""
from __future__ import annotations

import datetime as dt
import math

from pyspark.sql import Column, DataFrame, Window as W
from pyspark.sql import functions as F

from foryou.config.features import FeaturesConfig
from foryou.features import columns as C
from foryou.features.items import smoothed
from foryou.features.vocab import index_of, lookup
from foryou.lake import table
from foryou.lake.catalog import EXAMPLE_ITEM_FEATURES, EXAMPLE_USER_FEATURES

# Draws per negative wanted: some land on positives or repeat and are dropped.
OVERSAMPLE = 3
# Slots per pool item in the popularity lookup table (its weight resolution).
SLOTS_PER_ITEM = 20
_MASK = (1 << 53) - 1
# gold.training_examples' ``origin``: the daily features job, or update-ranker's streamed rows.
BATCH, STREAM = "batch", "stream"


def context(ts: Column) -> list[Column]:
    """Hour-of-day and day-of-week (Monday 0) on the unit circle."""
    hour = F.hour(ts) + F.minute(ts) / 60.0
    dow = (F.dayofweek(ts) + 5) % 7
    return [F.sin(2 * math.pi * hour / 24).alias("hour_sin"),
            F.cos(2 * math.pi * hour / 24).alias("hour_cos"),
            F.sin(2 * math.pi * dow / 7).alias("dow_sin"),
            F.cos(2 * math.pi * dow / 7).alias("dow_cos")]


def continued(gap_minutes: int) -> Column:
    """1 when the user's next impression of the same day (by time, then position) comes at
    most ``gap_minutes`` later, else 0; null on rows of a log without impressions.

    The session-continuation label: what the feed score's continuation head learns. Only the
    day's own impressions count, so a day's examples never change when the next day arrives
    (the last impressions before midnight read 0 even when the session went on).
    """
    w = W.partitionBy(C.USER_ID).orderBy(C.EVENT_TS, C.POSITION)
    gap = F.unix_timestamp(F.lead(C.EVENT_TS).over(w)) - F.unix_timestamp(C.EVENT_TS)
    on = F.when(gap.isNotNull() & (gap <= gap_minutes * 60), 1).otherwise(0)
    return F.when(F.col(C.HAS_IMPRESSIONS), on).cast("int")


def split_of(date: dt.date, cfg: FeaturesConfig) -> str:
    """train, validation or test for an event date, by the configured split markers."""
    if cfg.test_start is not None and date >= cfg.test_start:
        return "test"
    if cfg.validation_start is not None and date >= cfg.validation_start:
        return "validation"
    return "train"


def popularity_pool(items: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """(slot, content_id, creator_id, _slots): the most viewed items, each owning a number
    of consecutive slots proportional to its views + 1."""
    top = (items.select(C.CONTENT_ID, C.CREATOR_ID, (F.col("views") + 1).alias("_w"))
           .orderBy(F.col("_w").desc(), F.col(C.CONTENT_ID)).limit(cfg.negative_pool_size))
    total = F.sum("_w").over(W.partitionBy())
    n = F.count(F.lit(1)).over(W.partitionBy())
    sized = top.withColumn("_n", F.greatest(F.lit(1), F.round(
        F.col("_w") / total * n * SLOTS_PER_ITEM).cast("long")))
    ordered = W.orderBy(F.col("_w").desc(), F.col(C.CONTENT_ID))
    placed = (sized.withColumn("_hi", F.sum("_n").over(ordered.rowsBetween(W.unboundedPreceding, 0)))
              .withColumn("_slots", F.sum("_n").over(W.partitionBy())))
    return placed.select(F.explode(F.sequence(F.col("_hi") - F.col("_n"), F.col("_hi") - 1)).alias("_slot"),
                         C.CONTENT_ID, C.CREATOR_ID, "_slots")


def sample_negatives(positives: DataFrame, items: DataFrame, users: DataFrame,
                     cfg: FeaturesConfig) -> DataFrame:
    """``negative_ratio`` popularity-weighted negatives per positive row of ``positives``.

    Draws are a hash of (request_id, position, draw, seed), so a re-run samples the same
    negatives. Items the user engaged with that day (any row of ``positives``) or holds in
    its recent history are never drawn; neither is an item twice for one positive.
    """
    if cfg.negative_ratio == 0:
        return positives.limit(0)
    pool = F.broadcast(popularity_pool(items, cfg))
    slots = pool.select(F.max("_slots").alias("_slots"))
    draws = (positives.select(C.REQUEST_ID, C.POSITION, C.USER_ID, C.EVENT_TS, C.EVENT_DATE,
                              C.DEVICE_TYPE, C.OS, C.NETWORK_TYPE,
                              F.explode(F.sequence(F.lit(0), F.lit(cfg.negative_ratio * OVERSAMPLE - 1)))
                              .alias("_k"))
             .crossJoin(F.broadcast(slots))
             .withColumn("_slot", F.pmod(F.xxhash64(C.REQUEST_ID, C.POSITION, "_k", F.lit(cfg.negative_seed))
                                         .bitwiseAND(_MASK), F.col("_slots")))
             .join(pool.drop("_slots"), "_slot"))
    seen = (positives.select(C.USER_ID, C.CONTENT_ID)
            .unionByName(users.select(C.USER_ID, F.explode("recent_content_ids").alias(C.CONTENT_ID)))
            .distinct())
    fresh = draws.join(seen, [C.USER_ID, C.CONTENT_ID], "left_anti")
    first = W.partitionBy(C.REQUEST_ID, C.POSITION, C.CONTENT_ID).orderBy("_k")
    rank = W.partitionBy(C.REQUEST_ID, C.POSITION).orderBy("_k")
    picked = (fresh.withColumn("_first", F.row_number().over(first)).where(F.col("_first") == 1)
              .withColumn("_r", F.row_number().over(rank)).where(F.col("_r") <= cfg.negative_ratio))
    zeros = [F.lit(0).cast(table(C.EXAMPLES).schema[c].dataType).alias(c) for c in C.LABEL_COLUMNS]
    return picked.select(
        F.concat(F.col(C.REQUEST_ID), F.lit("#neg"), F.col("_r").cast("string")).alias(C.REQUEST_ID),
        C.POSITION, C.USER_ID, C.CONTENT_ID, C.CREATOR_ID, C.EVENT_TS, *zeros,
        F.lit(None).cast("int").alias(C.CONTINUED), F.lit(False).alias(C.HAS_IMPRESSIONS), F.lit(True).alias(C.SAMPLED_NEGATIVE),
        F.lit(None).cast("string").alias(C.EXPOSURE), C.DEVICE_TYPE, C.OS, C.NETWORK_TYPE,
        C.EVENT_DATE)


def _per_token(df: DataFrame, key: str, array_col: str, values: DataFrame,
               outputs: dict[str, Column]) -> DataFrame:
    """Per ``key``: for each ``outputs`` name, the array of its column looked up in ``values``
    (keyed by ``token``) for ``array_col``'s tokens, in order (one explode and one shuffle
    for all the outputs)."""
    exploded = df.select(key, F.posexplode(array_col).alias("_pos", C.TOKEN))
    entry = F.struct(F.col("_pos"), *[col.alias(name) for name, col in outputs.items()])
    return (exploded.join(values, C.TOKEN, "left")
            .groupBy(key).agg(F.sort_array(F.collect_list(entry)).alias("_s"))
            # transform calls the lambda at once, so each one reads its own ``name``.
            .select(key, *[F.transform("_s", lambda s: s[name]).alias(name) for name in outputs]))


def _indices(df: DataFrame, key: str, array_col: str, vocab: DataFrame, kind: str, out: str) -> DataFrame:
    """Per ``key``: the vocabulary indices of ``array_col``'s tokens, in order."""
    return _per_token(df, key, array_col, lookup(vocab, kind), {out: index_of(F.col(C.INDEX))})


def tag_mix(items: DataFrame) -> DataFrame:
    """(token, share): each tag's share of the tag mentions of all served impressions (an
    impression of an item with two tags mentions both): the exposure a user would get from
    a feed that ignored its interests."""
    mentions = (items.where(F.col("impressions") > 0)
                .select(F.explode(C.TAGS).alias(C.TOKEN), F.col("impressions").cast("double").alias("_n"))
                .groupBy(C.TOKEN).agg(F.sum("_n").alias("_n")))
    total = mentions.agg(F.sum("_n").alias("_total"))  # one row
    return mentions.crossJoin(F.broadcast(total)).select(
        C.TOKEN, (F.col("_n") / F.col("_total")).alias("share"))


def _with_index(df: DataFrame, col: str, vocab: DataFrame, kind: str, out: str,
                small: bool = False) -> DataFrame:
    """``df`` with ``out``, the vocabulary index of ``col`` (out-of-vocabulary bucket if
    unknown); ``small`` broadcasts the kind's vocabulary."""
    voc = lookup(vocab, kind).select(F.col(C.TOKEN).alias("_tok"), F.col(C.INDEX).alias(out))
    voc = F.broadcast(voc) if small else voc
    return (df.join(voc, F.col(col) == F.col("_tok"), "left").drop("_tok")
            .withColumn(out, index_of(F.col(out))))


def _interest_match(interest: str, tags: str, max_tags: int) -> Column:
    """Sum of the map ``interest`` over the array ``tags`` (at most ``max_tags`` long).

    Unrolled into one lookup per tag slot: a lambda reading a map column runs interpreted,
    per element, about ten times slower (measured on 1M examples: 39 s against 3 s).
    """
    return sum((F.coalesce(F.try_element_at(interest, F.try_element_at(tags, F.lit(i))), F.lit(0.0))
                for i in range(1, max_tags + 1)), F.lit(0.0))


def exposure_lift(served: str, mentions: str, tags: str, mix: str, max_tags: int,
                  prior: float) -> tuple[list[Column], Column]:
    """Mean over the item's tags of ``log(share / mix)``: how much more often the user was
    served the tag than the tag mix of all served impressions (``mix``, aligned with
    ``tags``). A feed that personalises (the logging policy did) serves the tags a user
    likes more often, and a tag the user has barely been shown despite many impressions is
    one the feed believed the user dislikes: evidence that engagement shares (zero either
    way) do not carry. The user's share ``(served[tag] + prior * mix) /
    (mentions + prior)`` carries ``prior`` pseudo-mentions at the mix; a tag never served
    to anyone (mix 0) says nothing and is left out, and no tag left gives 0.

    Returns the per-slot columns and the mean, for two projections (so each slot is computed
    once); unrolled per slot as :func:`_interest_match` is.
    """
    total = F.coalesce(F.col(mentions).cast("double"), F.lit(0.0))
    slots = []
    for i in range(1, max_tags + 1):
        share = F.try_element_at(mix, F.lit(i))
        n = F.coalesce(F.try_element_at(served, F.try_element_at(tags, F.lit(i))).cast("double"), F.lit(0.0))
        slots.append(F.when(share > 0, F.log((n + prior * share) / (total + prior) / share))
                     .alias(f"_lift{i}"))
    names = [F.col(f"_lift{i}") for i in range(1, max_tags + 1)]
    known = sum((F.when(c.isNotNull(), 1).otherwise(0) for c in names), F.lit(0))
    mean = F.when(known > 0, sum((F.coalesce(c, F.lit(0.0)) for c in names), F.lit(0.0)) / known)
    return slots, F.coalesce(mean, F.lit(0.0)).alias("tag_exposure_lift")


def _smoothed_rate(views: str, impressions: str, cfg: FeaturesConfig) -> Column:
    """``(views + p * r) / (impressions + p)`` with ``p = rate_prior`` pseudo-impressions at
    the user's overall view rate ``r``: a tag seen twice says little, one seen fifty times
    says a lot. Null when the user has no view rate (no features row yet)."""
    count = lambda c: F.coalesce(F.col(c).cast("double"), F.lit(0.0))  # noqa: E731
    return smoothed(count(views), count(impressions), cfg.rate_prior, F.col("user_view_rate"))


def max_tag_count(items: DataFrame) -> int:
    """The most tags one item carries: the slots a per-tag lookup is unrolled into."""
    # bounded: one row
    return items.agg(F.max(F.size(C.TAGS))).first()[0] or 0


def build_examples(impressions: DataFrame, users: DataFrame, items: DataFrame,
                   affinities: DataFrame, vocab: DataFrame, date: dt.date,
                   cfg: FeaturesConfig, labelled: bool = True, origin: str = BATCH,
                   as_of: dt.date | None = None) -> DataFrame:
    """gold.training_examples of ``date``; ``users``, ``items``, ``affinities`` and ``vocab``
    must be the as_of_date = ``as_of`` versions (default ``date``: events strictly before
    ``date``). Streamed rows (``origin`` = ``stream``) of a day the daily job has not built yet
    take the latest earlier feature day's state (:mod:`foryou.features.streamed`).

    Per-user and per-item columns (vocabulary indices included) are resolved on the user
    and item tables first, so the day's rows take part in one join with each. Rows to be
    scored rather than learned from (``labelled=False``: the export's candidates) skip the
    continuation label, a sort of the day's rows by user that they do not need.
    """
    day = impressions.where(F.col(C.EVENT_DATE) == F.lit(date))
    served = (day.withColumn(C.HAS_IMPRESSIONS, F.coalesce(C.HAS_IMPRESSIONS, F.lit(True)))
              .withColumn(C.SAMPLED_NEGATIVE, F.lit(False)))
    served = served.withColumn(C.CONTINUED, continued(cfg.session_gap_minutes) if labelled
                               else F.lit(None).cast("int"))
    keep = [C.REQUEST_ID, C.POSITION, C.USER_ID, C.CONTENT_ID, C.CREATOR_ID, C.EVENT_TS,
            *C.LABEL_COLUMNS, C.CONTINUED, C.HAS_IMPRESSIONS, C.SAMPLED_NEGATIVE, C.EXPOSURE,
            C.DEVICE_TYPE, C.OS, C.NETWORK_TYPE, C.EVENT_DATE]
    served = served.select(*keep)
    negatives = sample_negatives(served.where(~F.col(C.HAS_IMPRESSIONS)), items, users, cfg)
    rows = served.unionByName(negatives.select(*keep))

    empty = F.array().cast("array<int>")
    u = users.select(C.USER_ID, *[F.col(n).alias("user_" + n) for n in EXAMPLE_USER_FEATURES],
                     "interest_short", "interest_mid", "interest_long", "followed_creators",
                     F.col("tag_impressions").alias("_tag_impressions"),
                     F.col("tag_views").alias("_tag_views_by_tag"),
                     F.aggregate(F.map_values("tag_impressions"), F.lit(0).cast("long"),
                                 lambda acc, x: acc + x).alias("_tag_mentions"))
    u = (_with_index(u, C.USER_ID, vocab, "user", "user_index")
         .join(_indices(users, C.USER_ID, "recent_content_ids", vocab, "item", "recent_item_indices"),
               C.USER_ID, "left"))
    it = items.select(C.CONTENT_ID, F.col(C.CREATOR_ID).alias("_item_creator"),
                      F.coalesce(F.col(C.TAGS), F.array().cast("array<string>")).alias("_tags"),
                      *[F.col(n).alias("item_" + n) for n in EXAMPLE_ITEM_FEATURES])
    # The tags' vocabulary indices and their share of the served mix, in one pass.
    tag_values = lookup(vocab, "tag").join(tag_mix(items), C.TOKEN, "full")
    per_tag = _per_token(items, C.CONTENT_ID, C.TAGS, tag_values,
                         {"tag_indices": index_of(F.col(C.INDEX)), "_tag_mix": F.col("share")})
    it = _with_index(it, C.CONTENT_ID, vocab, "item", "item_index").join(per_tag, C.CONTENT_ID, "left")
    creator_aff = (affinities.where(F.col(C.KIND) == C.CREATOR_KIND)
                   .select(F.col(C.USER_ID).alias("_aff_user"), F.col(C.KEY).alias("_aff_creator"),
                           F.col("decayed_long").alias("creator_affinity"),
                           F.col("impressions").alias("_creator_impressions"),
                           F.col("views").alias("_creator_views")))
    max_tags = max_tag_count(items)
    ex = (rows.join(it, C.CONTENT_ID, "left")
          .withColumn(C.CREATOR_ID, F.coalesce(C.CREATOR_ID, "_item_creator")))
    ex = ex.join(creator_aff, (F.col(C.USER_ID) == F.col("_aff_user"))
                 & (F.col(C.CREATOR_ID) == F.col("_aff_creator")), "left").drop("_aff_user", "_aff_creator")
    ex = ex.join(u, C.USER_ID, "left").select(
        "*", *[_interest_match("interest_" + s, "_tags", max_tags).alias("interest_match_" + s)
               for s in ("short", "mid", "long")],
        _interest_match("_tag_impressions", "_tags", max_tags).alias("tag_impressions"),
        _interest_match("_tag_views_by_tag", "_tags", max_tags).alias("_tag_views"),
        F.coalesce(F.array_contains("followed_creators", F.col(C.CREATOR_ID)), F.lit(False))
        .alias("follows_creator"))
    slots, lift = exposure_lift("_tag_impressions", "_tag_mentions", "_tags", "_tag_mix", max_tags,
                                 cfg.rate_prior)
    ex = ex.select("*", *slots).select("*", lift).drop(*[f"_lift{i}" for i in range(1, max_tags + 1)])
    ex = ex.select("*", _smoothed_rate("_tag_views", "tag_impressions", cfg).alias("tag_view_rate"),
                   _smoothed_rate("_creator_views", "_creator_impressions", cfg)
                   .alias("creator_view_rate"))
    ex = _with_index(ex, C.CREATOR_ID, vocab, "creator", "creator_index")
    for kind, col in (("device", C.DEVICE_TYPE), ("os", C.OS), ("network", C.NETWORK_TYPE)):
        # Context vocabularies hold a handful of tokens.
        ex = _with_index(ex, col, vocab, kind, kind + "_index", small=True)
    # Rows whose user or item has no features row get the out-of-vocabulary bucket too.
    ex = (ex.withColumn("user_index", index_of(F.col("user_index")))
          .withColumn("item_index", index_of(F.col("item_index")))
          .withColumn("tag_indices", F.coalesce("tag_indices", empty))
          .withColumn("recent_item_indices", F.coalesce("recent_item_indices", empty)))
    ex = (ex.select("*", *context(F.col(C.EVENT_TS))).withColumn(C.SPLIT, F.lit(split_of(date, cfg)))
          .withColumn(C.ORIGIN, F.lit(origin)).withColumn(C.FEATURES_AS_OF, F.lit(as_of or date)))
    return ex.select(*table(C.EXAMPLES).schema.fieldNames())
