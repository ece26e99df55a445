"""``foryou produce``: a world's raw events replayed into a Kafka topic, as the app would send them.

Each line of the event files (JSON lines: a generated world's ``events/date=*/part-*.jsonl``,
an events folder or one file) becomes one message, byte for byte: dirty records included,
so the stream meets what batch ingest meets. Records are sent in event-time order within
each folder (a day), as the app sent them; records that arrived late stay in their later
folder and reach the stream late. Messages are keyed by the record's ``user_id``
(a record whose user cannot be read has no key), so one user's events stay in order in one
partition. Blank lines are not records and are not sent.

The producer is Confluent's client (``confluent-kafka``, librdkafka) with idempotence on, so
a retried send is not written twice. ``rate`` limits messages per second (None: as fast as the
broker takes them).
"""
from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from foryou.lake.vocabulary import EVENT_TS, USER_ID

EVENT_SUFFIXES = (".jsonl", ".json", ".ndjson")


class ProduceError(RuntimeError):
    """Messages could not be delivered, or there was nothing to send."""


@dataclass(frozen=True)
class ProduceReport:
    """What one replay sent."""

    messages: int
    bytes: int
    seconds: float
    files: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("inf")


def event_files(path: str) -> list[Path]:
    """The JSON-lines event files of a world root (its ``events/``), a folder or one file, in
    path order (a world's date folders sort by date)."""
    root = Path(path)
    if root.is_file():
        return [root]
    if (root / "events").is_dir():
        root = root / "events"
    if not root.is_dir():
        raise ProduceError(f"{path}: no such file or folder")
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in EVENT_SUFFIXES
                   and not p.name.startswith((".", "_")))
    if not found:
        raise ProduceError(f"{path}: no event files (names ending {', '.join(EVENT_SUFFIXES)})")
    return found


def records(files: Sequence[Path]) -> Iterator[bytes]:
    """Every non-blank line of ``files`` as raw bytes (split as Spark's text reader splits:
    on \\n, \\r\\n or \\r)."""
    for f in files:
        with open(f, "rb") as handle:
            for line in handle.read().splitlines():
                if line.strip():
                    yield line


def event_time(record: bytes) -> float | None:
    """The record's ``event_ts`` as epoch seconds, or None when it cannot be read."""
    try:
        ts = json.loads(record).get(EVENT_TS)
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            return ts / 1000 if ts > 1e11 else float(ts)
        return dt.datetime.fromisoformat(ts).replace(tzinfo=dt.timezone.utc).timestamp()
    except (ValueError, TypeError, AttributeError, OverflowError):
        return None


def in_time_order(files: Sequence[Path]) -> Iterator[bytes]:
    """The records of each folder of ``files`` (a world's day) sorted by event time, folder by
    folder, as an app would have sent them: a world writes a day's events per block of users,
    each block covering the whole day. A record without a readable time keeps its place
    after the record before it. One folder is held in memory at a time."""
    folders: dict[Path, list[Path]] = {}
    for f in files:
        folders.setdefault(f.parent, []).append(f)
    for group in folders.values():
        keyed, last = [], float("-inf")
        for record in records(group):
            t = event_time(record)
            last = last if t is None else t
            keyed.append((last, record))
        keyed.sort(key=lambda pair: pair[0])
        yield from (record for _, record in keyed)


def user_key(record: bytes) -> bytes | None:
    """The record's ``user_id`` as the message key, or None when it cannot be read."""
    try:
        user = json.loads(record).get(USER_ID)
    except (ValueError, AttributeError):
        return None
    return user.encode() if isinstance(user, str) and user else None


def produce(bootstrap_servers: str, topic: str, files: Sequence[Path], rate: float | None = None,
            options: dict[str, str] | None = None, time_order: bool = True) -> ProduceReport:
    """Send every record of ``files`` to ``topic`` (:func:`in_time_order`, or as the files
    hold them); returns once the broker has them all."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True,
                         "linger.ms": 20, "compression.type": "lz4", **(options or {})})
    failures: list[str] = []

    def delivered(err, _msg) -> None:
        if err is not None:
            failures.append(str(err))

    sent = size = 0
    start = time.perf_counter()
    for record in (in_time_order(files) if time_order else records(files)):
        if rate:
            ahead = sent / rate - (time.perf_counter() - start)
            if ahead > 0:
                time.sleep(ahead)
        while True:
            try:
                producer.produce(topic, value=record, key=user_key(record), on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let librdkafka send some
                producer.poll(0.1)
            except KafkaException as exc:
                raise ProduceError(f"sending to {topic} at {bootstrap_servers}: {exc}") from exc
        producer.poll(0)
        sent += 1
        size += len(record)
    left = producer.flush(120)
    if left or failures:
        raise ProduceError(f"{left + len(failures)} of {sent} messages were not delivered to "
                           f"{topic} at {bootstrap_servers}: {(failures or ['flush timed out'])[0]}")
    if not sent:
        raise ProduceError("no records to send")
    return ProduceReport(sent, size, time.perf_counter() - start, len(files))
