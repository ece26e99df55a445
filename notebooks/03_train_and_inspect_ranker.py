# Databricks notebook source
# MAGIC %md
# MAGIC # 03 · Train and inspect the ranker
# MAGIC
# MAGIC The multi-task Mixture-of-Experts ranker (`foryou.ranking`): train a challenger (or use the
# MAGIC registered champion), then look at what training recorded on the held-out days (AUC/GAUC
# MAGIC per task, gate utilisation of the experts) and re-measure calibration live by scoring the
# MAGIC held-out examples with the champion on the executors.
# MAGIC
# MAGIC **Parameters**: `conf`, `set`, `run_date` (the training run date; the latest feature date if empty).
# MAGIC Set `RETRAIN = True` below to train a new challenger now (`foryou train-ranker`; it becomes
# MAGIC champion only if it beats the current one on the promotion metric).

# COMMAND ----------

import pandas as pd

from foryou import notebook as nb
from foryou.config.ranking import BINARY_TASKS
from foryou.evaluation import ranker as recorded
from foryou.ranking.metrics import expected_calibration_error, spark_gauc
from foryou.ranking.pyfunc import probability_column
from foryou.ranking.scoring import score_frame

spark, lake, config, run_date = nb.session_and_lake(globals())
as_of = run_date or nb.latest_date(lake, "gold.user_features")
print(f"run date {as_of}; architecture {config.ranking.architecture}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Train (only when asked, or when no champion exists yet)

# COMMAND ----------

RETRAIN = False
model = nb.champion(config)
if RETRAIN or model is None:
    nb.run_stage("train-ranker", as_of, globals(), force=RETRAIN)
    model = nb.champion(config)
print(f"champion: version {model.version} ({model.uri})")

# COMMAND ----------

# MAGIC %md
# MAGIC ## What training measured on the held-out days
# MAGIC The train-ranker run's rows in `gold.metrics`: AUC, GAUC, log loss and calibration error
# MAGIC per task.

# COMMAND ----------

run = nb.ranker_run(lake)
scores = pd.DataFrame(sorted(recorded.scores(run).items()), columns=["metric", "value"])
nb.show(scores, globals(), rows=60)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Gate utilisation
# MAGIC Mean gate weight of each expert per task, measured live on a sample of held-out examples
# MAGIC (and as training recorded it). A healthy MoE spreads tasks over experts; a row with all its
# MAGIC weight on one expert (gate entropy near 0) is a collapsed gate, and an expert no task uses
# MAGIC is dead weight.

# COMMAND ----------

held_out = nb.held_out_examples(lake, config, as_of)
gates = nb.live_gate_health(model.uri, held_out)
nb.show(gates, globals())
nb.show(nb.gate_figure({r.task: [getattr(r, c) for c in gates.columns if c.startswith("expert_")]
                        for r in gates.itertuples()}, "expert utilisation (live)"), globals())
utilisation = recorded.gate_utilisation(run)
if utilisation:
    nb.show(nb.gate_figure(utilisation, "expert utilisation (recorded by training)"), globals())

# COMMAND ----------

# MAGIC %md
# MAGIC ## Calibration, live
# MAGIC The champion scores the held-out examples (`mapInPandas` on the executors); per task,
# MAGIC the observed rate against the mean prediction in ten bins, the expected calibration error
# MAGIC and GAUC. The curves training recorded are shown beside them.

# COMMAND ----------

scored = score_frame(held_out, model.uri,
                     keep=["user_id", "content_id", *BINARY_TASKS]).cache()
tasks = [t for t in BINARY_TASKS if probability_column(t) in scored.columns]
live = {t: nb.calibration_bins(scored, t, probability_column(t)) for t in tasks}
summary = pd.DataFrame([{"task": t, "rows": int(live[t]["count"].sum()),
                         "ece": expected_calibration_error(live[t]),
                         "gauc": spark_gauc(scored.where(scored[t].isNotNull()), "user_id", t,
                                            probability_column(t))}
                        for t in tasks])
nb.show(summary, globals())
nb.show(nb.calibration_figure({t: live[t] for t in tasks[:4]}, "calibration (live)"), globals())
curves = recorded.calibration_curves(run)
if curves:
    nb.show(nb.calibration_figure(curves, "calibration (recorded by training)"), globals())
scored.unpersist()
