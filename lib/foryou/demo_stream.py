"""``make demo-stream``: the demo world streamed through Kafka, then the daily pipeline.

1. start the local Kafka broker (``foryou broker``, data under the lake root);
2. generate the demo world, ingest and clean its content and user files, and replay its raw
   events into the topic (``foryou produce``);
3. stream them into bronze, silver and ``gold.user_short_term`` (``foryou stream-ingest``),
   killing the stream with SIGKILL in the middle of a micro-batch and restarting it, as a
   crashed driver would be: it goes on from its checkpoint and lands nothing twice;
4. run the daily pipeline on what landed up to the world's last day, which is left to the
   stream as today would be (content and users by batch ingest, as their files arrive; events
   are already in silver), then the model and feed stages;
5. ``foryou update-ranker``, the hourly job: the last day's closed impressions become streamed
   training examples, the champion is fine-tuned on everything since its data end, with
   embedding rows for the ids admitted since, and the gate decides whether it serves;
6. print the stream's figures, one user's feed as the reader serves it, and the same feed
   re-ranked inside the user's current session (``gold.user_short_term`` and the export's
   ``gold.session_model``), and where the tables and the raw world are; stop the broker.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

from pyspark.sql import functions as F

from foryou.config import Config
from foryou.config.settings import RankingSettings, StreamSettings
from foryou.demo import _one_feed, _summary, parse_demo, run_demo
from foryou.lake import Lake
from foryou.lake.days import date_range
from foryou.lake.report import tables_text
from foryou.lake.vocabulary import (CONTENT_ID, GOLD_METRICS, GOLD_USER_CANDIDATES as EXPORT,
                                   GOLD_USER_SHORT_TERM, SILVER_CONTENT, USER_ID)
from foryou.pipeline import run_pipeline, select
from foryou.ranking import update
from foryou.rerank.session import Session
from foryou.serving import FeedReader
from foryou.spark import get_spark
from foryou.stages import STAGES, stage_names
from foryou.stream.batch import CHAOS_ENV
from foryou.stream.broker import LocalBroker, ensure_topic
from foryou.stream.produce import event_files, produce
from foryou.stream.query import checkpoint_of

# Where the demo kills its stream: after batch 1's bronze commit, before its silver one.
KILL_AT = "after-bronze:1"


def _stream(common: list[str], per_batch: int, kill: str | None, log: str | None = None) -> int:
    """``foryou stream-ingest --available-now`` in a process of its own (so it can be killed);
    its error output goes to ``log`` when given (a killed driver's JVM reports the lost
    Python side at length)."""
    env = {k: v for k, v in os.environ.items() if k != CHAOS_ENV}
    if kill:
        env[CHAOS_ENV] = kill
    args = [sys.executable, "-m", "foryou.cli", "stream-ingest", "--available-now", *common,
            "--set", f"stream.max_offsets_per_trigger={per_batch}"]
    if log is None:
        return subprocess.run(args, env=env).returncode
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w") as err:
        return subprocess.run(args, env=env, stderr=err).returncode


def stream_figures(lake: Lake) -> str:
    """The stream's totals over its committed micro-batches, from gold.metrics."""
    metrics = lake.read(GOLD_METRICS).where(F.col("stage") == "stream-ingest")
    # bounded: one row per metric name
    rows = {r["name"]: r for r in metrics.groupBy("name").agg(
        F.sum("value").alias("sum"), F.max("value").alias("max"),
        F.expr("percentile(value, 0.5)").alias("median"), F.count("value").alias("n")).collect()}
    if "messages" not in rows:
        return "stream: nothing landed"

    def total(name: str) -> float:
        return rows[name]["sum"] if name in rows else 0

    lines = [f"stream: {total('messages'):,.0f} messages in {rows['messages']['n']} micro-batches = "
             f"{total('records_accepted'):,.0f} bronze + {total('records_quarantined'):,.0f} "
             f"quarantined; silver {total('silver.events.accepted'):,.0f} inserted + "
             f"{total('silver.events.quarantined'):,.0f} quarantined + "
             f"{total('silver.events.duplicates'):,.0f} duplicates; "
             f"{total('late_events'):,.0f} late (kept)"]
    if "latency_ms.p50" in rows:
        lines.append(f"stream latency, produce to silver: median batch p50 "
                     f"{rows['latency_ms.p50']['median'] / 1000:.1f}s, worst batch p99 "
                     f"{rows['latency_ms.p99']['max'] / 1000:.1f}s (a replay: the backlog waits)")
    if lake.exists(GOLD_USER_SHORT_TERM):
        lines.append(f"gold.user_short_term: {lake.read(GOLD_USER_SHORT_TERM).count():,} users")
    return "\n".join(lines)


