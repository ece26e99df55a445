"""Load and merge configuration layers, reporting errors by key and source."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

import yaml
from pydantic import ValidationError

from foryou.config.model import Config
from foryou.config.section import Section

S = TypeVar("S", bound=Section)

LAKE_ROOT_ENV = "FORYOU_LAKE_ROOT"
LAKE_BACKEND_ENV = "FORYOU_LAKE_BACKEND"
# Environment variables that set one key, applied after the files and before --set.
ENV_KEYS = {LAKE_ROOT_ENV: ("lake", "root"), LAKE_BACKEND_ENV: ("lake", "backend")}


class ConfigError(ValueError):
    """A configuration layer has an unknown key, a wrong type or bad syntax."""


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=x"]`` into a nested dict; values are parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected key=value, e.g. --set lake.root=/tmp/lake")
        value = yaml.safe_load(raw) if raw.strip() else ""
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


def _merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _validate(data: dict[str, Any], source: str, model: type[S] = Config) -> S:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                lines.append(f"{source}: unknown key '{key}'")
            else:
                lines.append(f"{source}: '{key}': {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


def overlay(config: S, layer: Mapping[str, Any], source: str) -> S:
    """``config`` (the whole config or one section) with ``layer`` (nested sections, as in a
    YAML file) merged over it, validated like any other layer; an error names ``source``."""
    return _validate(_merge(config.model_dump(), layer), source, type(config))


def load_config(
    files: Iterable[str | Path] = (),
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective config from YAML files, the environment (``FORYOU_LAKE_ROOT``,
    ``FORYOU_LAKE_BACKEND``) and ``--set`` overrides.

    Each layer is validated as it is applied, so an error names the file (or ``--set``)
    that introduced the bad key.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = Config().model_dump()
    for path in files:
        path = Path(path)
        data = _merge(data, _read_yaml(path))
        _validate(data, str(path))
    for variable, (section, key) in ENV_KEYS.items():
        if environ.get(variable):
            data = _merge(data, {section: {key: environ[variable]}})
            _validate(data, f"environment variable {variable}")
    sets = list(overrides)
    if sets:
        data = _merge(data, parse_overrides(sets))
        return _validate(data, "--set " + " ".join(sets))
    return _validate(data, "configuration")
