"""The settings of a synthetic world (``WorldConfig``) and its size presets.

One typed model holds every knob of the generator, so a world is reproducible from its config
alone: the same config (seed included) gives byte-identical event files on any number of Spark
tasks. Unknown keys are errors, so a typo fails at start-up with the key's name.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# lib/foryou/world/params.py -> the repository root, when running from a checkout.
_REPO = Path(__file__).resolve().parents[3]
KUAIRAND_ENV = "FORYOU_KUAIRAND_DIR"
SIZES = ("tiny", "small", "large")


class WorldConfig(BaseModel):
    """Everything that shapes a generated world. Defaults are the ``small`` preset.

    Event volume is linear in ``n_users * days`` (about 63 events per user-day with the other
    defaults); the catalogue size ``n_items`` and ``partitions`` do not change it.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: int = Field(default=20240501, ge=0, lt=2**63)
    n_users: int = Field(default=450, ge=1)
    # Catalogue size: videos that exist before the period plus those uploaded during it.
    # Creators are derived from it with KuaiRand's videos-per-author distribution.
    n_items: int = Field(default=8_000, ge=10)
    days: int = Field(default=7, ge=1)
    start_date: dt.date = dt.date(2024, 5, 1)
    # Mean number of app sessions of a user on a day the user is active (scaled per activity degree).
    sessions_per_active_day: float = Field(default=2.2, gt=0)
    # Items served by one feed request (positions 0..items_per_request-1).
    items_per_request: int = Field(default=6, ge=1, le=50)
    # Share of users that are engagement bots (at least one bot when > 0).
    bot_share: float = Field(default=0.01, ge=0, lt=1)
    # Share of user events that are corrupted, duplicated or late (the dirty kinds in dirty.py).
    dirty_rate: float = Field(default=0.02, ge=0, lt=0.5)
    # Share of the catalogue uploaded during the period (cold-start items, with upload events).
    new_upload_share: float = Field(default=0.10, ge=0, lt=1)
    # File format of the raw events, content and users: JSON lines, CSV with header, or Parquet.
    format: Literal["json", "csv", "parquet"] = "json"
    # Satiation strength: the log-appeal a tag loses per unit of the user's satiation with it
    # (foryou.world.model: each consumed item adds its watched fraction to its tags; it decays
    # to 85% per item seen, 50% between sessions and 20% overnight). 0 switches it off. At 0.15
    # a session that shows one topic only keeps settling towards exp(-1), about a third, of its
    # fresh appeal, and a day away restores all but a few percent.
    satiation: float = Field(default=0.15, ge=0, le=5)
    # Spark tasks that simulate users. Output does not depend on it.
    partitions: int = Field(default=4, ge=1)
    # Users simulated together in one vectorised block; the unit of randomness (each block's
    # generator is seeded from (seed, block)). Changing it changes the world, unlike partitions.
    # Bigger blocks amortise numpy's per-call cost (measured 3.1 us/event at 256 users, 1.9 at
    # 1,100); keep at least two blocks per core so tasks stay balanced.
    users_per_block: int = Field(default=128, ge=1, le=100_000)
    # Folder of the real KuaiRand-Pure side tables used for calibration. A relative path is
    # resolved against the repository root; FORYOU_KUAIRAND_DIR wins over the default.
    kuairand_dir: str = "../shared/data/kuairand_pure"

    @classmethod
    def preset(cls, size: str, **overrides) -> "WorldConfig":
        """The config of a named size, with ``overrides`` applied (e.g. ``seed=3``).

        Args:
            size: ``tiny`` (~10^4 events, for tests, a few seconds), ``small`` (~2*10^5 events,
                the demo) or ``large`` (~10^7 events).
        Returns:
            A validated ``WorldConfig``.
        Example:
            >>> WorldConfig.preset("tiny").n_users
            64
        """
        if size not in _PRESETS:
            raise ValueError(f"unknown world size {size!r}; expected one of {', '.join(SIZES)}")
        return cls(**{**_PRESETS[size], **overrides})

    def kuairand_path(self) -> Path:
        """The calibration folder: an explicit ``kuairand_dir``, else FORYOU_KUAIRAND_DIR, else
        the default; relative paths are taken from the repository root (or the working
        directory when foryou is installed outside a checkout)."""
        raw = self.kuairand_dir
        if "kuairand_dir" not in self.model_fields_set and os.environ.get(KUAIRAND_ENV):
            raw = os.environ[KUAIRAND_ENV]
        path = Path(raw).expanduser()
        if path.is_absolute():
            return path
        base = _REPO if (_REPO / "setup.py").exists() else Path.cwd()
        return (base / path).resolve()

    @property
    def n_blocks(self) -> int:
        """Number of user blocks (rows of the Spark range that drives the simulation)."""
        return -(-self.n_users // self.users_per_block)

    @property
    def end_date(self) -> dt.date:
        """The last simulated day (inclusive)."""
        return self.start_date + dt.timedelta(days=self.days - 1)


# Sizes scale n_users * days linearly with the target event count.
_PRESETS: dict[str, dict] = {
    "tiny": dict(n_users=64, days=2, n_items=1_500, partitions=2, users_per_block=16),
    "small": dict(n_users=450, days=7, n_items=8_000, partitions=4, users_per_block=128),
    "large": dict(n_users=11_300, days=14, n_items=100_000, partitions=16, users_per_block=512),
}


def preset(size: str, **overrides) -> WorldConfig:
    """Shorthand for :meth:`WorldConfig.preset`."""
    return WorldConfig.preset(size, **overrides)
