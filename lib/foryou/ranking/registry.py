"""The ranker in MLflow: tracking, the model registry, promotion and rollback.

A training run logs its params, per-epoch metrics (gate health included) and the model as a
pyfunc (:mod:`foryou.ranking.pyfunc`) with the feature spec, the vocabulary version and the
example-table version beside it, and registers it under ``mlflow.registered_model``. Every
new version gets the alias ``challenger``. It takes the alias ``champion`` only when it beats
the champion, both scored on the same held-out test days, on ``mlflow.promotion_metric`` by
more than ``mlflow.promotion_margin``; otherwise the champion stays and the reason is logged
on the run and the version. The registered model's tag ``champion_history`` lists the
champions in order, so :func:`rollback` can restore the previous one.

Tracking defaults to ``sqlite:///<lake.root>/mlflow.db`` with artifacts under
``<lake.root>/mlflow-artifacts``; any tracking server works by config.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from foryou.config.settings import Tracking

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
LOWER_IS_BETTER = ("rmse", "logloss", "ece")


class ChampionMissing(LookupError):
    """No model holds the ``champion`` alias yet."""


# --- where MLflow lives ------------------------------------------------------------------

def _local_root(config: Tracking) -> str:
    root = config.lake.root
    if "://" in root and not root.startswith("file://"):
        raise ValueError(f"lake.root {root!r} is not a local path: set mlflow.tracking_uri "
                         f"(and mlflow.artifact_location) to a tracking server")
    return os.path.abspath(root.removeprefix("file://"))


def tracking_uri(config: Tracking) -> str:
    """``mlflow.tracking_uri``, or ``sqlite:///<lake.root>/mlflow.db`` when it is null."""
    if config.mlflow.tracking_uri:
        return config.mlflow.tracking_uri
    return f"sqlite:///{os.path.join(_local_root(config), 'mlflow.db')}"


def artifact_location(config: Tracking) -> str | None:
    """Where a new experiment keeps its artifacts (None: the server's default)."""
    if config.mlflow.artifact_location:
        return config.mlflow.artifact_location
    if config.mlflow.tracking_uri:
        return None
    return "file://" + os.path.join(_local_root(config), "mlflow-artifacts")


def configure(config: Tracking) -> MlflowClient:
    """Point MLflow at the configured tracking and registry URIs and experiment."""
    uri = tracking_uri(config)
    if uri.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(uri.removeprefix("sqlite:///")), exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(config.mlflow.registry_uri or uri)
    name = config.mlflow.experiment
    if mlflow.get_experiment_by_name(name) is None:
        mlflow.create_experiment(name, artifact_location=artifact_location(config))
    mlflow.set_experiment(name)
    return MlflowClient(tracking_uri=uri, registry_uri=config.mlflow.registry_uri or uri)


def model_uri(config: Tracking, alias: str = CHAMPION) -> str:
    return f"models:/{config.mlflow.registered_model}@{alias}"


# --- logging a training run ----------------------------------------------------------------

def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as ``a.b.c`` keys (non-numbers and NaN dropped)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, (int, float)) for v in value):
            out.update({f"{name}.{i}": float(v) for i, v in enumerate(value)})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isnan(float(value)):
                out[name] = float(value)
    return out


def _metric_key(name: str) -> str:
    # MLflow keys allow alphanumerics, _ - . / and space.
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)


def log_history(history: Iterable[dict[str, Any]]) -> None:
    """Per-epoch metrics (losses, validation metrics, gate entropy, expert utilisation).

    ``history`` is one dict per epoch (nested dicts and number lists are flattened); its
    ``epoch`` entry, when present, is the step.
    """
    for step, epoch in enumerate(history):
        values = flatten({k: v for k, v in epoch.items() if k != "epoch"})
        step = int(epoch.get("epoch", step))
        mlflow.log_metrics({_metric_key(k): v for k, v in values.items()}, step=step)


def log_params(params: dict[str, Any]) -> None:
    """Params as strings (nested dicts flattened, long values truncated by MLflow's limit)."""
    flat: dict[str, str] = {}

    def walk(values: dict[str, Any], prefix: str) -> None:
        for key, value in values.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = json.dumps(value, default=str)[:6000]
    walk(params, "")
    mlflow.log_params(flat)


