"""Item features: exposure and engagement rolled forward day by day, smoothed rates, growth,
age, duration bucket, creator aggregates, text features and one fused content vector.

The additive columns (totals, watch-ratio sum, ``daily_views``) are the state: a day is the
previous day's rows merged with the window's impressions. ``daily_views`` holds views per
day, newest first, over two growth windows; rolling forward shifts it by the days elapsed.
"""
from __future__ import annotations

from pyspark.ml.feature import IDF, HashingTF
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from foryou.config.features import FeaturesConfig
from foryou.features import columns as C
from foryou.features.inputs import Window
from foryou.lake import table

SUMMED = ("impressions", *C.ITEM_COUNTERS, "watch_ms", "watch_ratio_sum")


def smoothed(num: Column, den: Column, alpha: float, prior: Column) -> Column:
    """``(num + alpha * prior) / (den + alpha)``: the rate with ``alpha`` pseudo-counts at
    ``prior``, so few observations stay near the prior (``prior`` when there are none)."""
    shown = den + alpha
    return F.when(shown > 0, (num + alpha * prior) / shown).otherwise(prior)


def _days(cfg: FeaturesConfig) -> int:
    return 2 * cfg.growth_window_days


def item_delta(impressions: DataFrame, window: Window, cfg: FeaturesConfig) -> DataFrame:
    """Per item: the window's exposure and label totals, and views by age."""
    age = window.age()
    click = F.coalesce(F.col("click"), F.lit(0))
    return impressions.groupBy(C.CONTENT_ID).agg(
        F.max(C.CREATOR_ID).alias(C.CREATOR_ID),
        F.sum(F.when(F.coalesce(F.col(C.HAS_IMPRESSIONS), F.lit(True)), 1).otherwise(0))
        .cast("long").alias("impressions"),
        *[F.sum(F.coalesce(F.col(label), F.lit(0))).cast("long").alias(name)
          for name, label in C.ITEM_COUNTERS.items()],
        F.sum(F.coalesce(F.col(C.WATCH_MS), F.lit(0))).cast("long").alias("watch_ms"),
        F.sum(F.coalesce(F.col(C.WATCH_RATIO), F.lit(0.0))).alias("watch_ratio_sum"),
        F.array(*[F.sum(F.when(age == k + 1, click).otherwise(0)).cast("long")
                  for k in range(_days(cfg))]).alias("daily_views"))


def roll_items(previous: DataFrame | None, delta: DataFrame, window: Window,
               cfg: FeaturesConfig) -> DataFrame:
    """Previous item state (views by age shifted by the days elapsed) plus the window's."""
    n = _days(cfg)
    parts = delta
    if previous is not None:
        s = window.shift
        shifted = F.transform(F.sequence(F.lit(0), F.lit(n - 1)), lambda k: F.when(
            k >= s, F.coalesce(F.try_element_at("daily_views", (k - s + 1).cast("int")), F.lit(0)))
            .otherwise(0).cast("long"))
        prev = previous.select(C.CONTENT_ID, C.CREATOR_ID, *SUMMED, shifted.alias("daily_views"))
        parts = prev.unionByName(delta)
    zeros = F.array_repeat(F.lit(0).cast("long"), n)
    return parts.groupBy(C.CONTENT_ID).agg(
        F.max(C.CREATOR_ID).alias(C.CREATOR_ID),
        *[F.sum(c).alias(c) for c in SUMMED],
        F.aggregate(F.collect_list("daily_views"), zeros,
                    lambda acc, x: F.zip_with(acc, x, lambda a, b: a + b)).alias("daily_views"))


def _norm(v: Column) -> Column:
    return F.sqrt(F.aggregate(v, F.lit(0.0), lambda acc, x: acc + x * x))


def _scaled(v: str, norm: str) -> Column:
    """``v / norm`` elementwise (zeros for a zero norm); both are columns of the frame, so the
    norm is computed once per row, not once per element."""
    return F.transform(v, lambda x: F.when(F.col(norm) > 0, x / F.col(norm)).otherwise(0.0))


