"""Data quality: one Great Expectations suite per table, validated per batch.

The logic lives in :mod:`foryou.quality.expectations`; importing Great Expectations is slow,
so this package's top level imports nothing.
"""
