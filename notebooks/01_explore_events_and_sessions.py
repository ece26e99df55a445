# Databricks notebook source
# MAGIC %md
# MAGIC # 01 · Explore events and sessions
# MAGIC
# MAGIC What the clean stage kept and rejected, what users do (event mix, daily volume, position
# MAGIC bias of the served feed) and how their activity splits into sessions.
# MAGIC Everything here reads the lake through `foryou.notebook`; nothing is written.
# MAGIC
# MAGIC **Parameters** (widgets on Databricks, environment variables elsewhere):
# MAGIC `conf` (YAML overlays, comma separated, e.g. `conf/databricks.yaml`),
# MAGIC `set` (`key=value` overrides separated by `;`), `run_date` (`YYYY-MM-DD`, optional).

# COMMAND ----------

from foryou import notebook as nb

spark, lake, config, run_date = nb.session_and_lake(globals())
print(f"lake root: {config.lake.root} (backend: {lake.backend_name}); run date: {run_date or 'all'}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The lake
# MAGIC Every table of the catalog with its version, rows, size and last operation.

# COMMAND ----------

from foryou.lake.report import tables_text

print(tables_text(lake))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Cleaning: what came in and what was kept
# MAGIC `input = accepted + quarantined + duplicates` for every run date (from `gold.metrics`),
# MAGIC then the most frequent quarantine reasons.

# COMMAND ----------

counts = nb.clean_counts(lake)
nb.show(counts, globals())
nb.show(nb.quarantine_reasons(lake), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Events: daily volume and mix

# COMMAND ----------

daily = nb.daily_events(lake)
nb.show(daily, globals())
nb.show(nb.bar_figure(daily, "event_date", ["events"], "silver.events per day"), globals())

dates = [run_date] if run_date else None
mix = nb.event_mix(lake, dates)
nb.show(mix, globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Position bias of the served feed
# MAGIC Label rates per feed position in `silver.impressions`: items further down are clicked
# MAGIC less, whatever their quality. The ranker's training has to live with this.

# COMMAND ----------

rates = nb.label_rates_by_position(lake)
nb.show(rates, globals())
nb.show(nb.bar_figure(rates, "position", ["click", "long_view"], "label rate by position",
                      kind="line"), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Sessions
# MAGIC Sessions per day with quantiles of duration and events per session, and the distribution
# MAGIC of session length (log10 of 1 + seconds).

# COMMAND ----------

nb.show(nb.session_summary(lake), globals())
sessions = lake.read("silver.sessions")
length = nb.histogram(sessions, "duration_s", bins=15, log=True)
nb.show(nb.bar_figure(length, "low", ["count"], "session length, log10(1 + s)"), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## One user's sessions

# COMMAND ----------

user = nb.sample_user(sessions)
nb.show(sessions.where(sessions.user_id == user).orderBy("session_start")
        .select("session_start", "session_end", "duration_s", "events", "views", "engagements"),
        globals())
