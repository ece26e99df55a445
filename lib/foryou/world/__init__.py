"""The synthetic world: a calibrated short-video app that produces raw events and ground truth.

Modules:
    params       ``WorldConfig`` and the tiny / small / large presets.
    calibration  empirical distributions from the real KuaiRand-Pure side tables.
    vocabulary   the categorical values (event types, countries, devices, reasons...).
    catalogue    videos and creators, built on the driver.
    model        the reusable user model (``UserModel``, ``BotModel``): pure numpy.
    policy       the logging policy that chose what the app served.
    dirty        the kinds of broken records and how they are chosen.
    simulate     one block of users over the whole period (numpy).
    ids          the string ids of users, videos, creators and events (Spark and Arrow).
    records      Spark rendering of simulated rows into raw records (and the users' and
                 items' ground truth).
    ground_truth the truth of impressions and dirty records, written per block by its task.
    generate     ``generate_world(spark, cfg, out)``: the Spark entry point.

Only the light modules are imported here, so that importing the config or the user model does
not import pyspark: ``generate_world`` is imported from :mod:`foryou.world.generate`.
"""
from __future__ import annotations

from foryou.world.params import WorldConfig, preset

__all__ = ["WorldConfig", "preset"]
