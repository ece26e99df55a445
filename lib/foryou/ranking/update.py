"""``foryou update-ranker``: the hourly fine-tune of the champion on what happened since.

1. **Examples.** The closed impressions of the days the daily job has not built yet become
   streamed rows of ``gold.training_examples`` (:mod:`foryou.features.streamed`).
2. **Window.** The examples after the champion's data end (its ``data_end`` tag; for a model
   of the daily training, midnight after its last training day) and up to ``until`` (default:
   the streamed rows' closing time, when there are open days). The
   window's most recent ``ranking.update.holdout_fraction`` by event time is held out; at most
   ``ranking.update.max_rows`` of the rows before it (the most recent) are trained on. Both
   parts are written as Parquet beside the lake's checkpoints, which the trainer streams; the
   folder is deleted when the update ends, registered or not.
3. **New ids.** The champion's embedding tables grow to the vocabulary's current sizes
   (:mod:`foryou.ranking.growth`): old rows kept, new ones from the out-of-vocabulary row.
4. **Fine-tune** the grown champion (``ranking.update``: one epoch at a tenth of the learning
   rate), in this process: an hour of rows needs no DDP.
5. **Gate.** On the held-out rows the update and the champion are scored; the update is
   registered (alias ``challenger``) with its parent version and data window, and becomes
   champion only through :func:`foryou.ranking.registry.promote_or_keep`, the gate of the daily
   training (``mlflow.promotion_metric`` by ``mlflow.promotion_margin``). ``foryou
   rollback-ranker`` undoes a promotion as it undoes any other.

The score shift on old ids (the mean absolute change of each task's probability on held-out
rows whose user, item and creator the champion knew) is recorded, so an update that forgets
shows in ``gold.metrics`` before it reaches users.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import pyarrow.fs as pafs
import torch
from pyspark.sql import functions as F

from foryou.config.settings import RankingSettings
from foryou.features import columns as C
from foryou.features.streamed import StreamedExamples, write_streamed
from foryou.lake import Lake
from foryou.ranking import data as D
from foryou.ranking import quality as Q
from foryou.ranking import registry
from foryou.ranking.growth import grow
from foryou.ranking.model import MultiTaskRanker
from foryou.ranking.pyfunc import probability_column, ranker_pyfunc
from foryou.ranking.spec import FeatureSpec, vocabulary_sizes
from foryou.ranking.train import fit
from foryou.runtime.metrics import Metrics
from foryou.stages import StageResult

log = logging.getLogger(__name__)

JOB = "update-ranker"


@dataclass
class Champion:
    """The champion a run starts from: its version, spec, weights and data end (UTC)."""

    version: str
    spec: FeatureSpec
    state: dict
    data_end: dt.datetime


@dataclass
class UpdateOutcome:
    """What one update did (``registered`` is None when there was nothing to update)."""

    streamed: StreamedExamples
    registered: registry.Registered | None = None
    decision: registry.Decision | None = None
    report: Q.QualityReport | None = None
    parent: str | None = None
    window: tuple[dt.datetime, dt.datetime] | None = None   # (data start, trained until)
    held_out_until: dt.datetime | None = None
    rows: dict[str, int] = field(default_factory=dict)
    grown: dict[str, tuple[int, int]] = field(default_factory=dict)
    score_shift: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    message: str = ""


def champion(config: RankingSettings) -> Champion | None:
    """The registered champion with its spec, weights and data end, or None."""
    client = registry.configure(config)
    version = registry.champion_version(config, client)
    if version is None:
        return None
    mv = client.get_model_version(config.mlflow.registered_model, version)
    spec = FeatureSpec.from_json(Path(mlflow.artifacts.download_artifacts(
        run_id=mv.run_id, artifact_path="feature_spec.json")).read_text())
    state = torch.load(mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="state_dict.pt"),
                       map_location="cpu", weights_only=True)
    end = (mv.tags or {}).get(registry.DATA_END)
    if end:
        data_end = registry.utc(dt.datetime.fromisoformat(end))
    else:  # a version logged before data_end was tagged: the midnight after its last day
        last = max(dt.date.fromisoformat(d) for d in spec.train_dates)
        data_end = registry.utc(dt.datetime.combine(last + dt.timedelta(days=1), dt.time()))
    return Champion(version, spec, state, data_end)


def _work_dir(config: RankingSettings, stamp: str) -> str:
    root = config.lake.root
    if "://" in root and not root.startswith("file://"):
        return f"{root.rstrip('/')}/_checkpoints/{JOB}/{stamp}"
    path = Path(os.path.abspath(root.removeprefix("file://")), "_checkpoints", JOB, stamp)
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def _remove(work: str) -> None:
    """Delete an update's work folder (local or object store); a failure only warns."""
    try:
        fs, path = pafs.FileSystem.from_uri(work if "://" in work else os.path.abspath(work))
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_dir(path)
    except OSError as exc:
        log.warning("update-ranker: could not delete its work folder %s: %s", work, exc)


