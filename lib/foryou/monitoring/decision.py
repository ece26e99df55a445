"""The retrain-or-not decision, with its reason.

Retrain when there is no trained ranker yet, when a feature drifted past ``psi_retrain``, when
a KPI rule fired, or when the ranker is older than ``max_model_age_days``. Freshness and
row-count alerts do not trigger a retrain: they say the data is broken, and retraining on
broken data makes things worse; they block it instead.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from foryou.config.monitoring import MonitoringConfig
from foryou.monitoring.alerts import Alert


@dataclass(frozen=True)
class Decision:
    retrain: bool
    reason: str
    blocked: bool = False       # retraining is warranted but the data checks failed


def retrain_decision(alerts: Sequence[Alert], drift: dict[str, dict[str, float]],
                     last_trained: dt.date | None, run_date: dt.date,
                     config: MonitoringConfig) -> Decision:
    """Decide whether the ranker should be retrained after ``run_date``."""
    data_alerts = [a for a in alerts if a.kind in ("freshness", "rowcount")]
    reasons = []
    if last_trained is None:
        reasons.append("no trained ranker found in gold.metrics")
    else:
        age = (run_date - last_trained).days
        if age > config.max_model_age_days:
            reasons.append(f"ranker is {age} days old (limit {config.max_model_age_days})")
    drifted = sorted(((psi, f"{t}.{f}") for t, feats in drift.items() for f, psi in feats.items()
                      if psi >= config.psi_retrain), reverse=True)
    if drifted:
        top = ", ".join(f"{name} {psi:.2f}" for psi, name in drifted[:3])
        reasons.append(f"{len(drifted)} features drifted past PSI {config.psi_retrain:g} ({top})")
    kpis = [a.subject for a in alerts if a.kind == "kpi"]
    if kpis:
        reasons.append(f"KPI degraded: {', '.join(sorted(set(kpis)))}")
    if not reasons:
        age = "" if last_trained is None else f"; ranker trained {last_trained}"
        return Decision(False, f"no drift past PSI {config.psi_retrain:g}, KPIs within rules{age}")
    if data_alerts:
        subjects = ", ".join(sorted({a.subject for a in data_alerts}))
        return Decision(False, "retrain warranted (" + "; ".join(reasons) + ") but blocked by "
                        f"data alerts on {subjects}", blocked=True)
    return Decision(True, "; ".join(reasons))
