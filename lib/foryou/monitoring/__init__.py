"""Monitoring: table freshness and row counts, feature drift, KPI rules, alerts, retrain decision.

``run_monitoring`` runs every check for one run date; its alerts go to ``gold.metrics``
(stage ``monitor``) and to a Prometheus textfile-collector file.
"""
