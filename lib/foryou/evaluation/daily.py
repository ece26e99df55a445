"""One run date's evaluation: every measurement whose inputs exist, then monitoring and the report.

The ``evaluate`` stage (:mod:`foryou.evaluation.stage`) calls :func:`evaluate_day`. Inputs that
are absent (no ranker trained yet, no export, no simulator) are noted, never fatal: the report
shows what the run could not measure. Metric names recorded in ``gold.metrics`` (stage ``evaluate``):
``business.<metric>`` (see :mod:`foryou.evaluation.business`), ``ranker.<auc|gauc|...>.<task>``
(copied from the train-ranker run), ``retention_curve.d<N>``, ``trends.items``/``trends.tags``
(anomalous subjects, the top ones in the detail), ``source_mix.<table>.<source>``,
``retrieval.*``/``beyond.*`` (from :mod:`foryou.evaluation.retrieval`) and ``simulator.*``.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, functions as F

from foryou.config.settings import EvaluationSettings
from foryou.evaluation import business, ranker, report
from foryou.evaluation.history import COLUMNS, metric_history
from foryou.evaluation.retrieval import evaluate_retrieval
from foryou.evaluation.trends import trending
from foryou.lake import CommitKey, Lake
from foryou.lake.days import days_before
from foryou.lake.vocabulary import (
    CONTENT_ID, GOLD_CANDIDATE_POOL as POOL, GOLD_SESSION_MODEL as SESSION_MODEL,
    GOLD_USER_CANDIDATES as EXPORT,
    SILVER_CONTENT as CONTENT, SILVER_EVENTS as EVENTS, SILVER_IMPRESSIONS as IMPRESSIONS,
    SILVER_SESSIONS as SESSIONS, USER_ID,
)
from foryou.monitoring.monitor import prometheus_path, publish, run_monitoring
from foryou.privacy.pseudonyms import load_key
from foryou.rerank.session import SessionModel
from foryou.runtime.metrics import Metrics
from foryou.simulator import (SESSION_TRUTH, SimWorld, load_world, oracle_policy, oracle_pool_policy,
                              popularity_policy, random_policy, simulate_policies)
from foryou.stages import StageResult


@dataclass
class Evaluation:
    """What one evaluation produced (the figures are also in ``gold.metrics``)."""

    report_path: Path
    prometheus_path: Path
    business: dict[str, float | None] = field(default_factory=dict)
    data: report.ReportData | None = None
    retrain: bool | None = None
    reason: str = ""


def _read(lake: Lake, name: str, partitions=None) -> DataFrame | None:
    if not lake.exists(name):
        return None
    return lake.read(name, partitions=partitions)


def _rows_frame(metrics: StageResult, key: CommitKey) -> pd.DataFrame:
    """The run's figures so far as ``gold.metrics`` rows (the monitoring reads them)."""
    return pd.DataFrame([{"run_date": key.run_date, "stage": key.job, "run_id": None, **f}
                         for f in metrics.figures], columns=COLUMNS)


def source_mix(lake: Lake, run_date: dt.date) -> pd.DataFrame:
    """Candidates per source in the run date's pool and in the current export."""
    frames = []
    pool = _read(lake, POOL, [run_date])
    if pool is not None:
        frames.append(pool.groupBy("source").count().withColumn("table", F.lit(POOL)))
    export = _read(lake, EXPORT)
    if export is not None:
        frames.append(export.groupBy("source").count().withColumn("table", F.lit(EXPORT)))
    # bounded: one row per source and table
    rows = [r.asDict() for f in frames for r in f.collect()]
    return pd.DataFrame([{"table": r["table"], "source": r["source"], "items": r["count"]} for r in rows],
                        columns=["table", "source", "items"])


