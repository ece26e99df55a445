"""The ``train-ranker`` stage: train, evaluate against baselines, register, promote.

1. Split the example dates up to the run date (``data.split_dates``); in incremental mode
   warm-start from the champion (its weights and its feature spec, so vocabulary sizes and
   normalisation match) and train only on the days after the champion's last training day.
2. Train in this process (``train.fit``) or with DDP (``distributed.train_distributed``,
   TorchDistributor or torchrun) when more than one process is asked for.
3. In one MLflow run: params, per-epoch history (gate health included), the pyfunc model,
   feature spec and lineage; register it (alias ``challenger``).
4. Evaluate on a user sample of the held-out test days (validation days when there are no
   test days): the new model, the champion, popularity, logistic regression, single-task
   DNNs and, given the world's truth, the oracle — all on the same rows.
5. Promote to ``champion`` when the promotion metric beats the champion's by the margin.
"""
from __future__ import annotations

import datetime as dt
import inspect
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mlflow

from foryou.config.settings import RankingSettings, Tracking
from foryou.features import columns as C
from foryou.lake import CommitKey, Lake
from foryou.ranking import baselines as B
from foryou.ranking import data as D
from foryou.ranking import quality as Q
from foryou.ranking import registry
from foryou.ranking.model import MultiTaskRanker
from foryou.ranking.pyfunc import ranker_pyfunc
from foryou.ranking.spec import FeatureSpec
from foryou.ranking.update import champion
from foryou.stages import StageResult

log = logging.getLogger(__name__)

BASELINES = ("popularity", "logistic", "single_task")
# Opt-in (bench/train.py --quality): LightGBM per task, a dev dependency.
EXTRA_BASELINES = ("lightgbm",)


@dataclass
class TrainOptions:
    """What the command line chooses beyond the config."""

    processes: int | None = None          # None: ranking.num_processes
    launcher: str | None = None           # None: ranking.launcher
    incremental: bool = False
    resume: bool = False
    baselines: tuple[str, ...] = BASELINES
    # Single-task DNN baselines cost one training each: the feed score's main heads by default.
    single_task: tuple[str, ...] | None = ("click", "long_view", "complete", "like")
    eval_rows: int = 200_000
    train_sample_rows: int = 200_000
    truth: str | None = None              # truth/impressions of a generated world
    checkpoint_dir: str | None = None


@dataclass
class TrainOutcome:
    """What a run produced (``registered`` is None when there was nothing to train)."""

    registered: registry.Registered | None
    decision: registry.Decision | None
    report: Q.QualityReport | None
    split: dict[str, list[dt.date]]
    history: list[dict] = field(default_factory=list)
    message: str = ""
    # The same comparison on the held-out rows shown uniformly at random (None: there are none).
    unbiased: Q.QualityReport | None = None


