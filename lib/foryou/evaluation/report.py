"""One self-contained HTML report per run: figures embedded as base64 PNG, no external files.

:class:`ReportData` holds what a report shows, already small (pandas frames and dicts
computed by Spark elsewhere); :func:`render` turns it into HTML. A section whose input is
absent is kept, with a visible note saying what was missing, so a reader sees what the run
could not measure rather than a silently shorter report.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


@dataclass
class ReportData:
    """Inputs of a report; ``None`` or empty means "absent" and the section says so."""

    run_date: dt.date
    title: str = "foryou evaluation"
    business: dict[str, float | None] = field(default_factory=dict)
    # run_date, name, value: evaluate-stage metrics of earlier runs (and this one).
    metric_history: pd.DataFrame | None = None
    ranker_scores: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, pd.DataFrame] = field(default_factory=dict)   # predicted, observed, count
    gates: dict[str, list[float]] = field(default_factory=dict)
    source_mix: pd.DataFrame | None = None      # table, source, items
    beyond_accuracy: dict[str, float] = field(default_factory=dict)    # coverage, diversity, ...
    retrieval: pd.DataFrame | None = None       # source, metric, k, value
    retention: pd.DataFrame | None = None       # lag, rate (cohort-weighted curve)
    trends: pd.DataFrame | None = None          # kind, subject, recent, baseline, growth, z
    simulator: pd.DataFrame | None = None       # policy, metrics with their CIs
    simulator_days: pd.DataFrame | None = None  # satiation, policy, metrics over days
    holdout: pd.DataFrame | None = None         # list, ndcg, precision, recall, map, users, coverage
    holdout_k: int = 10
    alerts: list[dict] = field(default_factory=list)
    decision: dict | None = None
    notes: dict[str, str] = field(default_factory=dict)   # section -> why its input is absent


def figure_html(fig, title: str) -> str:
    """A matplotlib figure as an ``<img>`` with an embedded base64 PNG (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img alt="{html.escape(title)}" title="{html.escape(title)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(title)}</figcaption></figure>')


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return html.escape(str(v))


def table_html(rows: pd.DataFrame | dict, columns: tuple[str, str] = ("metric", "value")) -> str:
    if isinstance(rows, dict):
        rows = pd.DataFrame({columns[0]: list(rows), columns[1]: list(rows.values())})
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows.columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>"
                   for r in rows.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _skipped(reason: str) -> str:
    return f'<p class="skipped">Skipped: {html.escape(reason)}</p>'


def _trend_figures(data: ReportData) -> str:
    hist = data.metric_history
    if hist is None or hist.empty or hist["run_date"].nunique() < 2:
        return _skipped(data.notes.get("trends", "fewer than two evaluated run dates in gold.metrics"))
    names = [n for n in sorted(hist["name"].unique()) if n.startswith(("business.", "ranker.", "retrieval."))
             or n.startswith("beyond.")][:12]
    cols = 3
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        s = hist[hist["name"] == name].sort_values("run_date")
        ax.plot(pd.to_datetime(s["run_date"]), s["value"], marker="o")
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Metric trends across runs")
    return figure_html(fig, "Metric trends across runs")


def _calibration(data: ReportData) -> str:
    parts = []
    if data.ranker_scores:
        parts.append(table_html(data.ranker_scores))
    if not data.calibration:
        return "".join(parts) + _skipped(data.notes.get(
            "calibration", "no calibration bins from a train-ranker run in gold.metrics"))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    for task, frame in sorted(data.calibration.items()):
        ax.plot(frame["predicted"], frame["observed"], marker="o", label=task)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("Calibration curves")
    ax.legend(fontsize=8)
    return "".join(parts) + figure_html(fig, "Calibration curves")


def _gates(data: ReportData) -> str:
    if not data.gates:
        return _skipped(data.notes.get("gates", "no gate utilisation from a train-ranker run in gold.metrics"))
    tasks = sorted(data.gates)
    experts = max(len(v) for v in data.gates.values())
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * experts, 0.8 + 0.4 * len(tasks)))
    grid = [list(data.gates[t]) + [float("nan")] * (experts - len(data.gates[t])) for t in tasks]
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0)
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_xticks(range(experts), [f"e{i}" for i in range(experts)])
    ax.set_title("Gate utilisation per task")
    fig.colorbar(im, ax=ax, label="mean gate weight")
    return figure_html(fig, "Gate utilisation per task")


