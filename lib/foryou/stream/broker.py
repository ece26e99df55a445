"""A local Apache Kafka broker for laptops, CI and ``make demo-stream``: ``foryou broker``.

Apache Kafka 4.4 itself, from Maven Central (``org.apache.kafka:kafka_2.13``, fetched by
``make setup`` like Delta's JARs), run as one JVM in KRaft mode (broker and controller in one
process, no ZooKeeper, no Docker). Its data, settings, log and pid file live under
``<lake.root>/_kafka``, so ``FORYOU_LAKE_ROOT`` moves the broker with the lake. A cluster, an
event hub or Confluent Cloud needs none of this: set ``stream.bootstrap_servers``.
"""
from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from foryou.connectors import ConnectorError, jars_dir

CONNECTOR = "kafka-broker"
_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions={partitions}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
"""


class BrokerError(RuntimeError):
    """The broker could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class LocalBroker:
    """One single-node KRaft broker whose files live in ``home``."""

    home: Path
    port: int = 9092
    heap_mb: int = 512
    partitions: int = 4

    @classmethod
    def under(cls, lake_root: str, port: int, heap_mb: int, partitions: int) -> "LocalBroker":
        """The broker of a lake: its files in ``<lake_root>/_kafka`` (a local folder)."""
        if "://" in lake_root.removeprefix("file://"):
            raise BrokerError(f"the local broker keeps its data on this machine; lake.root "
                              f"{lake_root} is remote: point stream.bootstrap_servers at a cluster")
        return cls(Path(os.path.abspath(lake_root.removeprefix("file://"))) / "_kafka",
                   port, heap_mb, partitions)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def _pid_file(self) -> Path:
        return self.home / "broker.pid"

    def pid(self) -> int | None:
        """The broker's process id while it runs, else None."""
        try:
            pid = int(self._pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def _listening(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _java(self, *args: str, heap: bool = False) -> list[str]:
        folder = jars_dir() / CONNECTOR
        if not any(folder.glob("*.jar")):
            raise ConnectorError(f"Kafka's JARs are not fetched: run `make setup` "
                                 f"(python -m foryou.connectors fetch {CONNECTOR})")
        java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
        memory = [f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 256)}m"] if heap else ["-Xmx256m"]
        return [java, *memory, "-cp", str(folder / "*"), *args]

    def start(self, timeout_s: float = 90.0) -> int:
        """Start the broker (formatting its storage on first use) and wait until it takes
        clients; returns its pid. A running broker is left as it is."""
        running = self.pid()
        if running is not None:
            return running
        if self._listening():
            raise BrokerError(f"port {self.port} is taken by another process; set "
                              f"stream.broker_port (and stream.bootstrap_servers)")
        data = self.home / "data"
        self.home.mkdir(parents=True, exist_ok=True)
        props = self.home / "server.properties"
        props.write_text(_PROPERTIES.format(port=self.port, controller=self.port + 1, data=data,
                                            partitions=self.partitions))
        if not (data / "meta.properties").exists():
            cluster_id = _cluster_id()
            done = subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id,
                                             "-c", str(props)), capture_output=True, text=True)
            if done.returncode:
                raise BrokerError(f"formatting the broker's storage failed: "
                                  f"{(done.stderr or done.stdout).strip()[-500:]}")
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(self._java("kafka.Kafka", str(props), heap=True), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self._pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(f"the broker exited with code {proc.returncode}; see {self.log_file}")
            if self._listening() and _ready(self.bootstrap_servers):
                return proc.pid
            time.sleep(0.5)
        self.stop()
        raise BrokerError(f"the broker did not take clients within {timeout_s:.0f}s; see {self.log_file}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker (SIGTERM: a controlled shutdown, SIGKILL after ``timeout_s``);
        returns whether one was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
        self._pid_file.unlink(missing_ok=True)
        return True


def _cluster_id() -> str:
    """A random Kafka cluster id (a UUID in URL-safe base64), never starting with "-": as
    Kafka's own ``Uuid.randomUuid`` ensures, since a leading dash reads as a command-line flag."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _alive(pid: int) -> bool:
    # Reap it if it is our child (a zombie still answers kill 0); another's child is not ours.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _ready(bootstrap_servers: str) -> bool:
    """Whether the broker answers a metadata request (it has a controller and takes clients)."""
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=2)
        return True
    except Exception:  # noqa: BLE001 - not ready yet, whatever librdkafka says
        return False


def ensure_topic(bootstrap_servers: str, topic: str, partitions: int,
                 options: dict[str, str] | None = None) -> bool:
    """Create ``topic`` if the cluster lacks it; returns whether it was created. Created
    topics stamp messages with the broker's clock (``LogAppendTime``), which the stream takes
    as the time a record was received."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap_servers, **(options or {})})
    if topic in admin.list_topics(timeout=10).topics:
        return False
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1,
                                            config={"message.timestamp.type": "LogAppendTime"})])
    try:
        futures[topic].result(30)
    except Exception as exc:  # noqa: BLE001 - librdkafka's KafkaException
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
        return False
    return True
