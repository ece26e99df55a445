"""Stream raw events from Kafka into bronze.events, bronze.quarantine, silver.events and
gold.user_short_term, exactly once (Structured Streaming, foreachBatch through foryou.lake).

    foryou stream-ingest [--available-now | --trigger 30s] [--set stream.topic=...]

``--available-now`` lands what the topic holds and exits (a scheduled job); otherwise a
micro-batch runs every ``--trigger`` (default ``stream.trigger_s``) until stopped (Ctrl-C or
SIGTERM stops it between batches). The checkpoint lives under ``<lake.root>/_checkpoints``;
a killed run re-started goes on where it stopped and commits nothing twice.
"""
import re
import signal
import sys

from foryou.config.settings import StreamSettings
from foryou.runtime import operator_main
from foryou.stream.query import checkpoint_of, start


def _seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*(s|sec|seconds?|m|min|minutes?)?", text.strip())
    if not match:
        raise ValueError(f"--trigger {text!r}: expected e.g. 30s or 2m")
    return int(match.group(1)) * (60 if (match.group(2) or "s").startswith("m") else 1)


def add_arguments(parser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--available-now", action="store_true",
                      help="process what the topic holds, then stop")
    mode.add_argument("--trigger", type=_seconds, metavar="INTERVAL",
                      help="micro-batch interval, e.g. 30s (default: stream.trigger_s)")


def main(argv=None) -> int:
    def body(config, spark, lake, args) -> int:
        settings = StreamSettings.of(config)
        query, state = start(spark, lake, settings, available_now=args.available_now,
                             trigger_s=args.trigger)
        print(f"foryou stream-ingest: {config.stream.topic} at {config.stream.bootstrap_servers} "
              f"-> {lake.backend_name} lake {config.lake.root} (query {query.id}, checkpoint "
              f"{checkpoint_of(settings)})", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: query.stop())
        try:
            query.awaitTermination()
        except KeyboardInterrupt:
            query.stop()
        if query.exception() is not None:
            print(f"foryou stream-ingest: stopped by an error: {query.exception()}", file=sys.stderr)
            return 1
        done = [c for c in state.history if c.messages]
        print(f"foryou stream-ingest: {len(done)} micro-batch(es), "
              f"{sum(c.messages for c in done):,} messages = {sum(c.bronze for c in done):,} "
              f"bronze + {sum(c.quarantined_ingest for c in done):,} quarantined; silver "
              f"{sum(c.silver.accepted for c in done if c.silver):,} inserted, "
              f"{sum(c.silver.duplicates for c in done if c.silver):,} duplicates, "
              f"{sum(c.late for c in done):,} late")
        return 0

    return operator_main("stream-ingest", body, argv, add_arguments, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
