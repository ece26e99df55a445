"""Start, stop or check the local Kafka broker (Apache Kafka 4.4 in KRaft mode, one node).

    foryou broker start|stop|status [--set stream.broker_port=9092]

Its data, settings and log live under ``<lake.root>/_kafka``. ``start`` also creates
``stream.topic`` (``stream.partitions`` partitions). A real cluster needs none of this: set
``stream.bootstrap_servers``.
"""
import sys

from foryou.runtime import config_main
from foryou.stream.broker import BrokerError, LocalBroker, ensure_topic


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"))


def main(argv=None) -> int:
    def body(config, args) -> int:
        s = config.stream
        broker = LocalBroker.under(config.lake.root, s.broker_port, s.broker_heap_mb, s.partitions)
        if args.action == "start":
            pid = broker.start()
            created = ensure_topic(broker.bootstrap_servers, s.topic, s.partitions)
            print(f"foryou broker: Kafka running at {broker.bootstrap_servers} (pid {pid}); topic "
                  f"{s.topic} {'created' if created else 'present'}; data and log in {broker.home}")
        elif args.action == "stop":
            print("foryou broker: stopped" if broker.stop() else "foryou broker: not running")
        else:
            pid = broker.pid()
            print(f"foryou broker: running at {broker.bootstrap_servers} (pid {pid})" if pid
                  else "foryou broker: not running")
            return 0 if pid else 3
        return 0

    return config_main("broker", body, argv, add_arguments, __doc__, errors=(BrokerError,))


if __name__ == "__main__":
    sys.exit(main())
