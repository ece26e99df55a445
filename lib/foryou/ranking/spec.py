"""FeatureSpec: which columns of gold.training_examples feed the ranker, and how.

The spec is built once per training run (from the lake or from files), logged with the model
(``to_json``) and reloaded at serving (``from_json``), so serving normalises exactly as
training did. Dense normalisation: counts and other heavy-tailed values go through
``log1p(max(x, 0))``; every dense value is then standardised with the mean and standard
deviation measured on (a sample of at most ``ranking.stats_max_rows`` rows of) the training
files, and clipped to [-8, 8]. Nulls follow the rule in :mod:`foryou.ranking.data`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from foryou.config.ranking import BINARY_TASKS, RankingConfig
from foryou.features import columns as C
from foryou.ranking import data as D

if TYPE_CHECKING:  # pragma: no cover
    from foryou.config.settings import RankingSettings
    from foryou.lake import Lake

log = logging.getLogger(__name__)

# Single-valued index columns and the vocabulary kind (embedding table) each one uses.
CATEGORICAL = {"user_index": "user", "item_index": "item", "creator_index": "creator",
               "os_index": "os", "network_index": "network"}
# Multi-valued index columns, mean-pooled; recent items share the item embedding table.
MULTI_HOT = {"tag_indices": "tag", "recent_item_indices": "item"}
VECTOR = "item_content_vector"
# Heavy-tailed dense features: log1p(max(x, 0)) before standardising. The creator's follower
# count is not an input: the product rules say reach must not depend on followers.
LOG_DENSE = (
    "user_events", "user_views", "user_likes", "user_engagement", "user_engagement_decayed",
    "user_active_days", "user_avg_session_s", "user_contents_per_session",
    "user_events_per_active_day", "item_impressions", "item_views", "item_age_days",
    "item_duration_ms", "item_hashtag_count", "interest_match_short",
    "interest_match_mid", "interest_match_long", "creator_affinity", "tag_impressions",
)
PLAIN_DENSE = (
    "hour_sin", "hour_cos", "dow_sin", "dow_cos", "user_skip_rate", "user_hide_rate",
    "user_report_rate", "user_anomaly_score", "user_suspected_bot", "user_view_rate",
    "item_view_rate", "item_completion_rate", "item_avg_watch_ratio", "item_like_rate",
    "item_comment_rate", "item_share_rate", "item_follow_rate", "item_growth_rate",
    "item_duration_bucket", "item_creator_avg_like_rate", "item_creator_avg_completion_rate",
    "item_hashtag_popularity", "follows_creator", "tag_view_rate", "creator_view_rate",
    "tag_exposure_lift",
)
# The bias tower's inputs (training only, never the main model's): position in the feed
# (the int column ``position``, bucketed at max_position) and the device index.
BIAS_CATEGORICAL = {"device_index": "device"}
CLIP = 8.0


@dataclass
class DenseFeature:
    """One dense input: optional log1p, then (x - mean) / std, clipped to [-8, 8]."""

    name: str
    log: bool = False
    mean: float = 0.0
    std: float = 1.0

    def raw(self, values: np.ndarray) -> np.ndarray:
        return np.log1p(np.maximum(values, 0.0)) if self.log else values

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Normalised values; NaN stays NaN (the loader turns it into 0, the mean)."""
        return np.clip((self.raw(values) - self.mean) / self.std, -CLIP, CLIP)


