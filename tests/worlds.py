"""A tiny synthetic world run through the pipeline once per test session, copied per test.

Building it (generate, ingest, clean, impressions, sessionize, features for five days) takes a
few minutes, so every test that needs real gold tables shares one build and works on a private
copy of its lake: ``config, lake = gold_world.copy(tmp_path)``. The ``fed`` world goes on from
a copy of it through the model and feed stages (embeddings, a short ranker training,
candidates, the export) for its last day, once per session too.

They are the suite's end-to-end run of the pipeline on native Delta-Spark, the backend
clusters use: the gold world's first days are built on the bridge and its last two
(``NATIVE_DAYS``) on native, so every daily stage runs on Delta-Spark, on tables the bridge
created (interoperability under real writes), and the fed world's model and feed stages run on
native (test_simulator's evaluate and test_privacy's forget-users finish it). Building all five
days on native cost the suite over four more minutes for no stage not already covered. Tests
work on their copies with the configured backend (the bridge by default), which reads and
extends Delta-Spark's tables as any Delta client would.
"""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from foryou.config import Config, load_config
from foryou.lake import Lake
from foryou.world import preset

START = dt.date(2024, 5, 1)
DAYS = 5
DATES = [START + dt.timedelta(days=i) for i in range(DAYS)]
BUILD_BACKEND = "native"
BUILD_ARGS = ["--set", f"lake.backend={BUILD_BACKEND}"]
NATIVE_DAYS = 2  # the gold world's last days, built on native
WORLD = preset("tiny", n_users=120, days=DAYS, n_items=1500, users_per_block=30,
               start_date=START)


def world_overrides() -> list[str]:
    world = WORLD.model_dump(mode="json")
    world.pop("kuairand_dir")
    return [f"world.{k}={v}" for k, v in world.items()]


@dataclass(frozen=True)
class GoldWorld:
    """Where the built world lies: its lake, its raw landing folder and its ground truth."""

    root: Path
    settings: tuple[str, ...]
    spark: object
    raw_root: Path | None = None  # the landing folder, when it is not ``root / "raw"``

    @property
    def lake_root(self) -> Path:
        return self.root / "lake"

    @property
    def raw(self) -> Path:
        return self.raw_root or self.root / "raw"

    @property
    def truth(self) -> Path:
        return self.raw / "truth"

    @property
    def dates(self) -> list[dt.date]:
        return list(DATES)

    def overrides(self, lake_root: Path) -> list[str]:
        """``--set`` values for a config on ``lake_root`` over this world."""
        return [*self.settings, f"lake.root={lake_root}", f"ingest.path={self.raw}",
                *world_overrides()]

    def args(self, lake_root: Path) -> list[str]:
        """The same as command-line arguments for ``foryou.cli.main``."""
        return [a for s in self.overrides(lake_root) for a in ("--set", s)]

    def copy(self, tmp_path: Path) -> tuple[Config, Lake]:
        """A private copy of the built lake under ``tmp_path`` and a config and Lake on it."""
        target = Path(tmp_path) / "lake"
        shutil.copytree(self.lake_root, target, ignore=shutil.ignore_patterns("_locks"))
        config = load_config(overrides=self.overrides(target))
        return config, Lake(self.spark, config)


def build(spark, root: Path, settings: list[str]) -> GoldWorld:
    from foryou.cli import main as foryou

    world = GoldWorld(Path(root), tuple(settings), spark)
    first_native = DATES[-NATIVE_DAYS]
    for start, end, backend in ((DATES[0], first_native - dt.timedelta(days=1), "bridge"),
                                (first_native, DATES[-1], BUILD_BACKEND)):
        code = foryou(["pipeline", "--synthetic", "--backfill", str(start), str(end), "--until", "features",
                       *world.args(world.lake_root), "--set", f"lake.backend={backend}"])
        if code != 0:
            raise RuntimeError(f"building the gold_world fixture on {backend} failed (exit {code})")
    return world


# The model and feed stages of the fed world, for the last day; the ranker is kept short (two
# epochs, no baselines): the tests that read it check the feed's plumbing, not its quality.
FEED_STAGES = ["train-embeddings", "train-ranker", "build-candidates", "export"]
FEED_ARGS = {"train-ranker": ["--baselines", "none", "--set", "ranking.epochs=2"]}


def build_fed(gold: GoldWorld, root: Path) -> GoldWorld:
    """A copy of ``gold`` taken through :data:`FEED_STAGES` for its last day."""
    from foryou.cli import main as foryou

    gold.copy(root)
    fed = GoldWorld(Path(root), gold.settings, gold.spark, raw_root=gold.raw)
    for stage in FEED_STAGES:
        code = foryou([stage, "--run-date", str(DATES[-1]), *FEED_ARGS.get(stage, []),
                       *fed.args(fed.lake_root), *BUILD_ARGS])
        if code != 0:
            raise RuntimeError(f"building the fed_world fixture: foryou {stage} failed (exit {code})")
    return fed
