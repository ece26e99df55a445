"""Raw files to bronze tables, one adapter per source format."""
