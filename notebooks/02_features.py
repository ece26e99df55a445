# Databricks notebook source
# MAGIC %md
# MAGIC # 02 · Features
# MAGIC
# MAGIC The point-in-time feature store: `gold.user_features`, `gold.item_features` (one row per id
# MAGIC per `as_of_date`, built from events strictly before that date) and the ranker's
# MAGIC `gold.training_examples`. Profiles of every numeric feature, one user's interests,
# MAGIC the bot signals, and the label balance of each split.
# MAGIC
# MAGIC **Parameters**: `conf`, `set`, `run_date` (the `as_of_date` to inspect; the latest if empty).

# COMMAND ----------

from foryou import notebook as nb

spark, lake, config, run_date = nb.session_and_lake(globals())
users = nb.features_as_of(lake, "gold.user_features", run_date)
items = nb.features_as_of(lake, "gold.item_features", run_date)
as_of = users.select("as_of_date").first()[0]
print(f"features as of {as_of}: {users.count():,} users, {items.count():,} items")

# COMMAND ----------

# MAGIC %md
# MAGIC ## User features
# MAGIC Null share and distribution of every numeric user feature.

# COMMAND ----------

nb.show(nb.feature_profile(users), globals(), rows=60)

# COMMAND ----------

# MAGIC %md
# MAGIC ## One user's interests
# MAGIC Short-, mid- and long-term tag interest (decayed, L1-normalised) of one user: the
# MAGIC short horizon moves first when their taste changes.

# COMMAND ----------

user = nb.sample_user(users.where(users.events > 0))
for horizon in ("interest_short", "interest_mid", "interest_long"):
    print(horizon)
    nb.show(nb.top_interests(users, user, horizon, k=5), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Bot signals
# MAGIC The users with the highest engagement-farming score (`features.bots`), with the signals
# MAGIC that raise it.

# COMMAND ----------

nb.show(nb.bot_signals(users), globals())
scores = nb.histogram(users, "anomaly_score", bins=10)
nb.show(nb.bar_figure(scores, "low", ["count"], "anomaly score"), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Item features
# MAGIC Smoothed rates, growth and creator aggregates; then the items growing fastest.

# COMMAND ----------

nb.show(nb.feature_profile(items), globals(), rows=60)
nb.show(items.orderBy(items.growth_rate.desc())
        .select("content_id", "views_window", "views_prev_window", "growth_rate", "like_rate",
                "completion_rate", "age_days"), globals(), rows=10)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Training examples
# MAGIC Rows, users, dates and the positive rate of each label per split (train / validation /
# MAGIC test are split by date, so no example of a later day trains the model).

# COMMAND ----------

balance = nb.example_balance(lake)
nb.show(balance, globals())
examples = lake.read("gold.training_examples")
nb.show(nb.feature_profile(examples, ["user_engagement", "item_like_rate", "interest_match_long",
                                      "creator_affinity", "item_age_days", "watch_ratio"]),
        globals())
