"""Thin spark-submit entry points, one per job; installed as the `foryou_jobs` package."""
