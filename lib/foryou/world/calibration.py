"""Empirical distributions of a real short-video app, to bootstrap the synthetic world from.

The numbers come from the KuaiRand-Pure side tables (Kuaishou, April-May 2022): KuaiRand, Gao et
al., "KuaiRand: An Unbiased Sequential Recommendation Dataset with Randomly Exposed Videos",
CIKM 2022, doi 10.1145/3511808.3557624, licensed CC BY-SA 4.0. Data derived from it (the
arrays below, and worlds sampled from them) carry that attribution.

What is taken from the data, and sampled with replacement (a bootstrap):
- video durations (ms) and tag sets (KuaiRand's ``tag`` column, e.g. "20,43");
- videos per author, which sets how catalogue items are spread over creators;
- upload dates as offsets in days from the newest upload;
- per user: activity degree, follow count, fan count and account age (``register_days``),
  drawn jointly from one real user so that their correlation survives.

``Calibration`` holds only numpy arrays (tens of kilobytes), so it pickles cheaply into the
closure that Spark ships to executors.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

VIDEOS_FILE = "video_features_basic_pure.csv"
USERS_FILE = "user_features_pure.csv"
MAX_TAGS = 3  # KuaiRand videos carry one to three tags


@dataclass(frozen=True)
class Calibration:
    """Empirical samples from KuaiRand-Pure; every ``sample_*`` method bootstraps from them.

    Attributes:
        duration_ms: video durations in ms (NaNs dropped), int64.
        tag_ids: the distinct tag ids as strings, by descending frequency.
        tag_frequency: share of tag occurrences per tag (aligned with ``tag_ids``), sums to 1.
        video_tags: one row per video: indices into ``tag_ids``, -1 padded to MAX_TAGS (int16).
        author_video_counts: videos per author, one entry per author.
        upload_offset_days: days between each video's upload date and the newest upload date.
        activity_degrees: the distinct ``user_active_degree`` values, by descending frequency.
        user_activity: per real user, index into ``activity_degrees`` (int8).
        user_follow_count, user_fans_count, user_register_days: per real user (int64).
    """

    duration_ms: np.ndarray
    tag_ids: np.ndarray
    tag_frequency: np.ndarray
    video_tags: np.ndarray
    author_video_counts: np.ndarray
    upload_offset_days: np.ndarray
    activity_degrees: tuple[str, ...]
    user_activity: np.ndarray
    user_follow_count: np.ndarray
    user_fans_count: np.ndarray
    user_register_days: np.ndarray

    @property
    def n_tags(self) -> int:
        return len(self.tag_ids)

    def sample_durations(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` video durations in ms, bootstrapped (int64)."""
        return rng.choice(self.duration_ms, size=n)

    def sample_tag_sets(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` tag sets as rows of tag indices, -1 padded (``(n, MAX_TAGS)`` int16)."""
        return self.video_tags[rng.integers(0, len(self.video_tags), size=n)]

    def sample_author_counts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` videos-per-author counts (>= 1)."""
        return rng.choice(self.author_video_counts, size=n)

    def sample_upload_offsets(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` upload offsets in days before the newest upload (>= 0)."""
        return rng.choice(self.upload_offset_days, size=n)

    def sample_users(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` user profiles drawn jointly from real users.

        Returns:
            ``activity`` (index into ``activity_degrees``), ``follow_count``, ``fans_count``,
            ``register_days``, each of length ``n``.
        """
        rows = rng.integers(0, len(self.user_activity), size=n)
        return {
            "activity": self.user_activity[rows],
            "follow_count": self.user_follow_count[rows],
            "fans_count": self.user_fans_count[rows],
            "register_days": self.user_register_days[rows],
        }


def _tag_matrix(tags: pd.Series, tag_index: dict[str, int]) -> np.ndarray:
    out = np.full((len(tags), MAX_TAGS), -1, dtype=np.int16)
    for row, text in enumerate(tags):
        for col, tag in enumerate(text.split(",")[:MAX_TAGS]):
            out[row, col] = tag_index[tag]
    return out


@functools.lru_cache(maxsize=4)
def load_calibration(folder: str | Path) -> Calibration:
    """Read the KuaiRand-Pure side tables in ``folder`` into a :class:`Calibration`.

    Args:
        folder: directory holding ``video_features_basic_pure.csv`` and ``user_features_pure.csv``.
    Returns:
        The calibration (cached per folder).
    Example:
        >>> cal = load_calibration("../shared/data/kuairand_pure")  # doctest: +SKIP
        >>> int(cal.duration_ms.min()) >= 1000
        True
    """
    folder = Path(folder)
    for name in (VIDEOS_FILE, USERS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"KuaiRand calibration table {folder / name} not found; point WorldConfig."
                f"kuairand_dir or FORYOU_KUAIRAND_DIR at the KuaiRand-Pure side tables")
    videos = pd.read_csv(folder / VIDEOS_FILE,
                         usecols=["author_id", "upload_dt", "video_duration", "tag"],
                         dtype={"tag": "string"})
    users = pd.read_csv(folder / USERS_FILE,
                        usecols=["user_active_degree", "follow_user_num", "fans_user_num",
                                 "register_days"])

    durations = videos["video_duration"].dropna()
    durations = durations[durations > 0].to_numpy(dtype=np.int64)

    tags = videos["tag"].dropna().str.replace(" ", "", regex=False)
    tags = tags[tags != ""]
    counts = tags.str.split(",").explode().value_counts()
    tag_ids = counts.index.to_numpy(dtype=str)
    tag_index = {tag: i for i, tag in enumerate(tag_ids)}

    upload = pd.to_datetime(videos["upload_dt"], errors="coerce").dropna()
    offsets = (upload.max() - upload).dt.days.to_numpy(dtype=np.int64)

    degrees = users["user_active_degree"].fillna("UNKNOWN").astype(str)
    degree_order = degrees.value_counts().index.tolist()
    degree_code = {d: i for i, d in enumerate(degree_order)}

    def nonneg(col: str) -> np.ndarray:
        return users[col].fillna(0).clip(lower=0).to_numpy(dtype=np.int64)

    return Calibration(
        duration_ms=durations,
        tag_ids=tag_ids,
        tag_frequency=(counts / counts.sum()).to_numpy(dtype=np.float64),
        video_tags=_tag_matrix(tags, tag_index),
        author_video_counts=videos.groupby("author_id").size().to_numpy(dtype=np.int64),
        upload_offset_days=offsets,
        activity_degrees=tuple(degree_order),
        user_activity=degrees.map(degree_code).to_numpy(dtype=np.int8),
        user_follow_count=nonneg("follow_user_num"),
        user_fans_count=nonneg("fans_user_num"),
        user_register_days=nonneg("register_days"),
    )