def _source_mix(data: ReportData) -> str:
    mix = data.source_mix
    if mix is None or mix.empty:
        return _skipped(data.notes.get("source_mix", "no gold.candidate_pool or gold.user_candidates"))
    pivot = mix.pivot_table(index="table", columns="source", values="items", aggfunc="sum").fillna(0)
    shares = pivot.div(pivot.sum(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(7, 1 + 0.6 * len(shares)))
    left = [0.0] * len(shares)
    for source in shares.columns:
        ax.barh(shares.index, shares[source], left=left, label=source)
        left = [a + b for a, b in zip(left, shares[source])]
    ax.set_xlabel("share of candidates")
    ax.set_title("Candidate source mix")
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    return figure_html(fig, "Candidate source mix") + table_html(mix)


def _beyond(data: ReportData) -> str:
    parts = []
    if data.retrieval is not None and not data.retrieval.empty:
        parts.append(table_html(data.retrieval))
    if not data.beyond_accuracy:
        return "".join(parts) + _skipped(data.notes.get(
            "beyond", "no diversity/coverage figures (export or retrieval evaluation absent)"))
    names = sorted(data.beyond_accuracy)
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.45 * len(names)))
    ax.barh(names, [data.beyond_accuracy[n] for n in names], color="tab:green")
    ax.set_title("Diversity and coverage")
    return "".join(parts) + figure_html(fig, "Diversity and coverage") + table_html(data.beyond_accuracy)


def _retention(data: ReportData) -> str:
    curve = data.retention
    if curve is None or curve.empty:
        return _skipped(data.notes.get("retention", "fewer than two days of silver.events"))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(curve["lag"], curve["rate"], marker="o")
    ax.set_xlabel("days after the cohort day")
    ax.set_ylabel("share of the cohort active")
    ax.set_ylim(0, 1)
    ax.set_title("Retention curve")
    return figure_html(fig, "Retention curve") + table_html(curve)


def _simulator(data: ReportData) -> str:
    sim = data.simulator
    if sim is None or sim.empty:
        return _skipped(data.notes.get("simulator", "the feed simulator did not run"))
    plots = [(m, f"{m}_lo", f"{m}_hi") for m in ("time_spent_s", "return_rate")
             if {m, f"{m}_lo", f"{m}_hi", "policy"} <= set(sim.columns)]
    parts = []
    if plots:
        fig, axes = plt.subplots(1, len(plots), figsize=(5 * len(plots), 0.9 + 0.45 * len(sim)),
                                 squeeze=False)
        for ax, (m, lo, hi) in zip(axes.flat, plots):
            err = [sim[m] - sim[lo], sim[hi] - sim[m]]
            colors = ["tab:red" if p == "champion" else "tab:gray" for p in sim["policy"]]
            ax.barh(sim["policy"], sim[m], xerr=err, color=colors, capsize=3)
            ax.set_title(f"{m} (95% CI)", fontsize=10)
        fig.suptitle("Feed simulator: champion against baselines")
        parts.append(figure_html(fig, "Feed simulator: champion against baselines"))
    if {"champion", "session_truth"} <= set(sim["policy"]):
        parts.append("<p><b>reactive</b>: the export re-ordered before every request by the "
                     "reader's in-session model (gold.session_model); <b>session_truth</b>: by the "
                     "session's true expected watch time, the ceiling of any re-ranking of the "
                     "export within a session.</p>")
    for note in ("simulator.ablations", "simulator.reactive"):
        if note in data.notes:
            parts.append(_skipped(data.notes[note]))
    return "".join(parts) + table_html(sim)


