"""The job pattern: argument parsing, config, session, lake, metrics and idempotency per run date."""
from foryou.runtime.context import JobContext, job_main, operator_main
from foryou.runtime.metrics import Metrics

__all__ = ["JobContext", "Metrics", "job_main", "operator_main"]