def _local(uri: str) -> str:
    parsed = urlparse(uri)
    return parsed.path if parsed.scheme == "file" else uri


def _write_parquet(df, path: str) -> list[str]:
    """Write ``df`` as Parquet at ``path``; its files (empty list when no rows)."""
    df.write.mode("overwrite").parquet(path)
    spark = df.sparkSession
    return sorted(_local(f) for f in spark.read.parquet(path).inputFiles())


def _seconds(ts) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc)


def score_shift(before, after, frame: pd.DataFrame, old_sizes: dict[str, int],
                tasks: list[str]) -> dict[str, float]:
    """Mean absolute change of each task's probability between two pyfunc rankers on the rows
    of ``frame`` whose user, item and creator indices ``old_sizes`` already covered."""
    known = np.ones(len(frame), dtype=bool)
    for col, kind in (("user_index", "user"), ("item_index", "item"), ("creator_index", "creator")):
        idx = pd.to_numeric(frame[col], errors="coerce").fillna(0).to_numpy()
        known &= idx < old_sizes.get(kind, np.inf)
    if not known.any():
        return {}
    rows = frame[known].reset_index(drop=True)
    a, b = before.predict(None, rows), after.predict(None, rows)
    return {t: float(np.mean(np.abs(a[probability_column(t)] - b[probability_column(t)])))
            for t in tasks if probability_column(t) in a.columns}


def _fine_tune_and_gate(lake: Lake, config: RankingSettings, start: Champion,
                        dates: list[dt.date], files: dict[str, list[str]], stamp: str,
                        out: UpdateOutcome) -> None:
    """Steps 3-5 on the window's Parquet ``files`` (``train``, ``holdout``); fills ``out``."""
    cfg, up = config.ranking, config.ranking.update
    sizes, as_of = vocabulary_sizes(lake, out.window[1].date() + dt.timedelta(days=1))
    spec, state, out.grown = grow(start.spec, start.state, cfg, sizes)
    version = lake.version(C.EXAMPLES)
    spec = dataclasses.replace(spec, train_dates=[str(d) for d in dates], examples_version=version,
                               vocabulary_as_of=as_of or spec.vocabulary_as_of)
    tuned = cfg.model_copy(update={"epochs": up.epochs, "learning_rate": up.learning_rate,
                                   "patience": up.epochs})
    clock = time.perf_counter()
    checkpoints = Path(tempfile.mkdtemp(prefix="foryou-update-"))
    try:
        result = fit(spec, tuned, files["train"], [], checkpoints, init_state=state)
    finally:
        shutil.rmtree(checkpoints, ignore_errors=True)
    out.seconds["fine_tune"] = time.perf_counter() - clock
    model = MultiTaskRanker(spec, cfg)
    model.load_state_dict(result.state_dict)
    model.eval()
    parent_model = MultiTaskRanker(start.spec, cfg)
    parent_model.load_state_dict(start.state)
    parent_model.eval()
    new, old = ranker_pyfunc(model, spec, cfg), ranker_pyfunc(parent_model, start.spec, cfg)

    frame = Q.user_sample(files["holdout"], up.eval_rows, seed=cfg.seed)
    out.report = Q.compare(frame, {"mmoe": lambda f: new.predict(None, f),
                                   "champion": lambda f: old.predict(None, f)},
                           spec.tasks, Q.watch_target_of(spec))
    out.score_shift = score_shift(old, new, frame, start.spec.vocab_sizes, spec.tasks)
    registry.configure(config)
    with mlflow.start_run(run_name=f"{JOB}-{stamp}"):
        registry.log_params({"ranking": cfg.model_dump(mode="json"), "run_date": str(out.window[1].date()),
                             "incremental": True, "warm_start_version": start.version,
                             "window": {"start": out.window[0].isoformat(), "end": out.window[1].isoformat(),
                                        "held_out_until": out.held_out_until.isoformat()},
                             "rows": out.rows, "grown": {k: list(v) for k, v in out.grown.items()}})
        registry.log_history(result.history)
        out.registered = registry.log_ranker(
            config, new, spec.to_json(), state_dict=result.state_dict,
            vocabulary_version=spec.vocabulary_as_of, examples_version=version,
            tags={"run_date": str(out.window[1].date()), "train_end": str(out.window[1].date()),
                  **registry.lineage_tags(start.version, *out.window, "update")})
        mlflow.log_metrics(out.report.figures("holdout"))
        mlflow.log_metrics({f"score_shift.{t}": v for t, v in out.score_shift.items()})
        mlflow.log_text(out.report.text(), "quality.txt")
    metric = config.mlflow.promotion_metric
    out.decision = registry.promote_or_keep(config, out.registered.version,
                                            out.report.metric("mmoe", metric),
                                            out.report.metric("champion", metric))


