"""Write a synthetic world into the ingestion landing folder, once per world config.

The pipeline runs ``generate`` for every run date of a backfill; the world covers all of them,
so it is written the first time and recognised afterwards by a manifest holding its config.
Rewriting it would give its files new modification times, and ingestion would take them for
new file versions.
"""
from __future__ import annotations

import json
import os

from pyspark.sql import SparkSession

from foryou.world.params import WorldConfig

MANIFEST = "_world.json"


def existing_world(out: str, cfg: WorldConfig) -> dict[str, int] | None:
    """The counts of the world already at ``out`` if it was made from ``cfg``, else None."""
    path = os.path.join(out, MANIFEST)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        manifest = json.load(fh)
    return manifest["counts"] if manifest.get("config") == cfg.model_dump(mode="json") else None


def land_world(spark: SparkSession, cfg: WorldConfig, out: str) -> tuple[dict[str, int], bool]:
    """Generate the world of ``cfg`` into ``out`` unless it is there; returns (counts, created)."""
    from foryou.world.generate import generate_world

    counts = existing_world(out, cfg)
    if counts is not None:
        return counts, False
    if os.path.exists(os.path.join(out, MANIFEST)):
        raise FileExistsError(
            f"{out} holds a world made from another config; remove it or set ingest.path "
            "elsewhere (ingested files are never re-read, so a new world needs a new folder)")
    counts = generate_world(spark, cfg, out)
    with open(os.path.join(out, MANIFEST), "w") as fh:
        json.dump({"config": cfg.model_dump(mode="json"), "counts": counts}, fh, indent=2)
    return counts, True
