# Databricks notebook source
# MAGIC %md
# MAGIC # 05 · Evaluation
# MAGIC
# MAGIC What `foryou evaluate` measured for a run date and the run dates before it: business
# MAGIC metrics from the logs, the ranker's offline figures, retrieval and beyond-accuracy figures
# MAGIC of the export, the source mix, monitoring alerts, and the HTML report.
# MAGIC All figures are read from `gold.metrics`; nothing is recomputed here.
# MAGIC
# MAGIC **Parameters**: `conf`, `set`, `run_date` (the evaluated date; the latest if empty).

# COMMAND ----------

from foryou import notebook as nb
from foryou.evaluation.daily import source_mix
from foryou.evaluation.history import metric_history
from foryou.evaluation.report import report_dir

spark, lake, config, run_date = nb.session_and_lake(globals())
history = metric_history(lake, stages=["evaluate", "monitor"], until=run_date, days=30)
if history.empty:
    raise ValueError("no evaluate runs in gold.metrics: run `foryou evaluate --run-date D` first")
as_of = run_date or history["run_date"].max()
today = history[history["run_date"] == as_of]
print(f"evaluated run date {as_of}; {history['run_date'].nunique()} run date(s) of history")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Business metrics
# MAGIC DAU, CTR, watch time, session length, retention and follow conversion for the run date,
# MAGIC then their trend over the run dates recorded.

# COMMAND ----------

business = today[today["name"].str.startswith("business.")][["name", "value"]]
nb.show(business, globals(), rows=50)
trend = (history[history["name"].str.startswith("business.")]
         .pivot_table(index="run_date", columns="name", values="value").reset_index())
nb.show(trend, globals())
ctr = [c for c in trend.columns if c in ("business.ctr", "business.dau")]
if ctr:
    nb.show(nb.bar_figure(trend, "run_date", ctr[:1], ctr[0], kind="line"), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Ranker and retrieval
# MAGIC The ranker's held-out figures (copied from its training run), retrieval @K of the export
# MAGIC against the day's engagements, and beyond-accuracy figures (coverage, diversity,
# MAGIC novelty, Gini).

# COMMAND ----------

for prefix in ("ranker.", "retrieval.", "beyond."):
    rows = today[today["name"].str.startswith(prefix)][["name", "value"]]
    print(f"{prefix}* : {len(rows)} figure(s)")
    nb.show(rows, globals(), rows=60)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Source mix
# MAGIC Candidates per source in the day's pool and in the export.

# COMMAND ----------

nb.show(source_mix(lake, as_of), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Monitoring
# MAGIC Freshness, row-count anomalies, feature drift (PSI), KPI rules and the retrain decision.

# COMMAND ----------

nb.show(today[today["stage"] == "monitor"][["name", "value", "detail"]], globals(), rows=60)

# COMMAND ----------

# MAGIC %md
# MAGIC ## The report
# MAGIC The run date's HTML report, shown inline on Databricks.

# COMMAND ----------

report = report_dir(config.lake.root, config.evaluation.report_dir) / f"report-{as_of}.html"
print(f"report: {report} ({report.stat().st_size:,} bytes)")
if "displayHTML" in globals():
    displayHTML(report.read_text())  # noqa: F821 - Databricks' builtin