def project(v: Column, name: str, dim: int) -> Column:
    """Signed feature hashing of a dense vector into ``dim`` buckets (a sparse random
    projection that keeps inner products in expectation); deterministic, no fitting.
    ``v`` should be a plain column: it is read once per bucket."""
    entries = F.transform(v, lambda x, i: F.struct(
        F.pmod(F.xxhash64(F.lit(name), i), F.lit(dim)).alias("b"),
        (F.when(F.pmod(F.xxhash64(F.lit(name), i, F.lit(1)), F.lit(2)) == 0, 1.0).otherwise(-1.0)
         * x).alias("v")))
    return F.transform(F.sequence(F.lit(0), F.lit(dim - 1)), lambda j: F.aggregate(
        F.filter(entries, lambda e: e["b"] == j), F.lit(0.0), lambda acc, e: acc + e["v"]))


def text_features(content: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Per known item: hashtags, hashed TF-IDF of description words, fused content vector.

    The fused vector is the unit-length sum of the unit text vector, the unit hashed tag
    vector and, when silver.content carries them, the projected unit visual/audio vectors.
    """
    dim = cfg.vector_dim
    desc = F.lower(F.coalesce(F.col(C.DESCRIPTION), F.lit("")))
    media = [c for c in C.MEDIA_VECTORS if c in content.columns]
    base = content.select(
        C.CONTENT_ID, F.col(C.CREATOR_ID).alias("_creator"), C.UPLOAD_TS, C.DURATION_MS,
        F.coalesce(F.col(C.TAGS), F.array().cast("array<string>")).alias(C.TAGS),
        F.array_distinct(F.regexp_extract_all(desc, F.lit(r"#(\w+)"), 1)).alias("hashtags"),
        F.filter(F.split(F.regexp_replace(desc, r"[^\p{L}\p{N}#]+", " "), " "),
                 lambda w: F.length(w) > 0).alias("_words"),
        *media)
    tf = HashingTF(inputCol="_words", outputCol="_tf", numFeatures=dim).transform(base)
    tf = HashingTF(inputCol=C.TAGS, outputCol="_tagtf", numFeatures=dim, binary=True).transform(tf)
    if tf.isEmpty():
        # No catalogue (an interaction log without item metadata): IDF cannot be fitted on
        # nothing, and there is nothing to weight; the frame stays empty, with its schema
        # (the features job says so once per run).
        tfidf = tf.withColumn("_tfidf", F.col("_tf"))
    else:
        tfidf = IDF(inputCol="_tf", outputCol="_tfidf", minDocFreq=cfg.min_doc_freq).fit(tf).transform(tf)
    # Each stage is its own projection so a norm is computed once per row (an array
    # expression repeated inside a lambda is evaluated per element).
    parts = ["_text", "_tagv", *[f"_{m}" for m in media]]
    staged = tfidf.select(
        "*", vector_to_array("_tfidf").alias("_text"), vector_to_array("_tagtf").alias("_tagv"),
        *[F.coalesce(F.col(m).cast("array<double>"), F.array().cast("array<double>")).alias(f"_{m}_raw")
          for m in media])
    if media:
        staged = staged.select("*", *[project(F.col(f"_{m}_raw"), m, dim).alias(f"_{m}") for m in media])
    staged = staged.select("*", *[_norm(F.col(p)).alias(p + "_n") for p in parts])
    unit = [_scaled(p, p + "_n") for p in parts]
    fused = unit[0]
    for u in unit[1:]:
        fused = F.zip_with(fused, u, lambda a, b: a + b)
    staged = staged.select("*", fused.alias("_fused"))
    staged = staged.select("*", _norm(F.col("_fused")).alias("_fused_n"))
    out = staged.select(
        C.CONTENT_ID, "_creator", C.UPLOAD_TS, C.DURATION_MS, C.TAGS, "hashtags",
        F.size("hashtags").cast("int").alias("hashtag_count"),
        F.col("_text").cast("array<float>").alias("text_vector"),
        _scaled("_fused", "_fused_n").cast("array<float>").alias("content_vector"))
    counts = (out.select(F.explode("hashtags").alias("_h")).groupBy("_h")
              .agg(F.count(F.lit(1)).alias("_n")))
    popularity = (out.select(C.CONTENT_ID, F.explode("hashtags").alias("_h")).join(counts, "_h")
                  .groupBy(C.CONTENT_ID).agg(F.avg(F.log1p("_n")).alias("hashtag_popularity")))
    return (out.join(popularity, C.CONTENT_ID, "left")
            .fillna({"hashtag_popularity": 0.0}))


def _duration_bucket(duration_ms: Column, bounds_s: list[float]) -> Column:
    bucket = F.lit(1)
    for b in sorted(bounds_s):
        bucket = bucket + F.when(duration_ms >= b * 1000, 1).otherwise(0)
    return F.when(duration_ms.isNull(), 0).otherwise(bucket).cast("int")


def finish_items(state: DataFrame, content_features: DataFrame, affinities: DataFrame,
                 window: Window, cfg: FeaturesConfig) -> DataFrame:
    """gold.item_features for ``window.as_of`` from the rolled state and the known content."""
    items = state.join(content_features, C.CONTENT_ID, "full_outer")
    items = (items.withColumn(C.CREATOR_ID, F.coalesce(C.CREATOR_ID, "_creator")).drop("_creator")
             .fillna({c: 0 for c in SUMMED}))
    n = _days(cfg)
    items = items.withColumn("daily_views", F.coalesce(
        "daily_views", F.array_repeat(F.lit(0).cast("long"), n)))
    totals = items.agg(*[F.sum(c).alias("_g_" + c)
                         for c in ("impressions", "views", *C.ITEM_RATES.values())])
    items = items.crossJoin(F.broadcast(totals))
    alpha = cfg.smoothing_views
    global_rate = lambda num, den: F.when(F.col("_g_" + den) > 0, F.col("_g_" + num)  # noqa: E731
                                          / F.col("_g_" + den)).otherwise(0.0)
    # Valid plays per impression, smoothed by as many pseudo-impressions at the global rate.
    items = items.withColumn("view_rate", smoothed(
        F.col("views"), F.col("impressions"), alpha, global_rate("views", "impressions")))
    for rate, num in C.ITEM_RATES.items():
        items = items.withColumn(rate, smoothed(F.col(num), F.col("views"), alpha,
                                                global_rate(num, "views")))
    w = cfg.growth_window_days
    window_sum = lambda lo: F.aggregate(F.slice("daily_views", lo, w), F.lit(0).cast("long"),
                                        lambda acc, x: acc + x)
    as_of = F.unix_seconds(F.to_timestamp(F.lit(window.as_of.isoformat())))
    items = (items
             .withColumn("views_window", window_sum(1))
             .withColumn("views_prev_window", window_sum(w + 1))
             .withColumn("growth_rate", (F.col("views_window") + 1.0) / (F.col("views_prev_window") + 1.0) - 1.0)
             .withColumn("age_days", (as_of - F.unix_seconds(C.UPLOAD_TS)) / 86400.0)
             .withColumn("duration_bucket", _duration_bucket(F.col(C.DURATION_MS), cfg.duration_buckets_s))
             .withColumn("hashtag_count", F.coalesce("hashtag_count", F.lit(0)))
             .withColumn("hashtag_popularity", F.coalesce("hashtag_popularity", F.lit(0.0))))
    followers = (affinities.where((F.col(C.KIND) == C.CREATOR_KIND) & F.col("followed"))
                 .groupBy(F.col(C.KEY).alias(C.CREATOR_ID))
                 .agg(F.count(F.lit(1)).alias("creator_followers")))
    creators = (items.where(F.col(C.CREATOR_ID).isNotNull()).groupBy(C.CREATOR_ID).agg(
        F.count(F.lit(1)).alias("creator_items"),
        F.avg("like_rate").alias("creator_avg_like_rate"),
        F.avg("completion_rate").alias("creator_avg_completion_rate"),
        F.avg("avg_watch_ratio").alias("creator_avg_watch_ratio"))
        .join(followers, C.CREATOR_ID, "left").fillna({"creator_followers": 0}))
    items = (items.join(creators, C.CREATOR_ID, "left")
             .withColumn(C.AS_OF_DATE, F.lit(window.as_of)))
    return items.select(*table(C.ITEM_FEATURES).schema.fieldNames())
