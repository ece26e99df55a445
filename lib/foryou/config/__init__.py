"""Typed configuration: defaults in code, YAML overlays per environment, `--set` overrides.

Layers apply in order: model defaults, each ``--conf FILE``, ``FORYOU_LAKE_ROOT``, each
``--set a.b=value``. Every layer is validated against the typed model, which forbids unknown
keys, so a typo fails at start-up with the key's name and the file it came from.

Each stage's section lives here, one module per section (``foryou.config.features`` holds
``FeaturesConfig``, ...), and :mod:`foryou.config.model` assembles them: the configuration sits
below every stage, which imports its own section from here.
"""
from __future__ import annotations

from foryou.config.loader import ConfigError, load_config, overlay, parse_overrides
from foryou.config.model import Config

__all__ = ["Config", "ConfigError", "load_config", "overlay", "parse_overrides"]
