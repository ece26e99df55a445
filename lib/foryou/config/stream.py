"""Settings of the streaming path (the ``stream`` config section): ``foryou broker``,
``foryou produce`` and ``foryou stream-ingest``.

Pointing foryou at a real Kafka cluster, or at an event hub's Kafka endpoint, is configuration
only: ``bootstrap_servers``, ``topic`` and ``kafka_options`` (passed to Spark's Kafka source as
``kafka.<name>`` and to the producer as they are), e.g. for SASL over TLS::

    stream:
      bootstrap_servers: broker-1.example.com:9093
      kafka_options: {security.protocol: SASL_SSL, sasl.mechanism: PLAIN,
                      sasl.jaas.config: "...", sasl.username: ..., sasl.password: ...}
"""
from __future__ import annotations

from pydantic import Field

from foryou.config.section import Section


class StreamConfig(Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    # The topic of raw app events, one event (a JSON object) per message, keyed by user id.
    topic: str = "foryou.events"
    # Kafka client settings passed through (security, timeouts, ...): the source gets them
    # prefixed with "kafka.", the producer as they are.
    kafka_options: dict[str, str] = Field(default_factory=dict)
    # Where the query keeps its offsets and commits; None: <lake.root>/_checkpoints/stream-ingest.
    checkpoint: str | None = None
    # Where a new checkpoint starts reading the topic: earliest (replay what the topic holds)
    # or latest.
    starting_offsets: str = "earliest"
    # Seconds between micro-batches of a continuous run (`--trigger`).
    trigger_s: int = Field(default=30, ge=1)
    # At most this many messages per micro-batch (None: everything available).
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    # An event whose event_ts is more than this behind the newest event the stream has seen
    # is late: it is still cleaned and kept, and counted as late.
    watermark_s: int = Field(default=3600, ge=0)
    # gold.user_short_term: the last N items per user, the bucket count its rows are
    # partitioned by (each micro-batch rewrites only the buckets of the users it saw), and
    # the window of "events in the last hour".
    short_term_items: int = Field(default=20, ge=1)
    short_term_buckets: int = Field(default=16, ge=1)
    recent_window_s: int = Field(default=3600, ge=1)
    # The local broker of `foryou broker start` (KRaft, one node): its client port (the
    # controller listens on the next port), heap and the partitions of topics it creates.
    broker_port: int = Field(default=9092, ge=1, le=65534)
    broker_heap_mb: int = Field(default=512, ge=128)
    partitions: int = Field(default=4, ge=1)
