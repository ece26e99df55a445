"""The job pattern: argument parsing, config, session, lake, metrics and idempotency per run date."""
from foryou.runtime.context import JobContext, config_main, job_main, operator_main
from foryou.runtime.metrics import Metrics

__all__ = ["JobContext", "Metrics", "config_main", "job_main", "operator_main"]