# Model version tags of every ranker version's lineage (train-ranker and update-ranker).
PARENT, DATA_START, DATA_END, KIND = "parent_version", "data_start", "data_end", "kind"


def utc(ts: dt.datetime) -> dt.datetime:
    """``ts`` as an aware UTC time (a naive one is taken as UTC)."""
    return ts.replace(tzinfo=dt.timezone.utc) if ts.tzinfo is None else ts.astimezone(dt.timezone.utc)


def lineage_tags(parent: str | None, start: dt.datetime, end: dt.datetime, kind: str) -> dict[str, str]:
    """A ranker version's lineage tags: the version it started from ('' for none), the data
    window it learned from (ISO, UTC; an update's next window starts at ``data_end``) and how
    it was made (``train`` or ``update``)."""
    return {PARENT: parent or "", DATA_START: utc(start).isoformat(),
            DATA_END: utc(end).isoformat(), KIND: kind}


@dataclass(frozen=True)
class Registered:
    """A logged and registered ranker version."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def log_ranker(config: Tracking, python_model, spec_json: str, *, state_dict=None,
               vocabulary_version: int | None = None, examples_version: int | None = None,
               tags: dict[str, str] | None = None) -> Registered:
    """Log the pyfunc ranker and its side artifacts in the active run and register it.

    The new version gets the ``challenger`` alias. Artifacts: ``model`` (the pyfunc),
    ``feature_spec.json``, ``state_dict.pt`` (when given), ``lineage.json`` with the
    vocabulary and example-table versions (also run tags).
    """
    import torch

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_ranker needs an active MLflow run (mlflow.start_run())")
    client = configure(config)
    lineage = {"vocabulary_version": vocabulary_version, "examples_version": examples_version}
    mlflow.log_text(spec_json, "feature_spec.json")
    mlflow.log_dict(lineage, "lineage.json")
    mlflow.set_tags({k: str(v) for k, v in lineage.items()})
    if state_dict is not None:
        with _tempdir() as tmp:
            path = os.path.join(tmp, "state_dict.pt")
            torch.save(state_dict, path)
            mlflow.log_artifact(path)
    name = config.mlflow.registered_model
    # Explicit requirements: inferring them loads the model in a subprocess (~20 s).
    info = mlflow.pyfunc.log_model(name="model", python_model=python_model,
                                   registered_model_name=name,
                                   pip_requirements=requirements())
    version = str(info.registered_model_version)
    for key, value in {**lineage, "run_id": run.info.run_id, **(tags or {})}.items():
        client.set_model_version_tag(name, version, key, str(value))
    client.set_registered_model_alias(name, CHALLENGER, version)
    return Registered(name, version, run.info.run_id)


def requirements() -> list[str]:
    """What the pyfunc needs to load: the versions this process runs."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("torch", "mlflow", "pandas", "numpy", "pyarrow", "foryou"):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            out.append(package)
    return out


class _tempdir:
    def __enter__(self) -> str:
        import tempfile

        self.path = tempfile.mkdtemp(prefix="foryou-mlflow-")
        return self.path

    def __exit__(self, *exc) -> None:
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)


# --- champion, promotion, rollback ---------------------------------------------------------

def champion_version(config: Tracking, client: MlflowClient | None = None) -> str | None:
    """The version holding ``champion``, or None."""
    client = client or configure(config)
    try:
        return str(client.get_model_version_by_alias(config.mlflow.registered_model, CHAMPION).version)
    except MlflowException:
        return None


def load_champion(config: Tracking):
    """The champion as a loaded pyfunc model; :class:`ChampionMissing` when there is none."""
    configure(config)
    if champion_version(config) is None:
        raise ChampionMissing(
            f"no champion ranker: registered model {config.mlflow.registered_model!r} has no "
            f"'champion' alias in {tracking_uri(config)}; train one with "
            f"`foryou train-ranker --run-date YYYY-MM-DD`")
    return mlflow.pyfunc.load_model(model_uri(config, CHAMPION))


