# Databricks notebook source
# MAGIC %md
# MAGIC # 04 · One user's candidates, and why each is there
# MAGIC
# MAGIC For one user: every candidate in the day's `gold.candidate_pool` with the sources that
# MAGIC proposed it and their scores, the champion ranker's relevance, what the guards removed,
# MAGIC and where the rerank (exploration, DPP diversity, novelty, creator caps) put each item in
# MAGIC the exported feed (`gold.user_candidates`), as serving reads it.
# MAGIC
# MAGIC **Parameters**: `conf`, `set`, `run_date` (the pool's as_of_date; the latest if empty).
# MAGIC Set `USER_ID` to a pseudonymised user id to inspect that user.

# COMMAND ----------

import pandas as pd
from pyspark.sql import functions as F

from foryou import notebook as nb
from foryou.config.settings import ExportSettings
from foryou.export.build import guard_pool
from foryou.ranking.scoring import score_pool
from foryou.serving import FeedReader

spark, lake, config, run_date = nb.session_and_lake(globals())
as_of = run_date or nb.latest_date(lake, "gold.candidate_pool")
pool = lake.read("gold.candidate_pool", partitions=[as_of])
export = lake.read("gold.user_candidates")
USER_ID = None
user = USER_ID or nb.sample_user(export)
print(f"pool as of {as_of}; user {user}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Where the day's candidates come from
# MAGIC Share of each primary source in the whole pool and in the export.

# COMMAND ----------

nb.show(nb.source_mix(pool), globals())
nb.show(nb.source_mix(export), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## The user's pool, scored
# MAGIC The champion scores only this user's candidates (point-in-time features as of the pool's
# MAGIC date, exactly as the export job does).

# COMMAND ----------

user_pool = pool.where(F.col("user_id") == user).cache()
model = nb.champion(config)
if model is None:
    raise ValueError("no champion ranker registered: run `foryou train-ranker --run-date D` first")
scored = score_pool(lake, ExportSettings.of(config), user_pool, as_of, model).cache()
print(f"{user_pool.count()} candidates from {sorted(nb.source_mix(user_pool)['source'])}; "
      f"ranker version {model.version}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Guards
# MAGIC Candidates removed before the rerank: items farmed by suspected bots, items the user hid
# MAGIC or reported, items already exported to the user in the last runs.

# COMMAND ----------

users = lake.read("gold.user_features", partitions=[as_of]).where(F.col("user_id") == user)
_, dropped = guard_pool(lake, config.rerank, scored, as_of, users)
for guard, rows in dropped.items():
    print(f"{guard}: {rows.count()} dropped")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Why each item is where it is
# MAGIC `relevance_rank` is the order the ranker alone would give; `feed_rank` the exported order;
# MAGIC `moved` > 0: the rerank lifted the item (diversity, exploration, novelty); a null
# MAGIC `feed_rank`: a guard dropped it or the list was full.

# COMMAND ----------

why = nb.explain_feed(scored, export.where(F.col("user_id") == user))
nb.show(why, globals(), rows=50)
shown = why.dropna(subset=["feed_rank"])
print(f"exported {len(shown)} of {len(why)} candidates; "
      f"{int((shown['moved'] > 0).sum())} lifted and {int((shown['moved'] < 0).sum())} lowered by the rerank")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The feed as serving reads it
# MAGIC `foryou.serving.FeedReader` reads the export's latest version with delta-rs (no JVM).

# COMMAND ----------

reader = FeedReader.from_lake(lake)
feed = reader.feed(user, n=10)
nb.show(pd.DataFrame(feed), globals())
scored.unpersist()
user_pool.unpersist()
