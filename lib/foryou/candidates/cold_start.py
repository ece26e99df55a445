"""Cold start and virality: new items reach random cohorts of matching users in waves.

Every item younger than ``max_age_days`` is in cold start. Day by day:

1. **Evidence.** Its impressions by users who are not suspected bots, the engaged ones among
   them (a long view, like, comment, share or save without a hide or report), and the
   engagements *expected* of it: each impression counts the baseline engagement rate of
   impressions of items of the same age (whole days since upload) and duration bucket.
   Performance is ``(engaged + prior) / (expected + prior)``: 1 is "as good as any item was at
   that age", whatever the item's length. Follower counts are never used.
2. **Decision.** Once an item in wave ``w`` has ``min_impressions * (w + 1)`` impressions it is
   judged: performance at or above ``threshold`` widens it to wave ``w + 1`` (after the last
   wave it graduates: the other sources carry it on); below, it is dropped from cold start.
   Until then it stays in its wave. The wave and status are written to ``gold.cold_start_waves``
   per run date, so the next day starts from them.
3. **Cohort.** An exploring item in wave ``w`` goes to ``wave_cohort_sizes[w]`` users whose
   top interest tags overlap its tags (users without interests - no history - match every new
   item), drawn at random with seeded hashes. Users are hashed into ``hash_buckets`` buckets
   and an item takes just enough buckets for its cohort, so the (item, user) pairs stay near
   the cohort size however many users match.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.topk import as_source, top_k
from foryou.config.candidates import ColdStartConfig
from foryou.lake import table

EXPLORING, DROPPED, GRADUATED = "exploring", "dropped", "graduated"
# The tag of users without interests: it matches every new item.
ANY_TAG = "*"


def _flag(cols: tuple[str, ...]) -> Column:
    out = F.lit(False)
    for c in cols:
        out = out | (F.coalesce(F.col(c), F.lit(0)) > 0)
    return out


def new_items(items: DataFrame, cfg: ColdStartConfig) -> DataFrame:
    """Items of gold.item_features (one as_of_date) young enough for cold start."""
    return items.where(F.col(C.AGE_DAYS).isNotNull() & (F.col(C.AGE_DAYS) >= 0)
                       & (F.col(C.AGE_DAYS) <= cfg.max_age_days))


def evidence(impressions: DataFrame, items: DataFrame, bot_users: DataFrame) -> DataFrame:
    """Per item: ``impressions``, ``engaged`` and ``expected`` (engagements an item of the same
    age-day and duration bucket would have got from the same impressions).

    ``impressions`` are served impressions (silver.impressions); ``items`` holds every item's
    upload_ts and duration_bucket (gold.item_features).
    """
    served = impressions.where(F.coalesce(F.col("has_impressions"), F.lit(True)))
    age_day = F.greatest(F.lit(0), F.floor(
        (F.unix_seconds(C.EVENT_TS) - F.unix_seconds(C.UPLOAD_TS)) / 86400).cast("int"))
    rows = (served.join(bot_users, C.USER_ID, "left_anti")
            .join(items.select(C.CONTENT_ID, C.UPLOAD_TS,
                               F.coalesce(F.col(C.DURATION_BUCKET), F.lit(0)).alias(C.DURATION_BUCKET)),
                  C.CONTENT_ID)
            .where(F.col(C.UPLOAD_TS).isNotNull())
            .select(C.CONTENT_ID, C.DURATION_BUCKET, age_day.alias("age_day"),
                    (_flag(C.POSITIVE_LABELS) & ~_flag(C.NEGATIVE_LABELS)).cast("int").alias("engaged")))
    baseline = rows.groupBy("age_day", C.DURATION_BUCKET).agg(F.avg("engaged").alias("baseline"))
    return (rows.join(baseline, ["age_day", C.DURATION_BUCKET])
            .groupBy(C.CONTENT_ID).agg(F.count(F.lit(1)).alias("impressions"),
                                       F.sum("engaged").cast("long").alias("engaged"),
                                       F.sum("baseline").alias("expected")))


def latest_waves(waves: DataFrame, as_of: dt.date) -> DataFrame:
    """Each item's latest (content_id, wave, status) before ``as_of``."""
    before = waves.where(F.col(C.AS_OF_DATE) < F.lit(as_of))
    w = Window.partitionBy(C.CONTENT_ID).orderBy(F.col(C.AS_OF_DATE).desc())
    return (before.withColumn("_n", F.row_number().over(w)).where(F.col("_n") == 1)
            .select(C.CONTENT_ID, F.col("wave").alias("_prev_wave"), F.col("status").alias("_prev_status")))


