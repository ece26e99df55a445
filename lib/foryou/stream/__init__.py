"""Streaming ingestion: Kafka to bronze, silver and ``gold.user_short_term``, exactly once.

- :mod:`~foryou.stream.broker`: a local Apache Kafka broker (KRaft) for laptops, CI and demos;
- :mod:`~foryou.stream.produce`: a world's raw events replayed into a topic;
- :mod:`~foryou.stream.query`: the Structured Streaming query (Kafka source, checkpoint,
  trigger) behind ``foryou stream-ingest``;
- :mod:`~foryou.stream.batch`: what one micro-batch does (bronze, quarantine, silver, state,
  metrics) and why it commits each part once;
- :mod:`~foryou.stream.short_term`: the per-user short-term state table.
"""