@dataclass
class FeatureSpec:
    """The ranker's inputs, vocabulary sizes, normalisation and active tasks.

    Attributes:
        vocab_sizes: embedding rows per vocabulary kind (max index + 1; index 0 is OOV).
        categorical / multi_hot: index column -> vocabulary kind (main model).
        bias: index columns of the bias tower only (device), beside ``position``.
        vectors: dense vector column -> width.
        dense: the dense features in input order, with their normalisation.
        tasks: binary tasks trained (absent or constant labels are in ``skipped``).
        watch_target: "log_watch", "watch_ratio" or "none"; the regression head learns the
            target standardised by ``watch_mean``/``watch_std``.
        label_rates: positive rate (binary) or mean target (watch) in the training sample.
        examples_version / vocabulary_as_of / train_dates: provenance, logged with the model.

    Example:
        >>> spec = FeatureSpec.from_files(files, config.ranking)      # doctest: +SKIP
        >>> FeatureSpec.from_json(spec.to_json()) == spec
        True
    """

    vocab_sizes: dict[str, int]
    dense: list[DenseFeature]
    tasks: list[str]
    categorical: dict[str, str] = field(default_factory=lambda: dict(CATEGORICAL))
    multi_hot: dict[str, str] = field(default_factory=lambda: dict(MULTI_HOT))
    bias: dict[str, str] = field(default_factory=lambda: dict(BIAS_CATEGORICAL))
    vectors: dict[str, int] = field(default_factory=lambda: {VECTOR: 32})
    max_multi_hot: int = 20
    max_position: int = 64
    watch_target: str = "log_watch"
    watch_mean: float = 0.0
    watch_std: float = 1.0
    label_rates: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    examples_version: int | None = None
    vocabulary_as_of: str | None = None
    train_dates: list[str] = field(default_factory=list)

    @property
    def heads(self) -> list[str]:
        """Every output of the model: the binary tasks, then ``watch`` if trained."""
        return self.tasks + ([D.WATCH_TASK] if self.watch_target != "none" else [])

    def file_columns(self) -> list[str]:
        """Columns a training file must have."""
        cols = [*self.categorical, *self.multi_hot, *self.bias, *self.vectors, *(f.name for f in self.dense),
                C.POSITION, *self.tasks]
        if self.watch_target == "log_watch":
            cols.append(C.WATCH_MS)
        elif self.watch_target == "watch_ratio":
            cols.append(C.WATCH_RATIO)
        return list(dict.fromkeys(cols))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSpec":
        data = json.loads(text)
        data["dense"] = [DenseFeature(**d) for d in data["dense"]]
        return cls(**data)

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_files(cls, files: list[str], cfg: RankingConfig, vector_dim: int = 32,
                   vocab_sizes: dict[str, int] | None = None, **provenance) -> "FeatureSpec":
        """Measure normalisation, label rates (and, without ``vocab_sizes``, max index + 1)
        on a sample of at most ``cfg.stats_max_rows`` rows of ``files``.

        Raises:
            MissingColumnError: a file lacks a feature or label column (named).
            ValueError: ``files`` is empty.
        """
        if not files:
            raise ValueError("no training files to build the feature spec from")
        unknown = [t for t in cfg.tasks if t not in BINARY_TASKS]
        if unknown:
            raise ValueError(f"ranking.tasks: unknown task {unknown[0]!r}")
        dense = [DenseFeature(n, log=True) for n in LOG_DENSE] + [DenseFeature(n) for n in PLAIN_DENSE]
        base = cls(vocab_sizes={}, dense=dense, tasks=list(cfg.tasks),
                   vectors={VECTOR: vector_dim}, max_multi_hot=cfg.max_multi_hot,
                   max_position=cfg.max_position, watch_target=cfg.watch_target)
        needed = base.file_columns()
        sums, squares, counts = Counter(), Counter(), Counter()
        max_index: Counter = Counter()
        order = sorted(files)
        random.Random(cfg.seed).shuffle(order)
        seen = 0
        for path in order:
            dataset = ds.dataset(path, format="parquet")
            D.check_columns(dataset.schema, needed, path)
            for batch in dataset.to_batches(columns=needed, batch_size=65536):
                table = pa.Table.from_batches([batch])
                for f in dense:
                    _accumulate(f.name, f.raw(D.float_values(table, f.name)), sums, squares, counts)
                for task in base.tasks:
                    y = D.float_values(table, task)
                    _accumulate(task, np.where(np.isnan(y), np.nan, y > 0), sums, squares, counts)
                if base.watch_target != "none":
                    _accumulate(D.WATCH_TASK, D.watch_target(table, base.watch_target),
                                sums, squares, counts)
                for col, kind in {**base.categorical, **base.bias, **base.multi_hot}.items():
                    values = (D.index_values(table, col, 2**62) if col not in base.multi_hot
                              else D.padded(table, col, cfg.max_multi_hot, np.int64))
                    if values.size:
                        max_index[kind] = max(max_index[kind], int(values.max()))
                seen += table.num_rows
                if seen >= cfg.stats_max_rows:
                    break
            if seen >= cfg.stats_max_rows:
                break
        for f in dense:
            f.mean, f.std = _moments(f.name, sums, squares, counts)
        rates = {t: (sums[t] / counts[t] if counts[t] else float("nan")) for t in base.heads}
        skipped = {}
        for task in base.tasks:
            if counts[task] == 0:
                skipped[task] = "label absent (all null)"
            elif rates[task] in (0.0, 1.0):
                skipped[task] = f"label constant ({int(rates[task])}) in {counts[task]} rows"
        if base.watch_target != "none":
            base.watch_mean, base.watch_std = _moments(D.WATCH_TASK, sums, squares, counts)
            if counts[D.WATCH_TASK] == 0 or base.watch_std <= 1e-9:
                skipped[D.WATCH_TASK] = "watch label absent or constant"
        for task, reason in skipped.items():
            log.warning("ranking: task %s skipped: %s", task, reason)
        base.tasks = [t for t in base.tasks if t not in skipped]
        if D.WATCH_TASK in skipped:
            base.watch_target = "none"
        if not base.heads:
            raise ValueError(f"no task has a usable label in the training files: {skipped}")
        base.skipped = skipped
        base.label_rates = {t: round(float(r), 6) for t, r in rates.items() if not np.isnan(r)}
        sizes = {kind: max_index[kind] + 1 for kind in {*base.categorical.values(),
                                                         *base.bias.values(), *base.multi_hot.values()}}
        if vocab_sizes:
            sizes = {k: max(v, vocab_sizes.get(k, 0)) for k, v in sizes.items()}
        base.vocab_sizes = sizes
        for key, value in provenance.items():
            setattr(base, key, value)
        return base

    @classmethod
    def from_lake(cls, lake: "Lake", config: "RankingSettings", run_date: dt.date | None = None,
                  train_dates=None, version: int | None = None) -> "FeatureSpec":
        """The spec of a training run on gold.training_examples.

        Train dates default to :func:`foryou.ranking.data.split_dates` at ``run_date``
        (default: the latest example date). Vocabulary sizes are the largest index of each
        kind in gold.vocabularies up to the day after the last training date (one Spark
        aggregation, seven rows back), or the largest index seen in the sample if larger.
        """
        cfg = config.ranking
        if version is None:
            version = lake.version(C.EXAMPLES)
        if version is None:
            raise ValueError("gold.training_examples does not exist yet: run `foryou features`")
        if train_dates is None:
            run_date = run_date or D.example_dates(lake, version)[-1]
            train_dates = D.split_dates(lake, run_date, cfg, config.features)[D.TRAIN]
        train_dates = sorted(dt.date.fromisoformat(str(d)) for d in train_dates)
        files = D.example_files(lake, train_dates, version)
        vocab, as_of = vocabulary_sizes(lake, train_dates[-1] + dt.timedelta(days=1))
        return cls.from_files(files, cfg, vector_dim=config.features.vector_dim,
                              vocab_sizes=vocab, examples_version=version,
                              vocabulary_as_of=as_of, train_dates=[str(d) for d in train_dates])