def retrieval_figures(lake: Lake, config: EvaluationSettings, run_date: dt.date,
                      notes: dict[str, str]) -> tuple[pd.DataFrame | None, dict[str, float]]:
    """Retrieval @K per list (the export, each candidate source, popularity) on the run date's
    held-out engagements, and the export's beyond-accuracy figures at the first K.

    Returns ``(table with a k column, {coverage, intra_list_diversity, novelty, creator_gini}
    of the merged export)``.
    """
    if not lake.exists(EXPORT) or not lake.exists(IMPRESSIONS):
        notes["beyond"] = f"no {EXPORT} or {IMPRESSIONS} to evaluate"
        return None, {}
    tables = [evaluate_retrieval(lake, run_date, k=k).assign(k=k) for k in config.evaluation.k_values]
    if all(t.empty for t in tables):
        # A historical log that ends before the run date has nothing after it to hold out.
        notes["beyond"] = (f"no engagement on or after {run_date} by a user with a list: retrieval "
                           "not measured on the next day")
        return None, {}
    table = pd.concat(tables, ignore_index=True)
    first = tables[0]
    merged = first[first["list"] == "merged"]
    beyond = {}
    if not merged.empty:
        row = merged.iloc[0]
        beyond = {c: float(row[c]) for c in BEYOND if c in row and row[c] == row[c]}
    return table, beyond


BEYOND = ("coverage", "intra_list_diversity", "novelty", "creator_gini")
RETRIEVAL = ("recall", "precision", "ndcg", "map")


