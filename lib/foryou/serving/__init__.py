"""Serve the exported feed without a JVM: :class:`FeedReader` loads the latest
``gold.user_candidates`` version with deltalake/pyarrow and answers per-user lookups."""
from foryou.serving.reader import FALLBACK_SOURCE, FeedReader, FeedReaderError

__all__ = ["FALLBACK_SOURCE", "FeedReader", "FeedReaderError"]