def update_ranker(lake: Lake, config: RankingSettings, until: dt.datetime | None = None
                  ) -> UpdateOutcome:
    """Steps 1-5 of the module doc; ``until`` (UTC) caps the window and the streamed horizon."""
    up = config.ranking.update
    started = time.perf_counter()
    out = UpdateOutcome(write_streamed(lake, config.features, JOB, until))
    out.seconds["streamed_examples"] = time.perf_counter() - started
    start = champion(config)
    if start is None:
        out.message = "no champion to update: train one with `foryou train-ranker`"
        return out
    out.parent = start.version
    if not lake.exists(C.EXAMPLES):
        out.message = "gold.training_examples does not exist yet"
        return out
    # Up to the streamed rows' horizon: past it lie only rows of clocks running ahead.
    end = until or out.streamed.closed_until
    dates = [d for d in D.example_dates(lake) if d >= start.data_end.date()
             and (end is None or d <= end.date())]
    if not dates:
        out.message = f"no examples after the champion's data end {start.data_end.isoformat()}"
        return out
    window = lake.read(C.EXAMPLES, partitions=dates).where(F.col(C.EVENT_TS) > F.lit(start.data_end))
    if end is not None:
        window = window.where(F.col(C.EVENT_TS) <= F.lit(registry.utc(end)))
    ts = F.col(C.EVENT_TS).cast("double")
    # bounded: one row
    stats = window.agg(F.count(F.lit(1)).alias("n"), F.min(ts).alias("oldest"),
                       F.max(ts).alias("newest"),
                       F.percentile_approx(ts, 1 - up.holdout_fraction, 10_000).alias("cut")).first()
    n = int(stats["n"])
    if n < up.min_rows:
        out.message = (f"{n:,} examples since the champion's (version {start.version}) data end "
                       f"{start.data_end.isoformat()}: fewer than ranking.update.min_rows "
                       f"{up.min_rows:,}, nothing to update")
        return out
    cut, first = stats["cut"], stats["oldest"]
    train = window.where(ts <= cut)
    keep = up.max_rows / max(n * (1 - up.holdout_fraction), 1)
    if keep < 1:  # the most recent max_rows training rows
        # bounded: one row
        first = train.agg(F.percentile_approx(ts, 1 - keep, 10_000)).first()[0]
        train = train.where(ts >= first)
    out.window = (_seconds(first), _seconds(cut))
    out.held_out_until = _seconds(stats["newest"])
    stamp = f"{out.window[1]:%Y%m%dT%H%M%S}-{start.version}"
    work = _work_dir(config, stamp)
    try:
        files = {"train": _write_parquet(train, f"{work}/train"),
                 "holdout": _write_parquet(window.where(ts > cut), f"{work}/holdout")}
        out.rows = {k: sum(D.shard_rows([f]) for f in v) for k, v in files.items()}
        if not out.rows["train"] or not out.rows["holdout"]:
            out.message = f"the window has no rows to {'train' if not out.rows['train'] else 'test'} on"
            return out

        _fine_tune_and_gate(lake, config, start, dates, files, stamp, out)
    finally:  # the Parquet copies served this update only
        _remove(work)
    out.seconds["total"] = time.perf_counter() - started
    return out


