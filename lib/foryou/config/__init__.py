"""Typed configuration: defaults in code, YAML overlays per environment, `--set` overrides.

Layers apply in order: model defaults, each ``--conf FILE``, ``FORYOU_LAKE_ROOT``, each
``--set a.b=value``. Every layer is validated against the typed model, which forbids unknown
keys, so a typo fails at start-up with the key's name and the file it came from.

Names are loaded on first use: the model gathers the stages' own sections, and a stage's
settings module must be importable on its own (it only needs ``foryou.config.section``).
"""
from __future__ import annotations

__all__ = ["Config", "ConfigError", "load_config", "overlay", "parse_overrides"]


def __getattr__(name: str):
    if name == "Config":
        from foryou.config.model import Config

        return Config
    if name in ("ConfigError", "load_config", "overlay", "parse_overrides"):
        from foryou.config import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'foryou.config' has no attribute {name!r}")