# The path from the ceiling to the served feed: each policy keeps what the stages above it left.
STAGE_PATH = (("oracle", "the whole catalogue, true best"),
              ("oracle_pool", "retrieval: true best within the pool"),
              ("ranker_pool", "ranker: the pool by the champion's relevance"),
              ("champion", "rerank: the served export"))


def stage_split(sim: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per stage of :data:`STAGE_PATH` present in ``sim``: the share of the oracle's lift over
    random it keeps in this run (time spent, return) and, from ``history`` (``name, value``
    rows of earlier runs' ``simulator.<policy>.<share>``), the mean over runs and their number."""
    rows = []
    shown = sim.set_index("policy")
    for policy, stage in STAGE_PATH:
        if policy not in shown.index:
            continue
        row = {"stage": stage, "policy": policy}
        for share in ("time_share", "return_share"):
            row[share] = float(shown.at[policy, share]) if share in shown.columns else float("nan")
            past = (history[history["name"] == f"simulator.{policy}.{share}"]["value"]
                    if history is not None and not history.empty else pd.Series(dtype=float))
            row[f"{share}_mean_over_runs"] = float(past.mean()) if len(past) else float("nan")
            row["runs"] = max(row.get("runs", 0), len(past))
        rows.append(row)
    return pd.DataFrame(rows)


def _stage_split(data: ReportData) -> str:
    sim = data.simulator
    if sim is None or sim.empty:
        return _skipped(data.notes.get("simulator", "the feed simulator did not run"))
    split = stage_split(sim, data.metric_history)
    if len(split) < 2:
        return _skipped(data.notes.get("simulator.ablations", "no pool policies were simulated"))
    intro = ("<p>Share of the oracle's lift over random each step keeps (1 = the oracle, 0 = "
             "random): the drop from one row to the next is what that stage loses.</p>")
    return intro + table_html(split)


def diversity_pays(days: pd.DataFrame) -> pd.DataFrame:
    """Per satiation level and ablation: the champion's time spent per user and day minus the
    ablation's, paired over the same users and draws, with its 95% CI (positive: the rerank
    step the ablation switches off pays)."""
    rows = []
    for level, table in days.groupby("satiation", sort=False):
        for r in table[table["policy"].str.startswith("no_")].itertuples():
            rows.append({"satiation": level, "strength": float(r.strength),
                         "ablation": r.policy, "champion_minus_ablation_s": -r.time_vs_ref_s,
                         "lo": -r.time_vs_ref_s_hi, "hi": -r.time_vs_ref_s_lo})
    return pd.DataFrame(rows)


def _over_days(data: ReportData) -> str:
    days = data.simulator_days
    if days is None or days.empty:
        return _skipped(data.notes.get("simulator.days", data.notes.get(
            "simulator", "the multi-day simulation did not run")))
    n_days = int(days["days"].iloc[0])
    intro = (f"<p>The same users served for {n_days} days in a row, the export rebuilt each "
             "morning from what they did (guards, history, rerank), at each satiation strength: "
             "how fast users tire of a topic within a session and over days. Time spent is per "
             "user and day (a day away counts 0); a positive difference means the champion's "
             "rerank step pays against the ablation without it.</p>")
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for policy, table in days.groupby("policy", sort=False):
        if policy in ("oracle", "random"):
            continue
        ax.plot(table["strength"], table["time_spent_s"], marker="o", label=policy)
    ax.set_xlabel("satiation strength")
    ax.set_ylabel("time spent per user-day (s)")
    ax.legend(fontsize=8)
    return (intro + figure_html(fig, "Time spent over days by satiation")
            + table_html(diversity_pays(days)) + table_html(days))


def _monitoring(data: ReportData) -> str:
    parts = []
    if data.decision:
        verdict = "retrain" if data.decision.get("retrain") else "do not retrain"
        parts.append(f"<p><b>Decision: {verdict}.</b> {html.escape(str(data.decision.get('reason', '')))}</p>")
    if data.alerts:
        parts.append(table_html(pd.DataFrame(data.alerts)))
    else:
        parts.append("<p>No alerts.</p>")
    return "".join(parts)


def _trending(data: ReportData) -> str:
    if data.trends is None or data.trends.empty:
        return _skipped(data.notes.get("trending", "no subject had anomalous engagement growth"))
    return table_html(data.trends)


def _holdout(data: ReportData) -> str:
    table = data.holdout
    if table is None or table.empty:
        return _skipped(data.notes.get("holdout", "no hold-out table (foryou benchmark makes one)"))
    k = data.holdout_k
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.45 * len(table)))
    ax.barh(table["list"][::-1], table["ndcg"][::-1], color="tab:blue")
    ax.set_xlabel(f"nDCG@{k}")
    ax.set_title(f"Hold-out nDCG@{k} per list ({int(table['users'].iloc[0]):,} users)")
    shown = table.rename(columns={m: f"{m}@{k}" for m in ("ndcg", "precision", "recall", "map")})
    return figure_html(fig, f"Hold-out nDCG@{k}") + table_html(shown)


