"""Reranking: the champion's scores turned into a diversified, explored, guarded feed per user.

Modules: ``settings`` (the ``rerank`` config section), ``scoring`` (batch scoring of the pool
with the champion ranker), ``dpp`` (DPP greedy MAP, Chen et al. 2018), ``exploration`` (LinUCB
or epsilon-greedy bonus), ``novelty`` (a share from outside the user's interests), ``guards``
(farming, repeats, caps, homogenisation), ``feed`` (one user's list, and every user's in Spark).
"""
