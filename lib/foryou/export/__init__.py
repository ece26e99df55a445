"""The feed export gold.user_candidates: its data contract and its atomic write.

Modules: ``contract`` (the versioned contract of docs/contract.md and ``check_contract``),
``build`` (pool → guards → rerank → export rows, and the write).
"""