def simulator_tables(lake: Lake, config: EvaluationSettings, run_date: dt.date,
                     notes: dict[str, str]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Expected time spent and next-day return per policy from the feed simulator: one day,
    and over ``evaluation.satiation_days`` days at each satiation level.

    Policies, all served to the same ``evaluation.simulator_users`` simulated users with common
    random numbers: ``oracle`` (true best items of the whole catalogue: the ceiling),
    ``oracle_pool`` (true best items within each user's guarded candidate pool: what retrieval
    leaves), ``ranker_pool`` (that pool ordered by the champion's relevance alone, no rerank),
    ``champion`` (the current export) and its ablations ``no_diversity``, ``no_exploration``
    and ``no_caps`` (the export rebuilt from the same scored pool with the DPP trade-off at
    relevance only, without the exploration bonus, or without the creator, tag and
    top-interest caps: :data:`foryou.export.build.ABLATIONS`), ``reactive`` (the export
    re-ranked before every request by the reader's in-session model, ``gold.session_model``)
    and ``session_truth`` (re-ranked by the session's true expected watch: the ceiling of
    in-session re-ranking), ``popularity`` (most
    played items for everyone) and ``random`` (the floor). ``time_share`` and ``return_share``
    give the share of the oracle's lift over random each keeps, so the path oracle ->
    oracle_pool -> ranker_pool -> champion shows what retrieval, the ranker and the rerank each
    lose. Needs a synthetic world's truth (``<ingest.path>/truth``): on real logs there is no
    user model to simulate. Without a champion or a candidate pool the pool policies and the
    ablations are skipped with a note.

    The second table (None when not simulated, with a note) is
    :func:`foryou.evaluation.multiday.satiation_table`: the champion and its ablations over
    several days, the export rebuilt each morning, at no, the world's own and strong satiation.
    """

    truth = Path(config.ingest.path or "") / "truth"
    if not config.ingest.path or not truth.is_dir():
        notes["simulator"] = (f"no synthetic world truth at {truth}: the simulator needs the "
                              "world's user model")
        return None, None
    if not lake.exists(EXPORT):
        notes["simulator"] = f"no {EXPORT}: no champion feed to simulate"
        return None, None
    cfg = config.evaluation
    key = load_key(config.privacy, lake.spark).value
    world = load_world(config.world, truth, n_users=cfg.simulator_users, seed=cfg.simulator_seed,
                       pseudonym_key=key)
    users = lake.spark.createDataFrame([(str(u),) for u in world.pseudonyms], "user_id string")
    # bounded: the simulator's sampled users' lists (evaluation.simulator_users)
    champion = (lake.read(EXPORT).join(F.broadcast(users), USER_ID)
                .select(USER_ID, "rank", CONTENT_ID, "as_of_date").toPandas())
    # One export is one run's lists: its run date is the reference feeds' pool partition.
    as_of = champion.pop("as_of_date").max() if not champion.empty else None
    length = int(champion.groupby(USER_ID).size().max()) if not champion.empty else 50
    refs = _references(lake, config, users, as_of, notes)
    pool_feeds = {} if refs is None else {"oracle_pool": oracle_pool_policy(world, refs.pool, length),
                                          "ranker_pool": refs.ranker_pool}
    policies = {"oracle": oracle_policy(world, length), **pool_feeds, "champion": champion,
                **({} if refs is None else refs.ablations),
                "popularity": popularity_policy(world, truth, length),
                "random": random_policy(world, length, cfg.simulator_seed)}
    # In-session re-ranking of the same export: by the reader's learned model, and by the
    # session's truth (the ceiling of any re-ranking inside a session).
    reactive: dict[str, SessionModel | str] = {"session_truth": SESSION_TRUTH}
    model = latest_session_model(lake, run_date)
    if model is None:
        notes["simulator.reactive"] = f"no {SESSION_MODEL} row up to {run_date}: reactive not simulated"
    else:
        reactive["reactive"] = model
    policies.update({name: champion for name in reactive})
    one_day = simulate_policies(config.world, truth, policies, seed=cfg.simulator_seed, world=world,
                                reactive=reactive)
    return one_day, _over_days(lake, world, config, users, as_of, length, notes)


def latest_session_model(lake: Lake, run_date: dt.date) -> SessionModel | None:
    """The in-session re-ranker the reader served with on ``run_date``: the latest
    ``gold.session_model`` row learned on or before it (None when there is none)."""
    if not lake.exists(SESSION_MODEL):
        return None
    # bounded: one row
    rows = (lake.read(SESSION_MODEL).where(F.col("run_date") <= F.lit(run_date))
            .orderBy(F.col("run_date").desc(), F.col("trained_at").desc()).limit(1).collect())
    return SessionModel.from_json(rows[0]["model"]) if rows else None


def _over_days(lake: Lake, world: SimWorld, config: EvaluationSettings, users: DataFrame,
               as_of: dt.date | None, length: int, notes: dict[str, str]) -> pd.DataFrame | None:
    """:func:`foryou.evaluation.multiday.satiation_table` for the simulated users, served from
    the run date's pool built ``evaluation.satiation_pool_depth`` times deeper
    (:func:`foryou.candidates.build.deeper_pool`); None with a note when ``satiation_days`` is
    below 2 or there is no pool or champion to rebuild the export from."""
    from foryou.candidates.build import deeper_pool
    from foryou.evaluation.multiday import satiation_table

    cfg = config.evaluation
    if cfg.satiation_days < 2:
        notes["simulator.days"] = f"evaluation.satiation_days is {cfg.satiation_days}: not simulated"
        return None
    if as_of is None or not lake.exists(POOL):
        notes["simulator.days"] = f"no {POOL} for the export's run date: not simulated"
        return None
    if "simulator.ablations" in notes:  # no champion: nothing to rebuild the export with
        notes["simulator.days"] = notes["simulator.ablations"]
        return None
    deeper = deeper_pool(lake, config.retrieval, as_of, cfg.satiation_pool_depth)
    try:
        refs = _references(lake, config, users, as_of, notes, "simulator.days",
                           ablations={}, pool=deeper.pool)
    finally:
        deeper.release()
    if refs is None:
        return None
    levels = {name: config.world.satiation if strength is None else strength
              for name, strength in cfg.satiation_levels.items()}
    return satiation_table(world, refs.candidates, refs.users, config.export.rerank, as_of,
                           cfg.satiation_days, levels, length, cfg.simulator_seed)


def _references(lake: Lake, config: EvaluationSettings, users: DataFrame, as_of: dt.date | None,
                notes: dict[str, str], note: str = "simulator.ablations", **options):
    """The export's reference feeds for the simulated users (a
    :class:`foryou.export.build.ReferenceFeeds`; ``options`` go to
    :func:`foryou.export.build.reference_feeds`), or None (with a note under ``note``) when
    the export holds none of them, its run date ``as_of`` has no candidate pool or there is no
    champion to score it."""
    from foryou.export.build import reference_feeds
    from foryou.ranking.registry import ChampionMissing

    if as_of is None or not lake.exists(POOL):
        notes[note] = f"no {POOL} for the export's run date: the pool policies not simulated"
        return None
    try:
        return reference_feeds(lake, config.export, users, as_of, **options)
    except ChampionMissing as exc:
        notes[note] = f"pool policies not simulated: {exc}"
        return None


def evaluate_day(lake: Lake, config: EvaluationSettings, run_date: dt.date, metrics: StageResult,
                 key: CommitKey, force: bool = False, simulate: bool = True) -> Evaluation:
    """Measure ``run_date``, record the figures in ``metrics``, run monitoring, write the report.

    Args:
        lake: the lake.
        config: the sections evaluate reads.
        run_date: the day measured (its events, impressions and sessions).
        metrics: the evaluate run's figures (committed by the caller).
        key: the evaluate run's commit key; the monitor's figures are committed under its
            ``monitor`` part.
        force: passed to the monitor stage's metrics write.
        simulate: run the feed simulator (the slowest part) when it is available.
    """
    cfg = config.evaluation
    notes: dict[str, str] = {}
    data = report.ReportData(run_date=run_date, notes=notes)
    with metrics.timer("evaluate.logs"):
        _logs(lake, cfg, run_date, metrics, data)
    with metrics.timer("evaluate.ranker"):
        history = metric_history(lake, until=run_date, days=max(
            cfg.report_runs, cfg.monitoring.rowcount_lookback_runs))
        _ranker(history, metrics, data)
    with metrics.timer("evaluate.candidates"):
        _candidates(lake, config, run_date, metrics, data)
    with metrics.timer("evaluate.simulator"):
        if simulate:
            data.simulator, data.simulator_days = simulator_tables(lake, config, run_date, notes)
            if data.simulator is not None:
                _record_simulator(data.simulator, metrics)
            if data.simulator_days is not None:
                _record_days(data.simulator_days, metrics)
        else:
            notes["simulator"] = "the simulator was not asked for (--no-simulate)"

    # Monitoring, with this run's metrics visible to the KPI rules.
    with metrics.timer("evaluate.monitoring"):
        earlier = ~((history["stage"] == "evaluate") & (history["run_date"] == run_date))
        frames = [f for f in (history[earlier], _rows_frame(metrics, key)) if not f.empty]
        history = pd.concat(frames, ignore_index=True) if frames else history
        result = run_monitoring(lake, cfg.monitoring, cfg.kpi_rules, run_date, history)
        monitor = Metrics(f"monitor-{run_date}-{uuid.uuid4().hex[:8]}", "monitor", run_date)
        prom = publish(result, monitor, data.business,
                       prometheus_path(config.lake.root, cfg.monitoring))
        monitor.flush(lake.spark, lake, key.sub("monitor"), force)
    data.alerts = [{"kind": a.kind, "subject": a.subject, "message": a.message} for a in result.alerts]
    data.decision = {"retrain": result.decision.retrain, "reason": result.decision.reason}

    with metrics.timer("evaluate.report"):
        evaluated = history[history["stage"] == "evaluate"]
        data.metric_history = evaluated[["run_date", "name", "value"]].dropna()
        path = report.write(data, report.report_dir(config.lake.root, cfg.report_dir))
    return Evaluation(path, prom, data.business, data, result.decision.retrain, result.decision.reason)


def _logs(lake: Lake, cfg, run_date: dt.date, metrics: StageResult, data: report.ReportData) -> None:
    """Business metrics, the retention curve and trends from the silver logs."""
    notes = data.notes
    lookback = max(cfg.retention_curve_days, max(cfg.retention_days))
    if not lake.exists(EVENTS):
        notes["business"] = notes["retention"] = notes["trending"] = f"no {EVENTS} table"
        return
    parts = None if cfg.retention_cohort == "new" else days_before(run_date + dt.timedelta(days=1), lookback + 1)
    events = (lake.read(EVENTS, partitions=parts).select(business.USER_ID, business.EVENT_DATE)
              .where(F.col(business.EVENT_DATE) <= F.lit(run_date)).distinct().cache())
    try:
        if not events.where(F.col(business.EVENT_DATE) == F.lit(run_date)).limit(1).count():
            notes["business"] = notes["retention"] = notes["trending"] = \
                f"no {EVENTS} rows for {run_date}"
            return
        trend_days = cfg.trend_recent_days + cfg.trend_window_days
        impressions = _read(lake, IMPRESSIONS, days_before(run_date + dt.timedelta(days=1), trend_days))
        sessions = _read(lake, SESSIONS, [run_date])
        data.business = business.daily_business_metrics(events, impressions, sessions, run_date,
                                                        cfg.retention_days, cfg.retention_cohort)
        for name, value in data.business.items():
            detail = {"cohort": cfg.retention_cohort} if name.startswith("retention") else {}
            metrics.record(f"business.{name}", value, "", **detail)
        since = run_date - dt.timedelta(days=cfg.retention_curve_days)
        # bounded: one row per cohort lag (evaluation.retention_curve_days)
        curve = business.retention_curve(business.retention(
            events.where(F.col(business.EVENT_DATE) >= F.lit(since)),
            cfg.retention_curve_days, cfg.retention_cohort)).toPandas()
        data.retention = curve if not curve.empty else None
        for r in curve.itertuples():
            metrics.record(f"retention_curve.d{r.lag}", r.rate, "ratio", cohorts=r.cohorts)
        if impressions is None:
            notes["trending"] = f"no {IMPRESSIONS} table"
            return
        content = _read(lake, CONTENT)
        found = trending(impressions, content.select(CONTENT_ID, "tags") if content is not None else None,
                         run_date, cfg.trend_recent_days, cfg.trend_window_days, cfg.trend_z,
                         cfg.trend_min_engagements)
        tops = []
        for kind, frame in found.items():
            anomalous = frame.where("anomalous").select("kind", "subject", "recent", "baseline",
                                                        "growth", "z").cache()
            # bounded: the evaluation.trend_top most anomalous
            top = anomalous.orderBy(F.col("z").desc()).limit(cfg.trend_top).toPandas()
            metrics.record(f"trends.{kind}s", anomalous.count(), "subjects",
                           top=top[["subject", "z"]].round(3).to_dict("records"))
            anomalous.unpersist()
            tops.append(top)
        data.trends = pd.concat(tops, ignore_index=True) if tops else None
    finally:
        events.unpersist()


def _ranker(history: pd.DataFrame, metrics: StageResult, data: report.ReportData) -> None:
    """The ranker's figures from its latest training run."""
    rows = ranker.latest_run(history)
    if rows.empty:
        data.notes["calibration"] = data.notes["gates"] = \
            "no train-ranker run in gold.metrics up to this date"
    data.ranker_scores = ranker.scores(rows)
    data.calibration = ranker.calibration_curves(rows)
    data.gates = ranker.gate_utilisation(rows)
    for name, value in data.ranker_scores.items():
        metrics.record(f"ranker.{name}", value, "ratio", trained=str(rows["run_date"].max()))


def _candidates(lake: Lake, config: EvaluationSettings, run_date: dt.date, metrics: StageResult,
                data: report.ReportData) -> None:
    """Source mix, retrieval and beyond-accuracy figures."""
    data.source_mix = source_mix(lake, run_date)
    for r in data.source_mix.itertuples():
        metrics.record(f"source_mix.{r.table}.{r.source}", r.items, "items")
    data.retrieval, data.beyond_accuracy = retrieval_figures(lake, config, run_date, data.notes)
    for name, value in data.beyond_accuracy.items():
        metrics.record(f"beyond.{name}", value, "")
    if data.retrieval is not None:
        for r in data.retrieval.to_dict("records"):
            for m in RETRIEVAL + BEYOND:
                if m in r and r[m] == r[m]:
                    metrics.record(f"retrieval.{r['list']}.{m}@{r['k']}", r[m], "",
                                   users=r.get("users"))


def _record_days(table: pd.DataFrame, metrics: StageResult) -> None:
    """``simulator_days.<level>.<policy>.<metric>`` of the multi-day table's main figures."""
    for row in table.to_dict("records"):
        for column in ("time_spent_s", "return_rate", "active_last_day", "time_share",
                       "return_share"):
            value = row.get(column)
            if isinstance(value, (int, float)) and value == value:
                metrics.record(f"simulator_days.{row['satiation']}.{row['policy']}.{column}",
                               value, "")


def _record_simulator(table: pd.DataFrame, metrics: StageResult) -> None:
    """``simulator.<policy>.<column>`` for every numeric column of the simulator's table, and
    ``simulator.<reactive|session_truth>.time_lift``: its time spent over the static export's,
    minus 1."""
    if "policy" not in table.columns:
        return
    for row in table.to_dict("records"):
        for column, value in row.items():
            if column != "policy" and isinstance(value, (int, float)) and value == value:
                metrics.record(f"simulator.{row['policy']}.{column}", value, "")
    spent = dict(zip(table["policy"], table["time_spent_s"]))
    for policy in ("reactive", "session_truth"):
        if policy in spent and spent.get("champion", 0) > 0:
            metrics.record(f"simulator.{policy}.time_lift", spent[policy] / spent["champion"] - 1,
                           "ratio")
