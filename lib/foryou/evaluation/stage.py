"""The ``evaluate`` stage: measure a run date, run monitoring, write the report.

Business metrics, retention, trends, the ranker's and retrieval's figures and the feed
simulator (:func:`foryou.evaluation.daily.evaluate_day`); monitoring's figures are committed
under the run's ``monitor`` part, the rest by whoever runs the stage.
"""
from __future__ import annotations

import datetime as dt

from foryou.config.settings import EvaluationSettings
from foryou.evaluation.daily import evaluate_day
from foryou.lake import CommitKey, Lake
from foryou.stages import StageResult


def run(lake: Lake, settings: EvaluationSettings, run_date: dt.date, key: CommitKey,
        force: bool = False, *, simulate: bool = True) -> StageResult:
    """Evaluate ``run_date``; ``simulate=False`` skips the feed simulator (the slowest part)."""
    with StageResult() as out:  # a failure keeps what was recorded so far
        result = evaluate_day(lake, settings, run_date, out, key, force, simulate=simulate)
        for name, value in result.business.items():
            out.say(f"  {name}: " + ("-" if value is None else f"{value:,.4g}"))
        out.say(f"  retrain: {'yes' if result.retrain else 'no'} ({result.reason})")
        out.say(f"  prometheus: {result.prometheus_path}")
        out.say(f"  report: {result.report_path}")
        return out
