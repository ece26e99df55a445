"""Settings of the data-quality checks (the ``quality`` config section)."""
from __future__ import annotations

from pydantic import Field

from foryou.config.section import Section


class QualityConfig(Section):
    # Validate each batch with its table's expectation suite before it is written.
    enabled: bool = True
    # An expectation with more unexpected rows than this (percent of checked rows) stops the job.
    max_unexpected_percent: float = Field(default=0.0, ge=0.0, le=100.0)
