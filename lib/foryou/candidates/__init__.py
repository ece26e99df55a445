"""Per-user candidate sources (ANN, co-visitation, trending, followed creators, cold start),
their filters and quotas, merged into ``gold.candidate_pool`` for scoring and reranking.

``stage.run`` is the stage's entry and ``build.build_day`` its body; each source is a
function of DataFrames, so tests and notebooks can run one alone.
"""