def _reacting_feed(lake: Lake, show: int = 5) -> str:
    """The loop's last step: a user's exported list as the reader serves it inside the user's
    current session, re-ranked with the session the stream keeps in ``gold.user_short_term``
    and the export's ``gold.session_model``."""
    if not (lake.exists(EXPORT) and lake.exists(GOLD_USER_SHORT_TERM)):
        return ""
    reader = FeedReader.from_lake(lake, refresh_interval_s=None)
    said = F.size("session_tag_interest") + F.size("session_creator_interest")
    # bounded: the 50 users whose current sessions say the most about their taste
    busiest = (lake.read(GOLD_USER_SHORT_TERM).orderBy(said.desc(), F.col("session_events").desc())
               .limit(50).collect())
    row = next((r for r in busiest if reader.is_known(r[USER_ID])), None)
    if row is None:
        return "in-session feed: no user of gold.user_short_term has an exported list"
    row = row.asDict(recursive=True)
    seen = sorted({i[CONTENT_ID] for i in row["last_items"] or ()})
    # bounded: the tags of the user's last items (stream.short_term_items at most)
    tags = {r[CONTENT_ID]: r["tags"] for r in lake.read(SILVER_CONTENT)
            .where(F.col(CONTENT_ID).isin(seen)).select(CONTENT_ID, "tags").collect()}
    session = Session.from_short_term(row, tags)
    static = reader.feed(row[USER_ID], n=show)
    moved = reader.feed(row[USER_ID], n=show, session=session)
    said = sorted([*session.tag_interest.items(), *session.creator_interest.items()],
                  key=lambda kv: -abs(kv[1]))[:3]
    lines = [f"in-session feed of user {row[USER_ID][:16]}... ({row['session_events']} events in "
             f"the current session; strongest interest {', '.join(f'{k} {v:+.1f}' for k, v in said) or 'none'}"
             f"), exported order -> re-ranked by the reader:"]
    lines += [f"  {a['rank']:>2}. {a[CONTENT_ID]:<14} -> {b[CONTENT_ID]}"
              for a, b in zip(static, moved)]
    return "\n".join(lines)


def run(config: Config, common: list[str], landing: str) -> int:
    settings = config.stream
    broker = LocalBroker.under(config.lake.root, settings.broker_port, settings.broker_heap_mb,
                               settings.partitions)
    print(f"foryou demo-stream: starting Kafka (KRaft) at {broker.bootstrap_servers}")
    broker.start()
    try:
        ensure_topic(broker.bootstrap_servers, settings.topic, settings.partitions)
        world = config.world
        lake = Lake(get_spark(config), config)
        code = run_pipeline(lake, config, [world.start_date], select(STAGES, "generate", "generate"))
        # The catalogue and the users arrive as files (ingested and cleaned), before the events
        # that play them: the stream's short-term state then knows each item's tags.
        code = code or run_pipeline(lake, config, date_range(world.start_date, world.end_date),
                                    select(STAGES, "ingest", "clean"))
        if code:
            return code
        if os.path.exists(checkpoint_of(StreamSettings.of(config))):
            # A second run: the topic holds the world already; the stream catches up.
            print("foryou demo-stream: resuming the stream from its checkpoint")
            code = _stream(common, 10**9, None)
        else:
            sent = produce(broker.bootstrap_servers, settings.topic, event_files(landing))
            print(f"produced {sent.messages:,} raw events (dirty ones included) into "
                  f"{settings.topic} in {sent.seconds:.1f}s")
            per_batch = sent.messages // 4 + 1
            print(f"\nstream-ingest, to be killed with SIGKILL at {KILL_AT} (batch 1, between "
                  f"its bronze and silver commits):")
            log = os.path.join(os.path.abspath(config.lake.root), "_logs", "stream-killed.log")
            code = _stream(common, per_batch, KILL_AT, log)
            if code != -signal.SIGKILL:
                print(f"foryou demo-stream: the stream ended with {code} before the kill point")
                return code or 1
            print(f"\nstream-ingest killed (its log: {log}); restarted, it goes on from its "
                  f"checkpoint:")
            code = _stream(common, per_batch, None)
        if code:
            return code

        # The daily stages on what landed, up to the day before the world's last: content and
        # users come in files, events are in silver already. The last day is today: only the
        # stream has it, and the hourly update-ranker learns from it.
        stages = stage_names()
        yesterday = world.end_date - dt.timedelta(days=1)
        code = run_pipeline(lake, config, date_range(world.start_date, yesterday),
                            select(STAGES, "ingest", "features"))
        if code == 0:
            code = run_pipeline(lake, config, [yesterday],
                                select(STAGES, stages[stages.index("features") + 1], None))
        if code:
            return code
        print(f"\nupdate-ranker (the hourly job) on {world.end_date}, which only the stream has:")
        update.commit(lake, update.run(lake, RankingSettings.of(config)))
        print("\n" + tables_text(lake))
        print("\n" + stream_figures(lake))
        print(_summary(lake))
        feed = _one_feed(lake)
        if feed:
            print("\n" + feed)
        reacting = _reacting_feed(lake)
        if reacting:
            print("\n" + reacting)
        return 0
    finally:
        broker.stop()
        print(f"foryou demo-stream: Kafka stopped (its data stays in {broker.home})")


def main(argv: list[str] | None = None) -> int:
    demo = parse_demo(argv, __doc__, folder="stream-", extra=lambda base: [
        "ingest.tables=[content,users]",
        f"stream.bootstrap_servers=127.0.0.1:{base.stream.broker_port}"])
    config, common, landing = demo.config, demo.common, demo.landing
    started = time.perf_counter()
    code = run(config, common, landing)
    if code:
        print(f"foryou demo-stream: failed (exit {code}); `make demo-stream` again resumes")
        return code
    print(f"\nDemo finished in {time.perf_counter() - started:.0f}s.")
    print(f"Delta tables:      {os.path.abspath(config.lake.root)}")
    print(f"Raw world + truth: {landing}")
    print(f"Stream checkpoint: {os.path.join(os.path.abspath(config.lake.root), '_checkpoints')}")
    return 0


if __name__ == "__main__":
    run_demo(main)
