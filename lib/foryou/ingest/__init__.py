"""Raw files to bronze tables, one adapter per source format.

- :mod:`~foryou.ingest.sources`: list files, name each file version (path, size, mtime);
- :mod:`~foryou.ingest.records`: JSON lines / CSV / Parquet to raw records (payload kept);
- :mod:`~foryou.ingest.fields`: typed parsing with a reason naming the field on failure;
- :mod:`~foryou.ingest.batch`: one adapter's new files into one bronze table, quarantine,
  the ``bronze.ingested_files`` manifest and the counts;
- adapters: :mod:`~foryou.ingest.native` (our app's events, content, users),
  :mod:`~foryou.ingest.kuairand` (KuaiRand logs and side tables),
  :mod:`~foryou.ingest.interactions` (any ``user, item, ts[, weight]`` log);
- :mod:`~foryou.ingest.runs`: what ``foryou ingest`` runs per ``--format``.
"""