def _accumulate(name, values: np.ndarray, sums: Counter, squares: Counter, counts: Counter) -> None:
    ok = values[~np.isnan(values)]
    sums[name] += float(ok.sum())
    squares[name] += float(np.square(ok).sum())
    counts[name] += int(ok.size)


def _moments(name, sums: Counter, squares: Counter, counts: Counter) -> tuple[float, float]:
    n = counts[name]
    if not n:
        return 0.0, 1.0
    mean = sums[name] / n
    std = float(np.sqrt(max(squares[name] / n - mean * mean, 0.0)))
    return float(mean), (std if std > 1e-6 else 1.0)


def vocabulary_sizes(lake: "Lake", until: dt.date) -> tuple[dict[str, int], str | None]:
    """Embedding rows per vocabulary kind (largest index + 1) over the gold.vocabularies
    versions up to ``until``, and the newest of those versions (None: no table)."""
    from pyspark.sql import functions as F

    if not lake.exists(C.VOCABULARIES):
        return {}, None
    vocab = lake.read(C.VOCABULARIES).where(F.col(C.AS_OF_DATE) <= F.lit(until))
    # bounded: one row per vocabulary kind
    rows = vocab.groupBy(C.KIND).agg(F.max(C.INDEX).alias("top"),
                                     F.max(C.AS_OF_DATE).alias("as_of")).collect()
    sizes = {r[C.KIND]: int(r["top"] or 0) + 1 for r in rows}
    as_of = max((r["as_of"] for r in rows if r["as_of"]), default=None)
    return sizes, (str(as_of) if as_of else None)
