"""Typed configuration: defaults in code, YAML overlays per environment, `--set` overrides.

Layers apply in order: model defaults, each ``--conf FILE``, ``FORYOU_LAKE_ROOT``, each
``--set a.b=value``. Every layer is validated against the typed model, which forbids unknown
keys, so a typo fails at start-up with the key's name and the file it came from.
"""
from foryou.config.loader import ConfigError, load_config, parse_overrides
from foryou.config.model import Config

__all__ = ["Config", "ConfigError", "load_config", "parse_overrides"]