@dataclass(frozen=True)
class Decision:
    """Whether a challenger replaces the champion, and why."""

    promoted: bool
    reason: str
    metric: str
    challenger: float | None
    champion: float | None
    margin: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(metric: str, challenger: float | None, champion: float | None,
           margin: float) -> Decision:
    """The promotion rule: beat the champion by more than ``margin`` on ``metric``.

    Lower is better for ``rmse``/``logloss``/``ece`` metrics. No champion: promote. An
    undefined (None/NaN) challenger value never promotes; an undefined champion value does.
    """
    def defined(v):
        return v is not None and not math.isnan(v)

    lower = metric.split("_")[0].split(".")[0] in LOWER_IS_BETTER
    if not defined(challenger):
        return Decision(False, f"challenger {metric} is undefined on the test days",
                        metric, challenger, champion, margin)
    if champion is None:
        return Decision(True, "no champion yet", metric, challenger, None, margin)
    if not defined(champion):
        return Decision(True, f"champion {metric} is undefined on the test days",
                        metric, challenger, champion, margin)
    gain = (champion - challenger) if lower else (challenger - champion)
    if gain > margin:
        return Decision(True, f"challenger {metric} {challenger:.4f} beats champion "
                        f"{champion:.4f} by {gain:.4f} > margin {margin}",
                        metric, challenger, champion, margin)
    return Decision(False, f"challenger {metric} {challenger:.4f} does not beat champion "
                    f"{champion:.4f} by more than margin {margin} (gain {gain:.4f}); "
                    f"champion kept", metric, challenger, champion, margin)


def _history(client: MlflowClient, name: str) -> list[str]:
    tags = client.get_registered_model(name).tags or {}
    raw = tags.get(HISTORY_TAG)
    return [v for v in raw.split(",") if v] if raw else []


def _set_champion(client: MlflowClient, name: str, version: str, history: list[str]) -> None:
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))


def promote_or_keep(config: Tracking, version: str, challenger: float | None,
                    champion: float | None) -> Decision:
    """Apply :func:`decide` to a registered challenger and record the outcome.

    ``challenger`` and ``champion`` are ``mlflow.promotion_metric`` of each model on the same
    test days (``champion`` None when there is no champion). The decision and its reason go
    to the version's tags and to the version's run (tags and ``promotion.json``).
    """
    client = configure(config)
    name = config.mlflow.registered_model
    current = champion_version(config, client)
    decision = decide(config.mlflow.promotion_metric, challenger,
                      champion if current is not None else None, config.mlflow.promotion_margin)
    if decision.promoted:
        history = [v for v in _history(client, name) if v != version]
        if current is not None and (not history or history[-1] != current):
            history.append(current)
        history.append(version)
        _set_champion(client, name, version, history)
    client.set_model_version_tag(name, version, "promotion",
                                 "promoted" if decision.promoted else "rejected")
    client.set_model_version_tag(name, version, "promotion_reason", decision.reason)
    run_id = client.get_model_version(name, version).run_id
    if run_id:
        client.set_tag(run_id, "promotion", "promoted" if decision.promoted else "rejected")
        client.set_tag(run_id, "promotion_reason", decision.reason[:5000])
        client.log_dict(run_id, {**decision.as_dict(), "version": version,
                                 "previous_champion": current}, "promotion.json")
    return decision


def rollback(config: Tracking, to_version: str | None = None) -> tuple[str, str]:
    """Give ``champion`` back to the previous champion (or ``to_version``).

    Returns ``(demoted, restored)`` versions. The demoted version is tagged
    ``rolled_back=true`` and leaves the champion history, so a second rollback goes one
    further back.
    """
    client = configure(config)
    name = config.mlflow.registered_model
    current = champion_version(config, client)
    if current is None:
        raise ChampionMissing(f"nothing to roll back: {name!r} has no champion "
                              f"(train one with `foryou train-ranker --run-date YYYY-MM-DD`)")
    history = _history(client, name)
    if history and history[-1] == current:
        history = history[:-1]
    if to_version is not None:
        to_version = str(to_version)
        client.get_model_version(name, to_version)  # raises naming the version if absent
        if to_version == current:
            raise ValueError(f"version {to_version} of {name!r} is already the champion")
        history = [v for v in history if v != to_version] + [to_version]
    if not history:
        raise ChampionMissing(f"no previous champion of {name!r} to roll back to "
                              f"(version {current} is the only one there has been)")
    restored = history[-1]
    _set_champion(client, name, restored, history)
    client.set_model_version_tag(name, current, "rolled_back", "true")
    return current, restored
