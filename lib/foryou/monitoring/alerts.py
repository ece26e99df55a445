"""Alerts and where they go: ``gold.metrics`` (stage ``monitor``) and a Prometheus textfile.

The textfile is what node_exporter's textfile collector scrapes
(``--collector.textfile.directory``): it must never be seen half-written, so it is written to a
temporary file in the same folder and renamed over the old one (atomic on POSIX).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from foryou.runtime.metrics import Metrics


@dataclass(frozen=True)
class Alert:
    """One firing check: its kind (freshness, rowcount, drift, kpi), subject and reason."""

    kind: str
    subject: str
    message: str
    value: float | None = None
    threshold: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Gauge:
    """One Prometheus sample: metric name, labels and value."""

    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    help: str = ""


def record_alerts(metrics: Metrics, alerts: Iterable[Alert]) -> None:
    """One ``alert.<kind>.<subject>`` row (value 1) per alert in ``metrics`` (the metrics key
    is run, stage and name, so the subject is part of the name)."""
    for a in alerts:
        metrics.record(f"alert.{a.kind}.{a.subject}", 1, "alert", subject=a.subject, message=a.message,
                       observed=a.value, threshold=a.threshold, **a.detail)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(g: Gauge) -> str:
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(g.labels.items()))
    value = "NaN" if g.value != g.value else repr(float(g.value))
    return f"{g.name}{{{labels}}} {value}" if labels else f"{g.name} {value}"


def prometheus_text(gauges: Iterable[Gauge]) -> str:
    """The text exposition format: ``# HELP``/``# TYPE`` once per metric, then its samples."""
    by_name: dict[str, list[Gauge]] = {}
    for g in gauges:
        by_name.setdefault(g.name, []).append(g)
    lines = []
    for name, samples in by_name.items():
        helptext = next((g.help for g in samples if g.help), name)
        lines += [f"# HELP {name} {_escape(helptext)}", f"# TYPE {name} gauge"]
        lines += [_sample(g) for g in samples]
    return "\n".join(lines) + "\n"


def write_textfile(path: str | Path, gauges: Iterable[Gauge]) -> Path:
    """Write the gauges to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = prometheus_text(gauges)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
