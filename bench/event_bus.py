"""Benchmark: events per second through each event bus, published, consumed and acknowledged.

Consumers start first, each in its own process on its share of the partitions, then one publisher
writes ``--events`` small events in batches of ``--publish-batch``; the clock runs from the first
publish to the last acknowledgement, so the figure is end to end with publishing and consuming
overlapped. ``--loop consumer`` (the default) runs ``monitoring.consumer.Consumer`` with a handler
that does nothing: the idempotency rows, savepoints and offsets are all paid. ``--loop raw`` only
consumes and acknowledges. Targets (issue 14): embedded >= 10,000 events/s end to end, Redis
Streams >= 20,000 events/s with two consumers.

    python bench/event_bus.py --bus outbox --consumers 1
    python bench/event_bus.py --bus redis --consumers 2 --redis-url redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import uuid
from collections import Counter
from typing import Any

from creditgraph.monitoring.bus import EventBus, partition_of, split_partitions
from creditgraph.monitoring.consumer import Consumer, noop_handler
from creditgraph.monitoring.outbox import OutboxBus
from creditgraph.monitoring.redis_bus import RedisStreamsBus
from creditgraph.store.db import make_engine, upgrade

TARGETS = {"outbox": 10_000.0, "redis": 20_000.0}
PEOPLE = 10_000


def make_event(n: int) -> dict[str, Any]:
    return {
        "event_id": f"e{n:08d}",
        "person_id": f"p{n % PEOPLE:05d}",
        "occurred_at": "2026-12-01T00:00:00Z",
        "type": "activity_day",
        "source": "bench",
        "v": 1,
    }


def make_bus(args: argparse.Namespace, partitions: tuple[int, ...] | None) -> EventBus:
    if args.bus == "outbox":
        return OutboxBus(make_engine(args.db_url), partitions)
    return RedisStreamsBus.from_url(args.redis_url, prefix=args.prefix, partitions=partitions)


def consume(args: argparse.Namespace, index: int, expected: int, ready: Any, done: Any) -> None:
    partitions = split_partitions(args.consumers, index)
    bus = make_bus(args, partitions)
    engine = make_engine(args.db_url)
    group, name = "bench", f"c{index}"
    consumer = Consumer(bus, engine, group, name, noop_handler, batch=args.batch)
    seen = 0
    ready.release()
    while seen < expected:
        if args.loop == "consumer":
            seen += consumer.run_once().delivered
        else:
            deliveries = bus.consume(group, name, args.batch)
            if deliveries:
                bus.ack(group, [d.id for d in deliveries])
            seen += len(deliveries)
    done.put(time.perf_counter())


def run(args: argparse.Namespace) -> dict[str, float]:
    upgrade(make_engine(args.db_url))
    events = [make_event(n) for n in range(args.events)]
    shares = Counter(partition_of(e["person_id"]) for e in events)
    context = multiprocessing.get_context("fork")
    ready, done = context.Semaphore(0), context.Queue()
    workers = []
    for index in range(args.consumers):
        expected = sum(shares[p] for p in split_partitions(args.consumers, index))
        worker = context.Process(target=consume, args=(args, index, expected, ready, done))
        worker.start()
        workers.append(worker)
    for _ in workers:
        ready.acquire()
    publisher = make_bus(args, None)
    start = time.perf_counter()
    for at in range(0, len(events), args.publish_batch):
        publisher.publish(events[at : at + args.publish_batch])
    published = time.perf_counter()
    finished = max(done.get(timeout=600) for _ in workers)
    for worker in workers:
        worker.join()
    total = finished - start
    return {
        "publish_per_s": args.events / (published - start),
        "end_to_end_per_s": args.events / total,
        "seconds": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bus", choices=["outbox", "redis"], default="outbox")
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--publish-batch", type=int, default=1000)
    parser.add_argument("--loop", choices=["consumer", "raw"], default="consumer")
    parser.add_argument("--db-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    args.prefix = f"{{cgbench:{uuid.uuid4().hex}}}"
    with tempfile.TemporaryDirectory() as home:
        if args.db_url is None:
            args.db_url = f"sqlite:///{os.path.join(home, 'bench.db')}"
        try:
            result = run(args)
        finally:
            if args.bus == "redis":
                RedisStreamsBus.from_url(args.redis_url, prefix=args.prefix).drop()
    target = TARGETS[args.bus]
    print(
        f"{args.bus} consumers={args.consumers} loop={args.loop} events={args.events}: "
        f"publish {result['publish_per_s']:,.0f}/s, end to end {result['end_to_end_per_s']:,.0f}/s "
        f"in {result['seconds']:.2f} s; target {target:,.0f}/s, ratio "
        f"{result['end_to_end_per_s'] / target:.2f}"
    )


if __name__ == "__main__":
    main()
