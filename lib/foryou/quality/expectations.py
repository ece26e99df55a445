"""One Great Expectations suite per table, validated per batch before the batch is written.

GX 1.x's flow: an ephemeral context (one per process: building it and importing GX take
seconds), a Spark data source with one dataframe asset per table, a whole-dataframe batch
definition, the table's :class:`~great_expectations.ExpectationSuite`, and a
:class:`~great_expectations.ValidationDefinition` run with ``batch_parameters={"dataframe": df}``.

Every expectation's outcome is stored in ``gold.metrics`` (one metric per expectation:
``quality.<table>.<expectation>:<column>``, value = unexpected percent, detail = success and
counts). An expectation whose unexpected percent exceeds ``quality.max_unexpected_percent`` (or
that could not be evaluated) stops the job with :class:`QualityError`, whose message names the
failing expectations.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame

from foryou.lake.vocabulary import (
    CONTENT_ID, DURATION_MS, EVENT_DATE, EVENT_ID, EVENT_TS, EVENT_TYPE, EVENT_TYPES,
    FOLLOWER_COUNT, FOLLOW_COUNT, INGEST_ID, POSITION, SILVER_CONTENT, SILVER_EVENTS,
    SILVER_USERS, UPDATED_AT, USER_ID, WATCH_MS,
)
from foryou.privacy.pseudonyms import PSEUDONYM_REGEX

if TYPE_CHECKING:
    from foryou.config.settings import CleanSettings
    from foryou.stages import StageResult

log = logging.getLogger("foryou.quality")

# GX phones home at import unless told not to; there is no network here anyway.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass(frozen=True)
class Check:
    """One expectation in table terms: GX class name, column and arguments."""

    kind: str
    column: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return f"{_snake(self.kind)}:{self.column}"


def _snake(kind: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in kind).lstrip("_")


def _not_null(column: str) -> Check:
    return Check("ExpectColumnValuesToNotBeNull", column)


def _unique(column: str) -> Check:
    return Check("ExpectColumnValuesToBeUnique", column)


def _between(column: str, low: float | None, high: float | None) -> Check:
    return Check("ExpectColumnValuesToBeBetween", column,
                 (("min_value", low), ("max_value", high)))


def _pseudonym(column: str) -> Check:
    return Check("ExpectColumnValuesToMatchRegex", column, (("regex", PSEUDONYM_REGEX),))


def suite_checks(table: str, settings: "CleanSettings") -> tuple[Check, ...]:
    """The expectation suite of ``table`` (silver tables written by ``foryou clean``)."""
    if table == SILVER_EVENTS:
        return (
            _not_null(EVENT_ID), _unique(EVENT_ID),
            _not_null(EVENT_TYPE),
            Check("ExpectColumnValuesToBeInSet", EVENT_TYPE,
                  (("value_set", tuple(sorted(EVENT_TYPES))),)),
            _not_null(USER_ID), _pseudonym(USER_ID),
            _not_null(EVENT_TS), _not_null(EVENT_DATE),
            _between(WATCH_MS, 0, settings.clean.max_watch_ms),
            _between(POSITION, 0, None),
            _not_null(INGEST_ID),
        )
    if table == SILVER_CONTENT:
        return (_not_null(CONTENT_ID), _unique(CONTENT_ID),
                _between(DURATION_MS, 0, None), _not_null(UPDATED_AT))
    if table == SILVER_USERS:
        return (_not_null(USER_ID), _unique(USER_ID), _pseudonym(USER_ID),
                _between(FOLLOW_COUNT, 0, None), _between(FOLLOWER_COUNT, 0, None),
                _not_null(UPDATED_AT))
    raise KeyError(f"no expectation suite for table {table!r}")


@dataclass(frozen=True)
class Outcome:
    """One expectation's result on one batch."""

    table: str
    expectation: str
    success: bool
    element_count: int
    unexpected_count: int
    unexpected_percent: float
    error: str | None = None


