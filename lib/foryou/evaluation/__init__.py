"""Evaluation: how good the feed is, offline and in the logs.

Modules: ``retrieval`` (recall/NDCG@K,
coverage, diversity, novelty, Gini), ``business`` (DAU, retention, time spent, CTR, engagement
and follow conversion from the silver logs), ``trends`` (anomalous engagement growth),
``abtest`` (two-policy comparison with effect sizes, CIs and p-values), ``history`` (earlier
runs' metrics from gold.metrics), ``report`` (one self-contained HTML report per run).
"""