SECTIONS: tuple[tuple[str, Callable[[ReportData], str]], ...] = (
    ("Metric trends across runs", _trend_figures),
    ("Ranker: scores and calibration", _calibration),
    ("Gate utilisation", _gates),
    ("Candidate source mix", _source_mix),
    ("Retrieval, diversity and coverage", _beyond),
    ("Retention", _retention),
    ("Trending items and tags", _trending),
    ("Feed simulator: champion against baselines", _simulator),
    ("Where the value is lost: oracle to served feed", _stage_split),
    ("Diversity over days: when it pays", _over_days),
    ("Monitoring", _monitoring),
)
# ``foryou benchmark``'s report: the offline hold-out protocol's table alone.
BENCHMARK_SECTIONS: tuple[tuple[str, Callable[[ReportData], str]], ...] = (
    ("Offline hold-out: the feed against baselines", _holdout),
)

STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}
th{background:#f3f3f3}.skipped{color:#a33;font-style:italic}figure{margin:.5em 0}
figcaption{font-size:12px;color:#666}img{max-width:100%}"""


def render(data: ReportData, sections=SECTIONS) -> str:
    """The report as one HTML document: the business metrics, then each of ``sections``."""
    body = [f"<h1>{html.escape(data.title)}: run date {data.run_date}</h1>",
            f"<p>Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}.</p>"]
    if sections is SECTIONS:
        body += ["<h2>Business metrics</h2>",
                 table_html(data.business) if data.business else _skipped(
                     data.notes.get("business", "no silver.events for the run date"))]
    for title, section in sections:
        try:
            content = section(data)
        except Exception as exc:  # a broken input must not lose the rest of the report
            content = _skipped(f"failed to render: {type(exc).__name__}: {exc}")
        body.append(f"<h2>{html.escape(title)}</h2>{content}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(data.title)} "
            f"{data.run_date}</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def write(data: ReportData, folder: str | Path, sections=SECTIONS, stem: str = "report") -> Path:
    """Render and write ``<folder>/<stem>-<run_date>.html`` (atomically); returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{data.run_date}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(data, sections), encoding="utf-8")
    tmp.replace(path)
    return path


def report_dir(lake_root: str, configured: str | None) -> Path:
    """``evaluation.report_dir``, else ``<lake.root>/reports``."""
    if configured:
        return Path(configured)
    root = lake_root[len("file://"):] if lake_root.startswith("file://") else lake_root
    return Path(root) / "reports"