@dataclass(frozen=True)
class ValidationReport:
    """All outcomes of one table's suite on one batch, judged against the threshold."""

    table: str
    outcomes: tuple[Outcome, ...]
    max_unexpected_percent: float

    @property
    def failing(self) -> list[Outcome]:
        return [o for o in self.outcomes
                if o.error is not None or o.unexpected_percent > self.max_unexpected_percent]

    @property
    def passed(self) -> bool:
        return not self.failing

    def text(self) -> str:
        """A readable report: one line per failing expectation, then the totals."""
        lines = [f"data quality of {self.table}: {len(self.failing)} of {len(self.outcomes)} "
                 f"expectations over the threshold of {self.max_unexpected_percent}% unexpected"]
        for o in self.failing:
            what = o.error or (f"{o.unexpected_count:,} of {o.element_count:,} rows unexpected "
                               f"({o.unexpected_percent:.2f}%)")
            lines.append(f"  FAILED {o.expectation}: {what}")
        return "\n".join(lines)


class QualityError(RuntimeError):
    """A batch failed its table's expectation suite; the message is the readable report."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.text())
        self.report = report


class _Validator:
    """The process's one GX context, with a validation definition per table and suite."""

    def __init__(self):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_spark(name="foryou")
        self._definitions: dict[tuple[str, tuple[Check, ...]], Any] = {}

    def definition(self, table: str, checks: tuple[Check, ...]):
        key = (table, checks)
        if key not in self._definitions:
            import great_expectations.expectations as gxe

            gx = self._gx
            name = f"{table}#{len(self._definitions)}"
            asset = self.source.add_dataframe_asset(name=name)
            batch = asset.add_batch_definition_whole_dataframe(name)
            suite = self.context.suites.add(gx.ExpectationSuite(name=name))
            for check in checks:
                kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in check.kwargs}
                suite.add_expectation(getattr(gxe, check.kind)(column=check.column, **kwargs))
            self._definitions[key] = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch, suite=suite))
        return self._definitions[key]


_VALIDATOR: _Validator | None = None
_LOCK = threading.Lock()


def _validator() -> _Validator:
    global _VALIDATOR
    with _LOCK:
        if _VALIDATOR is None:
            _VALIDATOR = _Validator()
        return _VALIDATOR


def validate(df: DataFrame, table: str, settings: "CleanSettings") -> ValidationReport:
    """Run ``table``'s suite on ``df`` (cache ``df`` first: GX scans it once per metric)."""
    checks = suite_checks(table, settings)
    definition = _validator().definition(table, checks)
    result = definition.run(batch_parameters={"dataframe": df}, result_format="SUMMARY")
    by_check = {(r.expectation_config.type, r.expectation_config.kwargs.get("column")): r
                for r in result.results}
    outcomes = []
    for check in checks:
        r = by_check[(_snake(check.kind), check.column)]
        info = r.exception_info or {}
        error = info.get("exception_message") if info.get("raised_exception") else None
        res = r.result or {}
        outcomes.append(Outcome(
            table, check.name, bool(r.success), int(res.get("element_count") or 0),
            int(res.get("unexpected_count") or 0), float(res.get("unexpected_percent") or 0.0),
            error))
    return ValidationReport(table, tuple(outcomes), settings.quality.max_unexpected_percent)


def record(report: ValidationReport, metrics: "StageResult") -> None:
    """One ``gold.metrics`` row per expectation: value = unexpected percent."""
    for o in report.outcomes:
        metrics.record(f"quality.{o.table}.{o.expectation}", o.unexpected_percent, "percent",
                       success=o.success, unexpected_count=o.unexpected_count,
                       element_count=o.element_count, error=o.error,
                       threshold=report.max_unexpected_percent)


def check_batch(df: DataFrame, table: str, settings: "CleanSettings",
                metrics: "StageResult") -> ValidationReport | None:
    """Validate, record the outcomes, and raise :class:`QualityError` past the threshold.

    Returns None (and validates nothing) when ``quality.enabled`` is false.
    """
    if not settings.quality.enabled:
        return None
    with metrics.timer(f"quality.{table}"):
        report = validate(df, table, settings)
    record(report, metrics)
    if not report.passed:
        log.error("%s", report.text())
        raise QualityError(report)
    log.info("data quality of %s: %d expectations passed", table, len(report.outcomes))
    return report
