"""Benchmark: the monitor end to end, event in -> state -> detectors -> alert stored.

A synthetic stream of a world of ``--people`` (daily activity, interactions, new ties, devices,
inquiries, loans elsewhere, transfers, repayments and missed instalments, with a planted ring of
people sharing devices and a few people in distress) is published onto the bus while consumers
run ``monitoring.runner.MonitorService`` (state, tie graph and exposure, rings, the five
detectors, alerts and their actions in the batch's transaction), each in its own process on its
share of the partitions.

Two measurements, each beside its baseline in the same run:

- **throughput**: every event published as fast as the bus takes it; events per second from the
  first publish to the last event applied. Baseline: the same stream through the same bus with a
  handler that does nothing (the bus's own ceiling), so the ratio is what monitoring costs.
- **latency**: events published at ``--rate`` per second for ``--seconds``; for every alert, the
  time from its triggering event's publish to the alert's commit (``created_at``); p50 and p99.

Targets (issue 14): embedded >= 10,000 events/s with p99 event-to-alert < 250 ms; Redis Streams
>= 20,000 events/s with two consumers.

    python bench/monitoring.py --bus outbox
    python bench/monitoring.py --bus redis --consumers 2 --redis-url redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from creditgraph.monitoring.action_policy_file import load_action_policy
from creditgraph.monitoring.bus import EventBus, partition_of, split_partitions
from creditgraph.monitoring.config_file import load_monitoring_config
from creditgraph.monitoring.consumer import Consumer, noop_handler
from creditgraph.monitoring.outbox import OutboxBus
from creditgraph.monitoring.redis_bus import RedisStreamsBus
from creditgraph.monitoring.runner import MonitorService
from creditgraph.store.db import make_engine, upgrade
from creditgraph.store.models import Alert, table_of

TARGETS = {"outbox": 10_000.0, "redis": 20_000.0}
P99_TARGET_MS = 250.0
START = datetime(2026, 9, 1, tzinfo=UTC)
SOURCE = "bench-app"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class Stream:
    """A reproducible synthetic event stream in bus payload form (identifiers already
    pseudonymised: the bench measures the monitor, the door is measured by the intake's tests)."""

    def __init__(self, people: int, seed: int) -> None:
        self.people = people
        self.rng = random.Random(seed)
        self.n = 0
        self.ring = [f"p{i:07d}" for i in range(8)]
        self.distressed = {f"p{i:07d}" for i in range(8, 8 + max(5, people // 500))}

    def _event(self, type_: str, person: str, at: datetime, **fields: Any) -> dict[str, Any]:
        self.n += 1
        servicing = type_ in ("repayment_posted", "instalment_missed", "dpd_bucket_changed")
        return {
            "event_id": f"b{self.n:09d}",
            "type": type_,
            "person_id": person,
            "occurred_at": iso(at),
            "source": "servicing" if servicing else SOURCE,
            "version": 1,
            **fields,
        }

    def events(self, count: int, per_day: int | None = None) -> list[dict[str, Any]]:
        """``count`` events spread over days in time order (``per_day`` a day, by default about
        ``people / 2``)."""
        rng, out = self.rng, []
        per_day = per_day or max(1000, self.people // 2)
        day = 0
        while len(out) < count:
            base = START + timedelta(days=day)
            for k in range(min(per_day, count - len(out))):
                at = base + timedelta(seconds=k * 86_000 // per_day)
                person = f"p{rng.randrange(self.people):07d}"
                roll = rng.random()
                if person in self.distressed and roll < 0.3:
                    out.append(
                        self._event(
                            "instalment_missed",
                            person,
                            at,
                            loan_id=f"L{person}",
                            instalment=day // 30 + 1,
                            due_date=(at - timedelta(days=1)).date().isoformat(),
                            amount_due=50000,
                            amount_paid=0,
                        )
                    )
                elif roll < 0.40:
                    out.append(
                        self._event(
                            "activity_day",
                            person,
                            at,
                            date=(at - timedelta(days=1)).date().isoformat(),
                            active_minutes=rng.randrange(0, 120),
                            posts=rng.randrange(0, 5),
                            logins=rng.randrange(1, 6),
                        )
                    )
                elif roll < 0.70:
                    other = f"p{rng.randrange(self.people):07d}"
                    out.append(
                        self._event(
                            "interaction_batch",
                            person,
                            at,
                            other_person_id=other,
                            kind="message",
                            period_start=iso(at - timedelta(hours=6)),
                            count=rng.randrange(1, 20),
                        )
                    )
                elif roll < 0.75:
                    other = f"p{rng.randrange(self.people):07d}"
                    out.append(
                        self._event("tie_added", person, at, other_person_id=other, kind="friend")
                    )
                elif roll < 0.80:
                    if rng.random() < 0.2:
                        member = rng.choice(self.ring)
                        device = f"ring-dev-{rng.randrange(3)}"
                        out.append(self._event("device_seen", member, at, device_id=device))
                    else:
                        out.append(self._event("device_seen", person, at, device_id=f"d{person}"))
                elif roll < 0.85:
                    out.append(
                        self._event(
                            "credit_inquiry", person, at, inquirer="lender-x", reason="credit_card"
                        )
                    )
                elif roll < 0.88:
                    out.append(
                        self._event(
                            "external_loan_reported",
                            person,
                            at,
                            lender="lender-y",
                            opened_at=iso(at - timedelta(days=3)),
                            amount=300000,
                            status="current",
                            max_dpd=0,
                        )
                    )
                elif roll < 0.94:
                    out.append(
                        self._event(
                            "transfer_summary",
                            person,
                            at,
                            period_start=(at - timedelta(days=7)).date().isoformat(),
                            period_end=(at - timedelta(days=1)).date().isoformat(),
                            incoming_amount=rng.randrange(0, 500000),
                            incoming_count=rng.randrange(0, 10),
                            outgoing_amount=rng.randrange(0, 500000),
                            outgoing_count=rng.randrange(0, 10),
                        )
                    )
                else:
                    out.append(
                        self._event(
                            "repayment_posted",
                            person,
                            at,
                            loan_id=f"L{person}",
                            posting_id=f"t{self.n}",
                            amount=50000,
                            remaining_due=0,
                        )
                    )
            day += 1
        return out


def make_bus(args: argparse.Namespace, partitions: tuple[int, ...] | None) -> EventBus:
    if args.bus == "outbox":
        return OutboxBus(make_engine(args.db_url), partitions)
    return RedisStreamsBus.from_url(args.redis_url, prefix=args.prefix, partitions=partitions)


def consume(
    args: argparse.Namespace, mode: str, index: int, expected: int, ready: Any, done: Any
) -> None:
    partitions = split_partitions(args.consumers, index)
    bus = make_bus(args, partitions)
    engine = make_engine(args.db_url)
    group = f"{mode}-{args.run}"
    if mode == "monitor":
        service = MonitorService(
            engine,
            bus,
            config=load_monitoring_config(),
            policy=load_action_policy(),
            group=group,
            name=f"c{index}",
            batch=args.batch,
            exposure_eps=0.1 / args.people,
        )
        service.start()
        step = service.run_once
    else:
        step = Consumer(bus, engine, group, f"c{index}", noop_handler, batch=args.batch).run_once
    ready.release()
    seen = 0
    while seen < expected:
        delivered = step().delivered
        seen += delivered
        if not delivered:
            time.sleep(0.002)
    done.put(time.perf_counter())


def run_once(
    args: argparse.Namespace, mode: str, events: list[dict[str, Any]], rate: float | None
) -> dict[str, Any]:
    """Consumers first, then the publisher, on a fresh log (a new SQLite file or stream prefix,
    or new tables' worth of groups on a given database); returns throughput and publish times."""
    args.run = uuid.uuid4().hex[:8]
    args.prefix = f"{{cgbench:{args.run}}}"
    if args.home is not None:
        args.db_url = f"sqlite:///{os.path.join(args.home, f'bench-{args.run}.db')}"
    upgrade(make_engine(args.db_url))
    shares = Counter(partition_of(e["person_id"]) for e in events)
    context = multiprocessing.get_context("fork")
    ready, done = context.Semaphore(0), context.Queue()
    workers = []
    for index in range(args.consumers):
        expected = sum(shares[p] for p in split_partitions(args.consumers, index))
        worker = context.Process(target=consume, args=(args, mode, index, expected, ready, done))
        worker.start()
        workers.append(worker)
    for _ in workers:
        ready.acquire()
    publisher = make_bus(args, None)
    published_at: dict[str, float] = {}
    start = time.perf_counter()
    chunk = args.publish_batch if rate is None else max(1, int(rate / 100))
    for at in range(0, len(events), chunk):
        part = events[at : at + chunk]
        if rate is not None:
            due = start + at / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        publisher.publish(part)
        now = time.time()
        for event in part:
            published_at[event["event_id"]] = now
    finished = max(done.get(timeout=1800) for _ in workers)
    for worker in workers:
        worker.join()
    seconds = finished - start
    return {"per_s": len(events) / seconds, "seconds": seconds, "published_at": published_at}


def alert_latencies(args: argparse.Namespace, published_at: dict[str, float]) -> list[float]:
    """Milliseconds from each alert's triggering event's publish to the alert's commit."""
    alerts = table_of(Alert)
    engine = make_engine(args.db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(alerts.c.created_at, alerts.c.evidence)).all()
    out = []
    for created_at, evidence in rows:
        ids = [e for e in (evidence or {}).get("events", []) if e in published_at]
        if not ids:
            continue
        created = created_at.replace(tzinfo=UTC).timestamp()
        out.append((created - max(published_at[e] for e in ids[:1])) * 1000.0)
    return sorted(out)


def time_daily_pass(events: list[dict[str, Any]]) -> tuple[float, int]:
    """Milliseconds of one daily pass over the state the throughput stream leaves."""
    from creditgraph.monitoring.codec import from_payload
    from creditgraph.monitoring.monitor import Monitor

    monitor = Monitor(load_monitoring_config(), daily_pass=False)
    typed = [from_payload(e) for e in events]
    for start in range(0, len(typed), 5000):
        monitor.process_batch(typed[start : start + 5000])
    at = typed[-1].occurred_at
    started = time.perf_counter()
    monitor.daily(at)
    return (time.perf_counter() - started) * 1000.0, len(monitor.ties.pairs)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bus", choices=["outbox", "redis"], default="outbox")
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--publish-batch", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s of the latency run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--db-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    prefixes: list[str] = []
    with tempfile.TemporaryDirectory() as home:
        args.home = home if args.db_url is None else None
        if args.db_url is not None and args.bus == "outbox":
            parser.error("--db-url with the outbox would mix the runs' logs: use redis, or none")
        try:
            stream = Stream(args.people, args.seed)
            events = stream.events(args.events)
            baseline = run_once(args, "noop", events, None)
            prefixes.append(args.prefix)
            monitored = run_once(args, "monitor", events, None)
            prefixes.append(args.prefix)
            stream = Stream(args.people, args.seed + 1)
            stream.n = 10**8  # ids apart from the throughput runs'
            # one day of event time: a day closes every few seconds otherwise, which no live
            # stream does; the daily pass is timed on its own below
            size = int(args.rate * args.seconds)
            paced = stream.events(size, per_day=size)
            paced_run = run_once(args, "monitor", paced, args.rate)
            prefixes.append(args.prefix)
            latencies = alert_latencies(args, paced_run["published_at"])
            daily_ms, ties_count = time_daily_pass(events)
        finally:
            if args.bus == "redis":
                for prefix in prefixes:
                    RedisStreamsBus.from_url(args.redis_url, prefix=prefix).drop()
    target = TARGETS[args.bus]
    ratio = monitored["per_s"] / baseline["per_s"]
    print(
        f"{args.bus} consumers={args.consumers} people={args.people:,} events={args.events:,}\n"
        f"  throughput: monitor {monitored['per_s']:,.0f}/s ({monitored['seconds']:.1f} s); "
        f"baseline bus alone {baseline['per_s']:,.0f}/s; monitor/bus {ratio:.2f}; "
        f"target {target:,.0f}/s -> {monitored['per_s'] / target:.2f}x"
    )
    print(f"  paced run: {len(paced):,} events in {paced_run['seconds']:.1f} s")
    print(
        f"  daily pass (re-weigh {ties_count:,} ties, exact exposure refresh, ring sweep), once a "
        f"day of event time: {daily_ms:.0f} ms"
    )
    print(
        f"  latency at {args.rate:,.0f} events/s for {args.seconds:.0f} s "
        f"(kept up: {paced_run['per_s']:,.0f}/s): {len(latencies)} alerts, event to alert "
        f"p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms; "
        f"target p99 < {P99_TARGET_MS:.0f} ms"
    )


if __name__ == "__main__":
    main()
