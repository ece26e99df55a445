"""Vocabularies of categorical ids, versioned with the features (``gold.vocabularies``).

Each as_of_date holds a full version: every token seen before it, its count, and its index
once the count reached ``vocab_min_count``. Indices are stable: a version keeps every index
of the previous one and appends newly admitted tokens after the kind's largest index
(ordered by count, then token, so a re-run assigns the same indices). Index 0 is the
out-of-vocabulary bucket: unknown and rare tokens map to it.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window as W
from pyspark.sql import functions as F

from foryou.config.features import FeaturesConfig
from foryou.features import columns as C
from foryou.features.inputs import Window
from foryou.lake import table

# Context kinds: counted from the window's events (not held in any feature state).
CONTEXT_KINDS = {"device": C.DEVICE_TYPE, "os": C.OS, "network": C.NETWORK_TYPE}


def context_counts(ev: DataFrame) -> DataFrame:
    """(kind, token, count) of device, os and network values in the window's events."""
    agg = ev.groupBy(C.DEVICE_TYPE, C.OS, C.NETWORK_TYPE).agg(F.count(F.lit(1)).alias(C.COUNT))
    parts = [agg.select(F.lit(kind).alias(C.KIND), F.col(col).alias(C.TOKEN), C.COUNT)
             for kind, col in CONTEXT_KINDS.items()]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.where(F.col(C.TOKEN).isNotNull()).groupBy(C.KIND, C.TOKEN).agg(F.sum(C.COUNT).alias(C.COUNT))


def state_counts(users: DataFrame, items: DataFrame) -> DataFrame:
    """(kind, token, count) of users, items, creators and tags, from the rolled feature state
    (counts of everything before as_of: user events; item impressions plus views)."""
    item_count = (F.col("impressions") + F.col("views")).cast("long")
    it = items.select(C.CONTENT_ID, C.CREATOR_ID, C.TAGS, item_count.alias(C.COUNT))
    return (users.select(F.lit("user").alias(C.KIND), F.col(C.USER_ID).alias(C.TOKEN),
                         F.col("events").alias(C.COUNT))
            .unionByName(it.select(F.lit("item").alias(C.KIND), F.col(C.CONTENT_ID).alias(C.TOKEN), C.COUNT))
            .unionByName(it.where(F.col(C.CREATOR_ID).isNotNull()).groupBy(C.CREATOR_ID)
                         .agg(F.sum(C.COUNT).alias(C.COUNT))
                         .select(F.lit("creator").alias(C.KIND), F.col(C.CREATOR_ID).alias(C.TOKEN), C.COUNT))
            .unionByName(it.select(F.explode(C.TAGS).alias(C.TOKEN), C.COUNT).groupBy(C.TOKEN)
                         .agg(F.sum(C.COUNT).alias(C.COUNT))
                         .select(F.lit("tag").alias(C.KIND), C.TOKEN, C.COUNT)))


def roll_vocabularies(previous: DataFrame | None, totals: DataFrame, context_window: DataFrame,
                      window: Window, cfg: FeaturesConfig) -> DataFrame:
    """The vocabulary version of ``window.as_of``.

    ``totals`` holds cumulative counts (users, items, creators, tags); ``context_window`` the
    window's counts of context kinds, added to the previous version's.
    """
    counts = totals
    if previous is not None:
        prev_context = previous.where(F.col(C.KIND).isin(*CONTEXT_KINDS)).select(C.KIND, C.TOKEN, C.COUNT)
        context_window = (prev_context.unionByName(context_window).groupBy(C.KIND, C.TOKEN)
                          .agg(F.sum(C.COUNT).alias(C.COUNT)))
        prev = previous.select(C.KIND, C.TOKEN, C.INDEX, C.FIRST_AS_OF, F.col(C.COUNT).alias("_prev_count"))
    else:
        prev = None
    counts = counts.unionByName(context_window)
    if prev is None:
        merged = counts.withColumn(C.INDEX, F.lit(None).cast("int")).withColumn(
            C.FIRST_AS_OF, F.lit(None).cast("date"))
    else:
        merged = (prev.join(counts, [C.KIND, C.TOKEN], "full_outer")
                  .withColumn(C.COUNT, F.coalesce(C.COUNT, "_prev_count")).drop("_prev_count"))
    top = (merged.groupBy(C.KIND).agg(F.coalesce(F.max(C.INDEX), F.lit(C.OOV_INDEX)).alias("_top")))
    admit = F.col(C.INDEX).isNull() & (F.col(C.COUNT) >= cfg.vocab_min_count)
    rank = F.row_number().over(W.partitionBy(C.KIND).orderBy(F.col(C.COUNT).desc(), F.col(C.TOKEN)))
    kept = merged.where(~admit)
    new = (merged.where(admit).join(F.broadcast(top), C.KIND)
           .withColumn(C.INDEX, (F.col("_top") + rank).cast("int"))
           .withColumn(C.FIRST_AS_OF, F.lit(window.as_of)).drop("_top"))
    out = kept.unionByName(new).withColumn(C.AS_OF_DATE, F.lit(window.as_of))
    return out.select(*table(C.VOCABULARIES).schema.fieldNames())


def lookup(vocab: DataFrame, kind: str) -> DataFrame:
    """(token, index) of one kind's admitted tokens, for joins."""
    return (vocab.where((F.col(C.KIND) == kind) & F.col(C.INDEX).isNotNull())
            .select(F.col(C.TOKEN), F.col(C.INDEX)))


def index_of(col: Column) -> Column:
    """A looked-up index, with unknown tokens in the out-of-vocabulary bucket."""
    return F.coalesce(col, F.lit(C.OOV_INDEX)).cast("int")
