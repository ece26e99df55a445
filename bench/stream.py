"""Streaming ingestion against its batch peer: sustained events/s into silver, and latency.

    .venv/bin/python bench/stream.py [--size small] [--trigger 30] [--root /tmp/stream-bench]

On one generated world, with the local Kafka broker on the same machine (``foryou broker``):

1. **throughput**: the world's raw events are produced into a topic, then ``foryou
   stream-ingest --available-now`` lands them in micro-batches of ``--batch`` messages.
   Sustained rate = messages / the micro-batches' own seconds (gold.metrics; the JVM's start
   is not a micro-batch).
2. **batch peer**, same events, same run: ``foryou ingest`` + ``foryou clean`` into another
   lake; rate = events / the two jobs' own seconds (gold.metrics, likewise without the start).
3. **latency**: a continuous stream (``--trigger`` seconds) while the producer sends at half
   the sustained rate for ``--seconds``; produce-to-silver latency per micro-batch is commit
   time minus each message's broker timestamp (gold.metrics ``latency_ms.*``). p50 is the
   message-weighted median of the batches' medians; p99 is the worst batch's p99 (an upper
   bound of the pooled p99).

Targets (issue 22): throughput >= 0.5x batch; p99 <= 2 x trigger + 10 s. Writes
``bench/results/stream.json``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

from foryou.stream.broker import LocalBroker, ensure_topic  # noqa: E402
from foryou.stream.produce import event_files, produce, records  # noqa: E402
from foryou.world import preset  # noqa: E402

BIN = Path(sys.executable).parent
PORT = 19392


def _sets(settings: list[str]) -> list[str]:
    return [a for s in settings for a in ("--set", s)]


def _metrics(lake: Path, stage: str) -> pl.DataFrame:
    table = pl.from_arrow(DeltaTable(str(lake / "gold" / "metrics")).to_pyarrow_table())
    return table.filter(pl.col("stage") == stage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small")
    parser.add_argument("--batch", type=int, default=50_000, help="messages per micro-batch")
    parser.add_argument("--trigger", type=int, default=30, help="seconds between micro-batches")
    parser.add_argument("--seconds", type=int, default=150, help="latency phase: seconds produced")
    parser.add_argument("--root", default="/tmp/stream-bench")
    args = parser.parse_args()
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    world_cfg = preset(args.size).model_dump(mode="json")
    world_cfg.pop("kuairand_dir")
    raw = root / "world"
    common = [f"world.{k}={v}" for k, v in world_cfg.items()] + [
        f"ingest.path={raw}", "spark.log_level=ERROR", "spark.ui=false",
        f"stream.bootstrap_servers=127.0.0.1:{PORT}"]
    run = lambda *argv: subprocess.run([str(BIN / "foryou"), *argv], check=True,  # noqa: E731
                                       stdout=subprocess.DEVNULL)
    run("generate", "--run-date", str(world_cfg["start_date"]), *_sets(common + [f"lake.root={root / 'gen'}"]))
    files = event_files(str(raw))
    events = sum(1 for _ in records(files))

    broker = LocalBroker(root / "kafka", port=PORT, heap_mb=512, partitions=4)
    broker.start()
    result: dict = {"size": args.size, "events": events, "batch": args.batch, "trigger_s": args.trigger}
    try:
        # 1. throughput
        ensure_topic(broker.bootstrap_servers, "throughput", 4)
        sent = produce(broker.bootstrap_servers, "throughput", files)
        result["produce_per_s"] = round(sent.rate)
        lake = root / "stream"
        start = time.perf_counter()
        run("stream-ingest", "--available-now", *_sets(common + [
            f"lake.root={lake}", "stream.topic=throughput",
            f"stream.max_offsets_per_trigger={args.batch}"]))
        wall = time.perf_counter() - start
        m = _metrics(lake, "stream-ingest")
        busy = m.filter(pl.col("name") == "seconds")["value"].sum()
        landed = m.filter(pl.col("name") == "messages")["value"].sum()
        result["stream"] = {"messages": int(landed), "batches_s": round(busy, 1), "wall_s": round(wall, 1),
                            "events_per_s": round(landed / busy),
                            "batches": int(m.filter(pl.col("name") == "messages").height)}

        # 2. the batch peer on the same events
        batch_lake = root / "batch"
        sets = _sets(common + [f"lake.root={batch_lake}"])
        day = str(max(f.parent.name.removeprefix("date=") for f in files))
        run("ingest", "--run-date", day, *sets)
        run("clean", "--run-date", day, *sets)
        seconds = {stage: _metrics(batch_lake, stage).filter(pl.col("name") == "seconds")["value"].sum()
                   for stage in ("ingest", "clean")}
        result["batch_peer"] = {"ingest_s": round(seconds["ingest"], 1), "clean_s": round(seconds["clean"], 1),
                                "events_per_s": round(events / sum(seconds.values()))}
        result["throughput_ratio"] = round(result["stream"]["events_per_s"]
                                           / result["batch_peer"]["events_per_s"], 2)

        # 3. latency at half the sustained rate
        rate = result["stream"]["events_per_s"] / 2
        ensure_topic(broker.bootstrap_servers, "latency", 4)
        lake = root / "latency"
        stream = subprocess.Popen([str(BIN / "foryou"), "stream-ingest", "--trigger", f"{args.trigger}s",
                                   *_sets(common + [f"lake.root={lake}", "stream.topic=latency",
                                                    "stream.starting_offsets=latest"])],
                                  stdout=subprocess.DEVNULL)
        time.sleep(40)  # the query is up and has read the topic's end offsets
        count = int(rate * args.seconds)
        subset = root / "latency-events.jsonl"
        with open(subset, "wb") as out:
            for i, record in enumerate(records(files)):
                if i >= count:
                    break
                out.write(record + b"\n")
        produced = produce(broker.bootstrap_servers, "latency", [subset], rate=rate)
        deadline = time.monotonic() + 4 * args.trigger + 120
        landed = 0
        while time.monotonic() < deadline and landed < produced.messages:
            time.sleep(5)
            try:
                landed = _metrics(lake, "stream-ingest").filter(pl.col("name") == "messages")["value"].sum()
            except Exception:  # noqa: BLE001 - the table may not exist yet
                landed = 0
        stream.send_signal(signal.SIGTERM)
        stream.wait(120)
        m = _metrics(lake, "stream-ingest")
        sizes = m.filter(pl.col("name") == "messages").select("run_id", pl.col("value").alias("n"))
        p50 = m.filter(pl.col("name") == "latency_ms.p50").select("run_id", pl.col("value").alias("p50"))
        p99 = m.filter(pl.col("name") == "latency_ms.p99").select("run_id", pl.col("value").alias("p99"))
        per = sizes.join(p50, on="run_id").join(p99, on="run_id").sort("p50")
        cumulative = per["n"].cum_sum()
        median = per["p50"][int((cumulative >= cumulative[-1] / 2).arg_max())]
        result["latency"] = {"rate_per_s": round(rate), "messages": int(produced.messages),
                             "landed": int(landed), "batches": per.height,
                             "p50_s": round(median / 1000, 1), "p99_s": round(per["p99"].max() / 1000, 1),
                             "target_p99_s": 2 * args.trigger + 10}
    finally:
        broker.stop()

    s, b, lat = result["stream"], result["batch_peer"], result["latency"]
    print(f"world {args.size}: {events:,} raw events; producer {result['produce_per_s']:,}/s")
    print(f"stream: {s['messages']:,} messages in {s['batches']} micro-batches, {s['batches_s']} s of "
          f"batches ({s['wall_s']} s wall) = {s['events_per_s']:,} events/s")
    print(f"batch:  ingest {b['ingest_s']} s + clean {b['clean_s']} s = {b['events_per_s']:,} events/s")
    print(f"stream / batch = {result['throughput_ratio']} (target >= 0.5)")
    print(f"latency at {lat['rate_per_s']:,}/s, trigger {args.trigger}s, {lat['batches']} batches: "
          f"p50 {lat['p50_s']} s, p99 {lat['p99_s']} s (target <= {lat['target_p99_s']} s)")
    print(json.dumps(result))
    save("stream", result)


if __name__ == "__main__":
    main()