def _local_dir(config: Tracking, *parts: str) -> Path:
    root = config.lake.root
    if "://" in root and not root.startswith("file://"):
        return Path(tempfile.mkdtemp(prefix="foryou-ranker-"))
    path = Path(os.path.abspath(root.removeprefix("file://")), *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_truth(config: RankingSettings) -> str | None:
    """``<ingest.path>/truth/impressions`` when the ingested data is a generated world."""
    if not config.ingest.path:
        return None
    path = Path(config.ingest.path) / "truth" / "impressions"
    return str(path) if path.exists() else None


def _fit(spec, cfg, train_files, val_files, checkpoint_dir, init_state, options: TrainOptions):
    processes = options.processes or cfg.num_processes
    launcher = options.launcher or cfg.launcher
    if processes <= 1 and launcher == "local":
        from foryou.ranking.train import fit

        return fit(spec, cfg, train_files, val_files, checkpoint_dir, init_state=init_state,
                   resume=options.resume)
    from foryou.ranking.distributed import train_distributed

    kwargs = {"num_processes": processes, "launcher": launcher}
    accepted = inspect.signature(train_distributed).parameters
    if init_state is not None:
        if "init_state" not in accepted:
            raise ValueError("incremental training with several processes needs "
                             "distributed.train_distributed(init_state=...)")
        kwargs["init_state"] = init_state
    if options.resume and "resume" in accepted:
        kwargs["resume"] = True
    return train_distributed(spec, cfg, train_files, val_files, checkpoint_dir, **kwargs)


def train_ranker(lake: Lake, config: RankingSettings, run_date: dt.date,
                 options: TrainOptions | None = None) -> TrainOutcome:
    """Train, evaluate, register and maybe promote the ranker for ``run_date``."""
    options = options or TrainOptions()
    cfg = config.ranking
    try:
        split = D.split_dates(lake, run_date, cfg, config.features)
    except ValueError as exc:
        # The first days of a pipeline have no training days yet: nothing to do, not a failure.
        if "no training dates" not in str(exc):
            raise
        return TrainOutcome(None, None, None, {}, message=f"not trained: {exc}")
    version = lake.version(C.EXAMPLES)
    init_state, start = None, None
    if options.incremental:
        start = champion(config)
        if start is None:
            log.warning("train-ranker --incremental: no champion yet, training from scratch")
    if start is not None:
        spec, init_state = start.spec, start.state
        last = max(dt.date.fromisoformat(d) for d in spec.train_dates)
        new_days = [d for d in split[D.TRAIN] if d > last]
        if not new_days:
            return TrainOutcome(None, None, None, split, message=(
                f"incremental: no training day after the champion's (version "
                f"{start.version}) last day {last}; nothing to fine-tune"))
        split = {**split, D.TRAIN: new_days}
        spec = _respec(spec, new_days, version)
    else:
        spec = FeatureSpec.from_lake(lake, config, train_dates=split[D.TRAIN], version=version)
    files = {k: D.example_files(lake, v, version) for k, v in split.items()}
    checkpoints = (Path(options.checkpoint_dir) if options.checkpoint_dir
                   else _local_dir(config, "_checkpoints", "ranker", str(run_date)))
    result = _fit(spec, cfg, files[D.TRAIN], files[D.VALIDATION], checkpoints / "mmoe",
                  init_state, options)
    model = MultiTaskRanker(spec, cfg)
    model.load_state_dict(result.state_dict)
    model.eval()

    eval_key = D.TEST if files[D.TEST] else D.VALIDATION
    registry.configure(config)
    with mlflow.start_run(run_name=f"train-ranker-{run_date}") as run:
        registry.log_params({"ranking": cfg.model_dump(mode="json"), "run_date": str(run_date),
                             "incremental": start is not None,
                             "warm_start_version": start.version if start else None,
                             "split": {k: [str(d) for d in v] for k, v in split.items()},
                             "evaluated_on": eval_key, "best_epoch": result.best_epoch})
        registry.log_history(result.history)
        registered = registry.log_ranker(
            config, ranker_pyfunc(model, spec, cfg), spec.to_json(), state_dict=result.state_dict,
            vocabulary_version=spec.vocabulary_as_of, examples_version=version,
            tags={"run_date": str(run_date), "train_end": str(split[D.TRAIN][-1]),
                  **registry.lineage_tags(start.version if start else None,
                                          dt.datetime.combine(split[D.TRAIN][0], dt.time()),
                                          dt.datetime.combine(split[D.TRAIN][-1] + dt.timedelta(days=1),
                                                              dt.time()), "train")})
        report, unbiased = evaluate(lake, config, spec, model, files, split, eval_key,
                                    checkpoints, options)
        mlflow.log_metrics(report.figures(eval_key))
        if unbiased is not None:
            mlflow.log_metrics(unbiased.figures(f"{eval_key}.unbiased"))
            mlflow.log_text(unbiased.text(), "quality_unbiased.txt")
        mlflow.log_text(report.text(), "quality.txt")
        mlflow.log_text(report.table.to_csv(), "quality.csv")
        mlflow.log_dict({m: {t: tab.to_dict(orient="list") for t, tab in tables.items()}
                         for m, tables in report.calibration.items()}, "calibration.json")
        log.info("mlflow run %s", run.info.run_id)
    metric = config.mlflow.promotion_metric
    decision = registry.promote_or_keep(
        config, registered.version, report.metric("mmoe", metric),
        report.metric("champion", metric) if "champion" in report.table.index else None)
    return TrainOutcome(registered, decision, report, split, result.history, unbiased=unbiased)


def _respec(spec: FeatureSpec, new_days: list[dt.date], version: int | None) -> FeatureSpec:
    """The champion's spec (same inputs and normalisation) with this run's provenance."""
    import dataclasses

    return dataclasses.replace(spec, train_dates=[str(d) for d in new_days],
                               examples_version=version)


def evaluate(lake: Lake, config: RankingSettings, spec: FeatureSpec, model, files, split,
             eval_key: str, checkpoints: Path, options: TrainOptions
             ) -> tuple[Q.QualityReport, Q.QualityReport | None]:
    """The quality table of the new model, the champion, the baselines and the oracle, on a
    sample of the held-out rows and (when there are any) on their random exposures alone."""
    frame = Q.user_sample(files[eval_key], options.eval_rows, seed=config.ranking.seed)
    if frame.empty:
        raise ValueError(f"no {eval_key} rows to evaluate on (dates {split[eval_key]})")
    new = ranker_pyfunc(model, spec, config.ranking)
    scorers: dict[str, Q.Scorer] = {"mmoe": lambda f: new.predict(None, f)}
    try:
        champion = registry.load_champion(config)
        # The champion scores with its own spec and weights.
        scorers["champion"] = champion.predict
    except registry.ChampionMissing:
        # The first model: nothing to compare against; promotion makes it the champion.
        scorers.pop("champion", None)
    train = None
    if {"popularity", "logistic", "lightgbm"} & set(options.baselines):
        train = Q.user_sample(files[D.TRAIN], options.train_sample_rows, seed=config.ranking.seed)
    if "popularity" in options.baselines:
        scorers["popularity"] = B.Popularity(train, spec.tasks)
    if "logistic" in options.baselines:
        scorers["logistic"] = B.LogisticBaseline(train, spec, Q.watch_target_of(spec))
    if "lightgbm" in options.baselines:
        scorers["lightgbm"] = B.GradientBoostedTrees(train, spec, Q.watch_target_of(spec),
                                                     seed=config.ranking.seed)
    if "single_task" in options.baselines:
        tasks = list(options.single_task) if options.single_task is not None else spec.tasks
        scorers["single_task"] = B.single_task_dnns(spec, config.ranking, files[D.TRAIN],
                                                    files[D.VALIDATION], checkpoints, tasks)
    truth = options.truth or default_truth(config)
    if truth:
        scorers["oracle"] = B.Oracle(truth, spec.tasks)
    report = Q.compare(frame, scorers, spec.tasks, Q.watch_target_of(spec))
    shown_at_random = Q.random_exposures(files[eval_key], options.eval_rows, seed=config.ranking.seed)
    unbiased = (None if shown_at_random.empty else
                Q.compare(shown_at_random, scorers, spec.tasks, Q.watch_target_of(spec)))
    return report, unbiased


def summary(outcome: TrainOutcome) -> str:
    """What a run did, for the console."""
    if outcome.registered is None:
        return outcome.message
    lines = [f"registered {outcome.registered.name} version {outcome.registered.version} "
             f"(alias challenger, run {outcome.registered.run_id})",
             f"promotion: {'PROMOTED to champion' if outcome.decision.promoted else 'not promoted'}"
             f" - {outcome.decision.reason}",
             outcome.report.text()]
    if outcome.unbiased is not None:
        lines.append("random exposures only (unbiased: the serving policy did not choose them): "
                     + outcome.unbiased.text())
    return "\n".join(lines)


def gate_metrics(history: list[dict]) -> list[tuple[str, float, dict]]:
    """The best-known epoch's (last) gate health as gold.metrics rows.

    ``gate_utilisation.<head>``: value the mean gate entropy (nats), detail ``experts`` the
    mean gate weight of each expert (a collapse shows as one weight near 1).
    """
    if not history:
        return []
    last = history[-1]
    rows = []
    for key, value in last.items():
        if key.startswith("expert_utilisation_"):
            head = key.removeprefix("expert_utilisation_")
            rows.append((f"gate_utilisation.{head}", float(last.get(f"gate_entropy_{head}", "nan")),
                         {"experts": [float(v) for v in value], "epoch": last.get("epoch")}))
    return rows


def run(lake: Lake, settings: RankingSettings, run_date: dt.date, key: CommitKey,
        force: bool = False, *, options: TrainOptions | None = None) -> StageResult:
    """Train, evaluate, register and maybe promote the ranker for ``run_date``; record the
    quality table, the gate health, the registered version and the promotion decision.

    Every run registers a new model version (MLflow keeps them all), so ``key`` and ``force``
    only decide, through the caller, whether the run date counts as done.
    """
    with StageResult() as out:  # a failure keeps what was recorded so far
        outcome = train_ranker(lake, settings, run_date, options)
        out.say(summary(outcome))
        if outcome.registered is None:
            out.record("registered_version", None, "version", message=outcome.message)
            return out
        Q.record(out, outcome.report)
        if outcome.unbiased is not None:
            Q.record(out, outcome.unbiased, scope="unbiased.")
        for name, value, detail in gate_metrics(outcome.history):
            out.record(name, value, "nats", **detail)
        out.record("registered_version", float(outcome.registered.version), "version",
                   run_id=outcome.registered.run_id)
        out.record("promoted", float(outcome.decision.promoted), "bool", **outcome.decision.as_dict())
        out.record("epochs", len(outcome.history), "epochs")
        return out
