"""Settings of ``foryou train-embeddings`` and of the FAISS index over its item vectors
(the ``embeddings`` config section)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from foryou.config.section import Section


class AnnConfig(Section):
    """The FAISS index over the item vectors (inner product: the ALS score).

    Catalogues up to ``exact_max_items`` get an exact ``IndexFlatIP``; larger ones get the
    approximate ``kind`` with the parameters below.
    """

    # A batch over every user costs users x items x dim for the exact index. Measured on
    # 50k users x 20k items (rank 64, bench/candidates.py): IVF with the defaults below was
    # ~3x faster than exact at recall@100 1.0 against it, so exact stops at 10k items.
    # nprobe 16 of ~4*sqrt(items) cells kept recall@100 at 0.994 there (8: 0.983, 64:
    # 1.000) for 2.3x less search time than 64.
    exact_max_items: int = Field(default=10_000, ge=1)
    kind: Literal["ivf", "hnsw"] = "ivf"
    # IVF: nlist coarse cells (0: about 4 * sqrt(items)), nprobe cells searched per query.
    nlist: int = Field(default=0, ge=0)
    nprobe: int = Field(default=16, ge=1)
    # IVF training sample: at most this many vectors per cell (FAISS warns above 256).
    train_per_list: int = Field(default=64, ge=1)
    # HNSW: M links per node, efConstruction and efSearch.
    hnsw_m: int = Field(default=32, ge=2)
    hnsw_ef_construction: int = Field(default=80, ge=1)
    hnsw_ef_search: int = Field(default=256, ge=1)
    # Users searched per FAISS call inside one executor task.
    batch_size: int = Field(default=4096, ge=1)
    # Tasks the search runs in: the user vectors are coalesced (no shuffle) to at most this
    # many; 0 = one per task slot (default parallelism / spark.task.cpus). Every task loads
    # the index and writes its own output, so more tasks than slots only add that per-task
    # cost: 50k users in 10 partitions on 2 slots searched and written in 2.20 s, in 2 tasks
    # 1.67 s (bench/candidates.py's vectors). With dynamic allocation the slots are counted
    # when the search starts: set it to the cores at full size there.
    search_tasks: int = Field(default=0, ge=0)
    seed: int = 7


class EmbeddingsConfig(Section):
    """Collaborative (ALS, implicit feedback) and content item vectors, user vectors."""

    # Impressions of the last N days before the run date feed ALS.
    window_days: int = Field(default=30, ge=1)
    rank: int = Field(default=32, ge=1)
    reg_param: float = Field(default=0.05, ge=0)
    # Implicit ALS confidence is 1 + alpha * strength.
    alpha: float = Field(default=10.0, ge=0)
    max_iter: int = Field(default=10, ge=1)
    seed: int = 42
    # Engagement strength of one impression: the sum of the weights of its labels; watch_ratio
    # (capped at watch_ratio_cap) counts with its weight times the ratio. Negative weights
    # (skip, hide, report) lower it; a (user, item) pair whose summed strength is <= 0 is
    # dropped, so a hidden or reported item is no positive signal however long it was watched.
    # Time spent is watch time: long views count, and neither the watch ratio nor completion
    # does (both favour short videos). On the demo world the ANN source's share of the oracle's
    # time-spent lift in the simulator rose from 0.29 to 0.33 against watch_ratio 1.0,
    # long_view 0.5, complete 0.5.
    strength_weights: dict[str, float] = Field(default_factory=lambda: {
        "click": 0.5, "long_view": 2.5, "like": 2.0, "comment": 2.0, "share": 3.0,
        "follow": 3.0, "save": 2.0, "skip": -0.5, "hide": -5.0, "report": -10.0})
    watch_ratio_cap: float = Field(default=2.0, gt=0)
    # Users flagged suspected_bot in gold.user_features are left out of training.
    exclude_bots: bool = True
    # Content vectors: a column of gold.item_features (unit length). They are mapped into the
    # collaborative space by ridge regression fit on items that have both, so an item without
    # interactions gets a vector users can be matched against (kind "content").
    content_column: str = "content_vector"
    content_ridge: float = Field(default=1.0, ge=0)
    # Fewer (user, item) pairs than this: no ALS; every item gets its projected content
    # vector and the job says so.
    min_pairs: int = Field(default=10, ge=1)
    ann: AnnConfig = Field(default_factory=AnnConfig)
