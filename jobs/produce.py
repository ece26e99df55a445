"""Replay a world's raw events into a Kafka topic, one message per record, keyed by user.

    foryou produce --path WORLD_ROOT|EVENTS_DIR|FILE [--rate N] [--set stream.topic=...]

Dirty records are sent as they are (the stream quarantines them as batch ingest does).
``--rate`` limits messages per second; without it the producer sends as fast as the broker
takes them. ``--path`` defaults to ``ingest.path``.
"""
import sys

from foryou.runtime import config_main
from foryou.stream.broker import ensure_topic
from foryou.stream.produce import ProduceError, event_files, produce


def add_arguments(parser) -> None:
    parser.add_argument("--path", help="world root, events folder or file (default: ingest.path)")
    parser.add_argument("--rate", type=float, help="messages per second (default: unlimited)")


def main(argv=None) -> int:
    def body(config, args) -> int:
        s = config.stream
        path = args.path or config.ingest.path
        if not path:
            raise ProduceError("nothing to send: give --path or set ingest.path")
        ensure_topic(s.bootstrap_servers, s.topic, s.partitions, s.kafka_options)
        report = produce(s.bootstrap_servers, s.topic, event_files(path), args.rate, s.kafka_options)
        print(f"foryou produce: {report.messages:,} messages ({report.bytes / 1e6:.1f} MB) from "
              f"{report.files} files to {s.topic} at {s.bootstrap_servers} in "
              f"{report.seconds:.1f}s ({report.rate:,.0f}/s)")
        return 0

    return config_main("produce", body, argv, add_arguments, __doc__, errors=(ProduceError,))


if __name__ == "__main__":
    sys.exit(main())
