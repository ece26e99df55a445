"""Impressions: each served item joined with its outcome labels (``foryou impressions``).

The logic lives in :mod:`foryou.impressions.labels`.
"""