def next_waves(young: DataFrame, previous: DataFrame, proof: DataFrame, as_of: dt.date,
               cfg: ColdStartConfig) -> DataFrame:
    """The cold-start state of every young item for ``as_of`` (rows of gold.cold_start_waves)."""
    sizes = cfg.wave_cohort_sizes
    last = len(sizes) - 1
    j = (young.select(C.CONTENT_ID, C.CREATOR_ID, C.AGE_DAYS, C.DURATION_BUCKET)
         .join(previous, C.CONTENT_ID, "left").join(proof, C.CONTENT_ID, "left")
         .fillna({"impressions": 0, "engaged": 0, "expected": 0.0}))
    prior = float(cfg.prior_engagements)
    perf = (F.col("engaged") + prior) / (F.col("expected") + prior)
    prev_wave = F.coalesce(F.col("_prev_wave"), F.lit(0))
    prev_status = F.coalesce(F.col("_prev_status"), F.lit(EXPLORING))
    exploring = prev_status == EXPLORING
    judged = exploring & (F.col("impressions") >= cfg.min_impressions * (prev_wave + 1))
    good = perf >= cfg.threshold
    status = (F.when(~exploring, prev_status)
              .when(judged & good & (prev_wave >= last), GRADUATED)
              .when(judged & ~good, DROPPED)
              .otherwise(EXPLORING))
    wave = F.when(judged & good & (prev_wave < last), prev_wave + 1).otherwise(prev_wave)
    size_of = F.array(*[F.lit(s) for s in sizes])
    out = (j.withColumn("performance", perf).withColumn("status", status)
           .withColumn("wave", wave.cast("int"))
           .withColumn("cohort_size", F.when(F.col("status") == EXPLORING,
                                             F.element_at(size_of, F.col("wave") + 1)).otherwise(0)
                       .cast("int"))
           .withColumn(C.AS_OF_DATE, F.lit(as_of)))
    return out.select(*table(C.COLD_START_WAVES).schema.fieldNames())


def user_interests(user_features: DataFrame, users: DataFrame, bot_users: DataFrame,
                   cfg: ColdStartConfig) -> DataFrame:
    """(user_id, tag, weight): each user's top ``interest_tags`` tags by engagement share;
    users without any get the tag that matches every new item. Bots get no cohorts."""
    shares = user_features.select(C.USER_ID, F.explode_outer("tag_share").alias("tag", "weight"))
    shares = shares.where(F.col("tag").isNotNull())
    top = top_k(shares, C.USER_ID, [F.col("weight").desc()], cfg.interest_tags, "_n",
                tie="tag").select(C.USER_ID, "tag", "weight")
    cold = (users.select(C.USER_ID).join(top.select(C.USER_ID).distinct(), C.USER_ID, "left_anti")
            .select(C.USER_ID, F.lit(ANY_TAG).alias("tag"), F.lit(0.0).alias("weight")))
    return top.unionByName(cold).join(bot_users, C.USER_ID, "left_anti")


def cohorts(waves: DataFrame, items: DataFrame, interests: DataFrame, as_of: dt.date,
            cfg: ColdStartConfig) -> DataFrame:
    """(user_id, content_id, score): the cohort of each exploring item, ``score`` the user's
    interest share over the item's tags."""
    k = cfg.hash_buckets
    seed = F.lit(cfg.seed)
    day = F.lit(as_of.isoformat())
    exploring = (waves.where((F.col("status") == EXPLORING) & (F.col("cohort_size") > 0))
                 .select(C.CONTENT_ID, "cohort_size")
                 .join(items.select(C.CONTENT_ID, C.TAGS), C.CONTENT_ID))
    tags = F.when(F.size(F.coalesce(F.col(C.TAGS), F.array())) > 0,
                  F.array_union(F.col(C.TAGS), F.array(F.lit(ANY_TAG)))).otherwise(F.array(F.lit(ANY_TAG)))
    item_tags = exploring.select(C.CONTENT_ID, "cohort_size", F.explode(tags).alias("tag")).distinct()
    users_per_tag = interests.groupBy("tag").agg(F.count(F.lit(1)).alias("_users"))
    matching = (item_tags.join(users_per_tag, "tag")
                .groupBy(C.CONTENT_ID).agg(F.sum("_users").alias("_matching")))
    # Buckets an item needs: twice its cohort's share of the matching users, at least one.
    need = F.least(F.lit(k), F.ceil(F.col("cohort_size") * 2.0 * k / F.col("_matching"))).cast("int")
    start = F.pmod(F.xxhash64(seed, F.col(C.CONTENT_ID)), F.lit(k))
    slots = (item_tags.join(matching, C.CONTENT_ID)
             .select(C.CONTENT_ID, "cohort_size", "tag",
                     F.explode(F.sequence(F.lit(0), need - 1)).alias("_j"), start.alias("_start"))
             .select(C.CONTENT_ID, "cohort_size", "tag",
                     F.pmod(F.col("_start") + F.col("_j"), F.lit(k)).alias("_bucket")))
    users = interests.withColumn("_bucket", F.pmod(F.xxhash64(seed, day, F.col(C.USER_ID)), F.lit(k)))
    pairs = (slots.join(users, ["tag", "_bucket"])
             .groupBy(C.USER_ID, C.CONTENT_ID, "cohort_size").agg(F.sum("weight").alias(C.SCORE)))
    draw = Window.partitionBy(C.CONTENT_ID).orderBy(F.xxhash64(seed, day, F.col(C.CONTENT_ID), F.col(C.USER_ID)),
                                                    F.col(C.USER_ID))
    return (pairs.withColumn("_n", F.row_number().over(draw))
            .where(F.col("_n") <= F.col("cohort_size")).select(C.USER_ID, C.CONTENT_ID, C.SCORE))


def cold_start_candidates(waves: DataFrame, items: DataFrame, interests: DataFrame,
                          as_of: dt.date, cfg: ColdStartConfig, k: int) -> DataFrame:
    """Per user, the top ``k`` (by interest match) of the new items whose cohort they are in."""
    return as_source(cohorts(waves, items, interests, as_of, cfg), "cold_start", k)

