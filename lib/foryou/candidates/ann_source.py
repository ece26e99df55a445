"""The ANN source: FAISS nearest items to each user's embedding (the search is in ``ann``).

This module only wires the lake to ``foryou.candidates.ann``: it takes the newest embedding
version both tables hold, collects that version's item vectors to the driver (the index is
trained once there) and hands the user vectors, a frame, to the batched executor-side search.
Without embeddings (``foryou train-embeddings`` has not run) the source is skipped with a
warning, so the other sources still run.
"""
from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from foryou.candidates import columns as C
from foryou.candidates.ann import ann_candidates, build_index, candidate_rows, item_matrix
from foryou.candidates.topk import ranked_source
from foryou.config.embeddings import AnnConfig
from foryou.embeddings.train import latest_version
from foryou.lake import Lake

log = logging.getLogger("foryou.candidates")


def ann_candidates_from_lake(lake: Lake, k: int, cfg: AnnConfig | None = None) -> DataFrame | None:
    """Per user, the ``k`` items nearest (inner product) to the user's vector of the newest
    embedding version; None, with a warning, when there are no embeddings yet."""
    version = latest_version(lake)
    if version is None:
        log.warning("candidates: ANN source skipped: no gold.item_embeddings/gold.user_embeddings "
                    "of a common model_version (run `foryou train-embeddings` first)")
        return None
    item_ids, vectors = item_matrix(
        lake.read(C.ITEM_EMBEDDINGS).where(F.col("model_version") == version)
        .where(F.col("vector").isNotNull()), C.CONTENT_ID, "vector")
    if not item_ids:
        log.warning("candidates: ANN source skipped: model_version %s holds no item vectors", version)
        return None
    cfg = cfg or AnnConfig()
    users = (lake.read(C.USER_EMBEDDINGS).where(F.col("model_version") == version)
             .select(C.USER_ID, "vector"))
    found = candidate_rows(ann_candidates(lake.spark, users, build_index(vectors, cfg), item_ids, k,
                                          batch_size=cfg.batch_size, tasks=cfg.search_tasks))
    # Already the user's top k in rank order: no second top-k (a shuffle of users x k rows).
    return ranked_source(found, "ann", rank_col="rank")