def summary(outcome: UpdateOutcome) -> str:
    """What an update did, for the console."""
    s = outcome.streamed
    lines = [f"streamed examples: {s.written:,} rows closed up to "
             f"{s.closed_until.isoformat() if s.closed_until else '-'} "
             f"({', '.join(f'{d}: state of {a}' for d, a in s.dates.items()) or s.message})"]
    if outcome.registered is None:
        return "\n".join([*lines, outcome.message])
    start, end = outcome.window
    grown = ", ".join(f"{k} {a:,} -> {b:,}" for k, (a, b) in outcome.grown.items()) or "none"
    lines += [f"fine-tuned champion version {outcome.parent} on {outcome.rows['train']:,} rows "
              f"({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC) in "
              f"{outcome.seconds['fine_tune']:.1f}s; embedding rows grown: {grown}",
              f"registered version {outcome.registered.version} (parent {outcome.parent}); "
              f"gate on {outcome.rows['holdout']:,} held-out rows: "
              f"{'PROMOTED to champion' if outcome.decision.promoted else 'not promoted'} - "
              f"{outcome.decision.reason}",
              "score shift on known ids (mean |change| of p): "
              + ", ".join(f"{t} {v:.4f}" for t, v in outcome.score_shift.items()),
              outcome.report.text()]
    return "\n".join(lines)


def run(lake: Lake, config: RankingSettings, until: dt.datetime | None = None) -> StageResult:
    """Update the ranker (module doc) and record what it did."""
    with StageResult() as out:
        outcome = update_ranker(lake, config, until)
        out.say(summary(outcome))
        s = outcome.streamed
        out.record("streamed_examples", s.written, "rows",
                   closed_until=s.closed_until, horizon=s.horizon,
                   dates={str(d): str(a) for d, a in s.dates.items()})
        if outcome.registered is None:
            out.record("registered_version", None, "version", message=outcome.message)
            return out
        Q.record(out, outcome.report, scope="holdout.")
        for task, value in outcome.score_shift.items():
            out.record(f"score_shift.{task}", value, "probability")
        for kind, (before, after) in outcome.grown.items():
            out.record(f"embedding_rows.{kind}", after, "rows", before=before)
        out.record("rows.train", outcome.rows["train"], "rows")
        out.record("rows.holdout", outcome.rows["holdout"], "rows")
        out.record("seconds.fine_tune", outcome.seconds["fine_tune"], "s")
        # How far the new version's data end trails the newest event: the close delay plus the
        # held-out share; an event reaches the ranker at most this plus one cadence later.
        newest = s.horizon or outcome.held_out_until
        out.record("data_lag_s", (newest - outcome.window[1]).total_seconds(), "s",
                   newest_event=newest)
        out.record("registered_version", float(outcome.registered.version), "version",
                   run_id=outcome.registered.run_id, parent=outcome.parent,
                   data_start=outcome.window[0], data_end=outcome.window[1])
        out.record("promoted", float(outcome.decision.promoted), "bool", **outcome.decision.as_dict())
        return out


def commit(lake: Lake, result: StageResult) -> Metrics:
    """Write one update's figures to gold.metrics (stage ``update-ranker``, dated today, UTC).
    No commit key: every hourly run is a run of its own, never a re-run of another."""
    now = dt.datetime.now(dt.timezone.utc)
    metrics = Metrics(f"{JOB}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", JOB, now.date())
    metrics.extend(result)
    metrics.flush(lake.spark, lake, None, False)
    return metrics
