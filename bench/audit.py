"""Benchmark: the audit log's tile store, appends and proofs at 1M leaves, beside pymerkle on SQLite.

Appends ``--leaves`` commitments (41 bytes each) in transactions of ``--batch`` and reports
leaves/s; then at the full size times inclusion and consistency proofs from the stored tiles
(each with a fresh ``TileSubtrees``, so no tile is reused between proofs), counts the tiles and
queries each proof reads, times inclusion proofs at one leaf less (a size no append ended at,
so with no peaks row), and times verification. The baseline, pymerkle's ``SqliteTree``,
is measured at ``--baseline-leaves`` in the same run when it is installed, twice: with its
subtree-root cache warm from earlier proofs (its default), and cleared before each proof (as
the tile store's proofs share nothing); the ratios compare its p50 to the tile store's.
Targets (issue 15): appends >= 5,000 leaves/s embedded; proofs at 1M < 1 ms from at most three
tile reads; verification < 0.1 ms.

Part 2 (``--pipeline``, after part 1 unless ``--no-pipeline``; ``--no-store`` skips part 1) times
the whole append path as the product runs it: writer threads each commit transactions of ``--k``
alert actions with their commitments (``outbox.record_many`` before the commit), while
``sequencer.run`` integrates and publishes in its own thread on its own engine (as ``creditgraph
audit sequence`` would, in its own process). Runs with one and two writers, flat out and paced
at ``--paced-rate``, and one flat out with a 1-of-1 witness policy against a real witness server.
Per run: the writers' commit rate; the sustained rate, leaves / (first commit -> created_at of the
published checkpoint covering the last leaf); per transaction the time from its commit to the
created_at of the first published checkpoint covering its largest leaf index (p50, p99, max).
Target: >= 5,000 leaves/s with p99 <= 1 s (Trillian Tessera's POSIX driver: about 2,900/s).
Baseline: pymerkle's ``SqliteTree.append_entry``, one entry at a time.

    python bench/audit.py
    python bench/audit.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/bench \
        --baseline-leaves 0 --pipeline-baseline-leaves 0
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import multiprocessing
import os
import random
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, make_url, select, text

from creditgraph.audit import keyfile, merkle, outbox, sequencer, tile_store
from creditgraph.audit.sequencer import LogKeys
from creditgraph.audit.witness_policy import WitnessPolicy
from creditgraph.store.db import make_engine, upgrade, write_transaction
from creditgraph.store.models import AlertAction, AuditCheckpoint, AuditRecord, table_of

TARGETS = {"append_per_s": 5_000.0, "proof_ms": 1.0, "verify_ms": 0.1}


def entry(n: int) -> bytes:
    """A leaf as the log will hold them: a kind tag and a 32-byte commitment."""
    return b"decision:" + hashlib.sha256(n.to_bytes(8, "big")).digest()


def quantiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of samples in seconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p99 * 1e3


def timed(calls: list[Callable[[], object]]) -> list[float]:
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def bench_store(url: str, leaves: int, batch: int, proofs: int, seed: int) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(seed)
    commits = []
    start = time.perf_counter()
    for first in range(0, leaves, batch):
        entries = [entry(n) for n in range(first, min(leaves, first + batch))]
        began = time.perf_counter()
        with engine.begin() as conn:
            tile_store.append(conn, entries)
        commits.append(time.perf_counter() - began)
    append_s = time.perf_counter() - start
    size = leaves
    result: dict[str, float] = {"append_per_s": leaves / append_s}
    result["batch_p50_ms"], result["batch_p99_ms"] = quantiles(commits)
    with engine.connect() as conn:
        root = tile_store.root(conn, size)
        indexes = [rng.randrange(size) for _ in range(proofs)]
        olds = [rng.randint(1, size - 1) for _ in range(proofs)]
        for _ in range(50):  # warm the page cache and the statement cache
            tile_store.inclusion_proof(conn, rng.randrange(size), size)
        inclusion = timed([lambda i=i: tile_store.inclusion_proof(conn, i, size) for i in indexes])
        consistency = timed([lambda m=m: tile_store.consistency_proof(conn, m, size) for m in olds])
        result["inclusion_p50_ms"], result["inclusion_p99_ms"] = quantiles(inclusion)
        result["consistency_p50_ms"], result["consistency_p99_ms"] = quantiles(consistency)
        inner = size - 1  # no append ended here: the right edge from partial tiles
        offside = timed(
            [lambda i=i: tile_store.inclusion_proof(conn, i % inner, inner) for i in indexes]
        )
        result["offside_p50_ms"], result["offside_p99_ms"] = quantiles(offside)
        tiles, queries = [], []
        for index, old in zip(indexes[:200], olds[:200], strict=True):
            for prove in (merkle.inclusion_proof_from, merkle.consistency_proof_from):
                arg = index if prove is merkle.inclusion_proof_from else old
                dry = tile_store._Recorder()
                prove(dry, arg, size)
                source = tile_store.TileSubtrees(conn, size)
                source.prefetch(dry.ranges)
                prove(source, arg, size)
                tiles.append(source.tiles_read)
                queries.append(source.queries)
        result["tiles_per_proof_max"] = max(tiles)
        result["tiles_per_proof_mean"] = statistics.fmean(tiles)
        result["queries_per_proof_max"] = max(queries)
        checks = []
        for index, old in zip(indexes[:500], olds[:500], strict=True):
            leaf = merkle.leaf_hash(entry(index))
            path = tile_store.inclusion_proof(conn, index, size)
            old_root = tile_store.root(conn, old)
            steps = tile_store.consistency_proof(conn, old, size)
            checks.append(
                (
                    lambda leaf=leaf, index=index, path=path: merkle.verify_inclusion(
                        leaf, index, size, path, root
                    ),
                    lambda old=old, old_root=old_root, steps=steps: merkle.verify_consistency(
                        old, size, old_root, root, steps
                    ),
                )
            )
    engine.dispose()
    result["verify_inclusion_p50_ms"], result["verify_inclusion_p99_ms"] = quantiles(
        timed([c[0] for c in checks])
    )
    result["verify_consistency_p50_ms"], result["verify_consistency_p99_ms"] = quantiles(
        timed([c[1] for c in checks])
    )
    return result


def bench_pymerkle(folder: Path, leaves: int, proofs: int, seed: int) -> dict[str, float] | None:
    try:
        from pymerkle import SqliteTree
    except ImportError:
        return None
    rng = random.Random(seed)
    tree = SqliteTree(str(folder / "pymerkle.db"))
    start = time.perf_counter()
    tree.append_entries([entry(n) for n in range(leaves)])
    result = {"append_per_s": leaves / (time.perf_counter() - start)}
    same_root = tree.get_root() == merkle.root([entry(n) for n in range(leaves)])
    result["same_root_as_rfc9162"] = float(same_root)
    for cache in ("warm", "cold"):
        indexes = [rng.randint(1, leaves) for _ in range(proofs)]
        olds = [rng.randint(1, leaves - 1) for _ in range(proofs)]

        def clear(cache: str = cache) -> None:
            if cache == "cold":  # as the tile store's proofs, which share nothing
                tree.cache_clear()

        inclusion = timed([lambda i=i: (clear(), tree.prove_inclusion(i, leaves)) for i in indexes])
        consistency = timed(
            [lambda m=m: (clear(), tree.prove_consistency(m, leaves)) for m in olds]
        )
        for kind, samples in (("inclusion", inclusion), ("consistency", consistency)):
            p50, p99 = quantiles(samples)
            result[f"{kind}_{cache}_p50_ms"], result[f"{kind}_{cache}_p99_ms"] = p50, p99
    tree.close()
    return result


# --- part 2: the whole append path, record commit -> leaf -> published checkpoint -------------

ACTIONS = table_of(AlertAction)
AUDIT_RECORDS = table_of(AuditRecord)
CHECKPOINTS = table_of(AuditCheckpoint)
PIPELINE_TARGETS = {"leaves_per_s": 5_000.0, "p99_s": 1.0}
TESSERA_POSIX_PER_S = 2_900.0


def _utc_now() -> datetime:
    """The clock the outbox and the sequencer stamp rows with (naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Scenario:
    """One pipeline run: ``writers`` threads, flat out or paced at ``rate`` leaves/s."""

    writers: int
    rate: float | None = None
    witness: bool = False

    @property
    def label(self) -> str:
        load = "flat out" if self.rate is None else f"paced {self.rate:,.0f}/s"
        return f"W={self.writers}, {load}" + (", 1-of-1 witness" if self.witness else "")


@dataclass
class Txn:
    committed: datetime
    action_ids: list[int]


@dataclass
class PipelineResult:
    scenario: Scenario
    leaves: int
    commit_per_s: float
    leaves_per_s: float
    p50_s: float
    p99_s: float
    max_s: float
    checkpoints: int


def _action_rows(writer: int, txn: int, k: int, now: datetime) -> list[dict[str, object]]:
    """K alert actions as the monitoring policies write them (no FK: an alert id is a string)."""
    return [
        {
            "alert_id": f"bench-{writer}-{txn}",
            "person_id": f"bench{(writer * 1_000_003 + txn * k + i) % 100_000:08d}",
            "action": "notify_officer",
            "params": {"channel": "queue", "step": i},
            "outcome": "queued",
            "policy_version": "bench-1",
            "policy_hash": "0" * 64,
            "actor": "system",
            "at": now,
        }
        for i in range(k)
    ]


def _writer(
    engine: Engine, writer: int, txns: int, k: int, pace_s: float | None,
    go: threading.Event, t0: list[float], out: list[Txn],
) -> None:  # fmt: skip
    """Commit ``txns`` transactions of ``k`` alert actions, each committed to the log in its own
    transaction as ``monitoring.actions`` does; ``pace_s`` apart when paced."""
    go.wait()
    for n in range(txns):
        if pace_s is not None:
            delay = t0[0] + n * pace_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        with write_transaction(engine) as conn:
            rows = _action_rows(writer, n, k, _utc_now())
            ids = list(conn.execute(insert(ACTIONS).returning(ACTIONS.c.id), rows).scalars())
            outbox.record_many(conn, "alert_action", [str(i) for i in ids])
        out.append(Txn(_utc_now(), ids))


@contextmanager
def _witness_server(folder: Path, keys: LogKeys) -> Iterator[WitnessPolicy]:
    """A real ``creditgraph witness`` app on uvicorn in a thread, and a 1-of-1 policy naming it."""
    from creditgraph.audit.cosignature import CosignatureSigner, format_verifier
    from creditgraph.audit.witness_app import Witness, create_witness_app, serving_in_thread
    from creditgraph.audit.witness_policy import parse_witness_policy
    from creditgraph.audit.witness_store import open_store

    name = f"witness-{secrets.token_hex(4)}.bench.example"  # fresh: the log keeps sizes by name
    signer = CosignatureSigner(name, secrets.token_bytes(32))
    store = open_store(folder / f"{name}.db")
    verifiers = {keys.origin: tuple(s.verifier() for s in keys.signers)}
    app = create_witness_app(Witness(store, verifiers, [signer]))
    with serving_in_thread(app) as url:
        yield parse_witness_policy(
            {
                "quorum": "w",
                "witnesses": [{"name": "w", "key": format_verifier(signer.verifier()), "url": url}],
            }
        )
        store.engine.dispose()


def _sequence_in_process(
    url: str, keys_dir: Path, policy: WitnessPolicy | None, interval: float, stop: Any, ready: Any
) -> None:
    """The sequencer in a process of its own, as `creditgraph audit sequence` runs."""
    engine = make_engine(url)
    with engine.connect() as conn:  # connected and imported before the writers start
        conn.execute(select(func.count()).select_from(CHECKPOINTS))
    ready.set()
    sequencer.run(engine, keyfile.load_or_create(keys_dir), policy=policy, interval=interval,
                  stop=stop)  # fmt: skip
    engine.dispose()


@contextmanager
def _fresh_postgres(url: str) -> Iterator[str]:
    """A new database beside ``url``'s, dropped afterwards: the log in ``url`` may already be
    signed by another run's key, and a log keeps one origin."""
    parsed = make_url(url)
    name = f"{parsed.database}_pipeline_{secrets.token_hex(4)}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_pipeline(
    url: str,
    folder: Path,
    scenario: Scenario,
    leaves: int,
    k: int,
    interval: float,
    in_process: bool = False,
) -> PipelineResult:
    """Writers commit ``leaves`` records while the sequencer runs; then read back each
    transaction's leaves and the published checkpoints that covered them."""
    engine = make_engine(url)
    upgrade(engine)
    sequencer_engine = make_engine(url)  # its own pool, as `creditgraph audit sequence` has
    keys_dir = folder / "keys"  # one log, one key: the sequencer refuses another origin
    keys = keyfile.load_or_create(keys_dir)
    with engine.connect() as conn:
        first_checkpoint = conn.execute(select(func.max(CHECKPOINTS.c.id))).scalar() or 0
    txns_each = max(1, leaves // (k * scenario.writers))
    total = txns_each * k * scenario.writers
    pace = None if scenario.rate is None else k * scenario.writers / scenario.rate
    with ExitStack() as stack:
        policy = stack.enter_context(_witness_server(folder, keys)) if scenario.witness else None
        stop: Any
        sequencer_thread: threading.Thread | multiprocessing.process.BaseProcess
        if in_process:
            spawn = multiprocessing.get_context("spawn")  # no forked copies of live threads
            stop, ready = spawn.Event(), spawn.Event()
            sequencer_thread = spawn.Process(
                target=_sequence_in_process, args=(url, keys_dir, policy, interval, stop, ready)
            )
        else:
            stop = threading.Event()
            sequencer_thread = threading.Thread(
                target=sequencer.run,
                args=(sequencer_engine, keys),
                kwargs={"policy": policy, "interval": interval, "stop": stop},
                daemon=True,
            )
        sequencer_thread.start()
        if in_process and not ready.wait(60):
            raise RuntimeError("the sequencer's process did not start")
        go, t0 = threading.Event(), [0.0]
        outs: list[list[Txn]] = [[] for _ in range(scenario.writers)]
        threads = [
            threading.Thread(target=_writer, args=(engine, w, txns_each, k, pace, go, t0, outs[w]))
            for w in range(scenario.writers)
        ]
        for thread in threads:
            thread.start()
        started = _utc_now()
        t0[0] = time.perf_counter()
        go.set()
        for thread in threads:
            thread.join()
        written = time.perf_counter() - t0[0]
        ids = [i for out in outs for txn in out for i in txn.action_ids]
        deadline = time.monotonic() + 120
        with engine.connect() as conn:
            last = conn.execute(
                select(func.max(AUDIT_RECORDS.c.id)).where(AUDIT_RECORDS.c.kind == "alert_action")
            ).scalar_one()
        while True:
            with engine.connect() as conn:
                pending = conn.execute(
                    select(AUDIT_RECORDS.c.leaf_index).where(AUDIT_RECORDS.c.id == last)
                ).scalar_one()
                covering = None
                if pending is not None:
                    covering = conn.execute(
                        select(func.min(CHECKPOINTS.c.id)).where(
                            CHECKPOINTS.c.published.is_(True),
                            CHECKPOINTS.c.size > pending,
                            CHECKPOINTS.c.id > first_checkpoint,
                        )
                    ).scalar()
            if covering is not None or time.monotonic() > deadline:
                break
            if not sequencer_thread.is_alive():
                raise RuntimeError("the sequencer stopped before covering the last leaf")
            time.sleep(0.02)
        stop.set()
        sequencer_thread.join(timeout=60)
    leaf_of: dict[int, int] = {}
    with engine.connect() as conn:
        for part in range(0, len(ids), 5_000):
            chunk = [str(i) for i in ids[part : part + 5_000]]
            for record_id, leaf in conn.execute(
                select(AUDIT_RECORDS.c.record_id, AUDIT_RECORDS.c.leaf_index).where(
                    AUDIT_RECORDS.c.kind == "alert_action", AUDIT_RECORDS.c.record_id.in_(chunk)
                )
            ):
                leaf_of[int(record_id)] = leaf
        published = conn.execute(
            select(CHECKPOINTS.c.size, CHECKPOINTS.c.created_at)
            .where(CHECKPOINTS.c.published.is_(True), CHECKPOINTS.c.id > first_checkpoint)
            .order_by(CHECKPOINTS.c.id)
        ).all()
    engine.dispose()
    sequencer_engine.dispose()
    sizes = [int(row.size) for row in published]
    latencies = []
    for txn in (txn for out in outs for txn in out):
        top = max(leaf_of.get(i, -1) for i in txn.action_ids)
        at = bisect.bisect_right(sizes, top) if top >= 0 else len(sizes)
        if at == len(sizes):  # never covered: counts as missing the target, not as fast
            latencies.append(float("inf"))
            continue
        latencies.append((published[at].created_at - txn.committed).total_seconds())
    ordered = sorted(latencies)
    last_leaf = max(leaf_of.values(), default=-1)
    at_end = bisect.bisect_right(sizes, last_leaf)
    span = float("inf")
    if last_leaf >= 0 and at_end < len(sizes):
        span = (published[at_end].created_at - started).total_seconds()
    return PipelineResult(
        scenario=scenario,
        leaves=total,
        commit_per_s=total / written,
        leaves_per_s=total / span,
        p50_s=statistics.median(ordered),
        p99_s=ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        max_s=ordered[-1],
        checkpoints=len(published),
    )


def bench_pymerkle_appends(folder: Path, leaves: int) -> float | None:
    """pymerkle's SqliteTree appending entries one by one (its ``append_entry``, a commit each)."""
    try:
        from pymerkle import SqliteTree
    except ImportError:
        return None
    tree = SqliteTree(str(folder / "pymerkle-appends.db"))
    start = time.perf_counter()
    for n in range(leaves):
        tree.append_entry(entry(n))
    elapsed = time.perf_counter() - start
    tree.close()
    return leaves / elapsed


def report_store(args: argparse.Namespace, folder: Path, url: str) -> None:
    """Part 1: the tile store's appends and proofs at ``--leaves``, beside pymerkle's proofs."""
    ours = bench_store(url, args.leaves, args.batch, args.proofs, args.seed)
    print(
        f"tile store on {url.split(':', 1)[0]}, {args.leaves:,} leaves, batches of {args.batch:,}"
    )
    print(
        f"  append      {ours['append_per_s']:>10,.0f} leaves/s "
        f"(target >= {TARGETS['append_per_s']:,.0f}); a batch's transaction "
        f"p50 {ours['batch_p50_ms']:.2f} ms, p99 {ours['batch_p99_ms']:.2f} ms"
    )
    for kind in ("inclusion", "consistency"):
        print(
            f"  {kind:<11} p50 {ours[f'{kind}_p50_ms']:.3f} ms, "
            f"p99 {ours[f'{kind}_p99_ms']:.3f} ms (target < {TARGETS['proof_ms']} ms)"
        )
    print(
        f"  reads       {ours['tiles_per_proof_mean']:.1f} tiles per proof on average, "
        f"at most {ours['tiles_per_proof_max']:.0f}, and the size's peaks row, in "
        f"{ours['queries_per_proof_max']:.0f} query"
    )
    print(
        f"  inclusion at {args.leaves - 1:,} (no append ended there, the edge from partial "
        f"tiles in a second query) p50 {ours['offside_p50_ms']:.3f} ms, "
        f"p99 {ours['offside_p99_ms']:.3f} ms"
    )
    for kind in ("inclusion", "consistency"):
        print(
            f"  verify {kind:<11} p50 {ours[f'verify_{kind}_p50_ms']:.4f} ms, "
            f"p99 {ours[f'verify_{kind}_p99_ms']:.4f} ms (target < {TARGETS['verify_ms']} ms)"
        )
    if args.baseline_leaves <= 0:
        print("pymerkle baseline skipped (--baseline-leaves 0)")
        return
    base = bench_pymerkle(folder, args.baseline_leaves, args.baseline_proofs, args.seed)
    if base is None:
        print("pymerkle is not installed: no baseline in this run")
        return
    print(
        f"pymerkle SqliteTree, {args.baseline_leaves:,} leaves "
        f"(root equal to RFC 9162's: {'yes' if base['same_root_as_rfc9162'] else 'no'})"
    )
    print(f"  append      {base['append_per_s']:>10,.0f} leaves/s")
    for cache in ("warm", "cold"):
        for kind in ("inclusion", "consistency"):
            p50, p99 = base[f"{kind}_{cache}_p50_ms"], base[f"{kind}_{cache}_p99_ms"]
            print(
                f"  {kind:<11} {cache} cache p50 {p50:.3f} ms, p99 {p99:.3f} ms: "
                f"{p50 / ours[f'{kind}_p50_ms']:,.1f}x the tile store's p50 at {args.leaves:,}"
            )


def bench_drain(url: str, folder: Path, leaves: int) -> tuple[float, float]:
    """The sequencer's own capacity: ``leaves`` commitments left pending by their records'
    transactions (written untimed, 1,000 a transaction), then integrated and covered by a
    signed checkpoint; leaves/s of that, and of writing them (the writers' side)."""
    engine = make_engine(url)
    upgrade(engine)
    keys = keyfile.load_or_create(folder / f"drain-keys-{time.monotonic_ns()}")
    start = time.perf_counter()
    for n in range(0, leaves, 1_000):
        with write_transaction(engine) as conn:
            rows = _action_rows(9, n, min(1_000, leaves - n), _utc_now())
            ids = list(conn.execute(insert(ACTIONS).returning(ACTIONS.c.id), rows).scalars())
            outbox.record_many(conn, "alert_action", [str(i) for i in ids])
    written = time.perf_counter() - start
    start = time.perf_counter()
    sequencer.integrate_all(engine)
    published = sequencer.publish(engine, keys)
    drained = time.perf_counter() - start
    assert published is not None and published.size >= leaves
    engine.dispose()
    return leaves / drained, leaves / written


def report_pipeline(args: argparse.Namespace, folder: Path, url: str | None) -> None:
    """Part 2: record commit -> leaf -> published checkpoint, with the sequencer running."""
    scenarios = [
        Scenario(1),
        Scenario(2),
        Scenario(1, rate=args.paced_rate),
        Scenario(2, rate=args.paced_rate),
    ]
    if args.witness:
        scenarios.append(Scenario(1, witness=True))
    backend = (url or "sqlite").split(":", 1)[0]
    print(
        f"\nappend path on {backend}: alert_actions rows and their commitments in one "
        f"transaction of {args.k} records, {args.pipeline_leaves:,} leaves a run; the sequencer "
        f"(sequencer.run, interval {args.interval} s) in a {args.sequencer}; "
        f"{os.cpu_count()} cores"
    )
    results = []
    with ExitStack() as stack:
        if url is not None:  # a log of its own, signed by this run's key only
            url = stack.enter_context(_fresh_postgres(url))
        for n, scenario in enumerate(scenarios):
            run_url = url or f"sqlite:///{folder / f'pipeline-{n}.db'}"
            result = run_pipeline(
                run_url,
                folder,
                scenario,
                args.pipeline_leaves,
                args.k,
                args.interval,
                in_process=args.sequencer == "process",
            )
            results.append(result)
    target_rate, target_p99 = PIPELINE_TARGETS["leaves_per_s"], PIPELINE_TARGETS["p99_s"]
    print(
        f"  {'run':<34} {'commits':>13} {'to checkpoint':>14} {'p50':>8} {'p99':>8} "
        f"{'max':>8} {'ckpts':>6}  leaves/s >= {target_rate:,.0f}, p99 <= {target_p99:.0f} s"
    )
    for r in results:
        rate_ok = r.leaves_per_s >= target_rate if r.scenario.rate is None else None
        verdict = [] if rate_ok is None else ["rate " + ("PASS" if rate_ok else "MISS")]
        verdict.append("p99 " + ("PASS" if r.p99_s <= target_p99 else "MISS"))
        print(
            f"  {r.scenario.label:<34} {r.commit_per_s:>11,.0f}/s {r.leaves_per_s:>12,.0f}/s "
            f"{r.p50_s:>7.3f}s {r.p99_s:>7.3f}s {r.max_s:>7.3f}s {r.checkpoints:>6}  "
            + ", ".join(verdict)
        )
    print(
        "  commits: leaves/s the writers committed; to checkpoint: leaves / (first commit -> "
        "the published checkpoint covering the last leaf); p50/p99/max: a transaction's commit "
        "-> created_at of the first published checkpoint covering its leaves"
    )
    print(f"  reference: Trillian Tessera POSIX driver about {TESSERA_POSIX_PER_S:,.0f} leaves/s")
    drain_url = f"sqlite:///{folder / 'drain.db'}"
    if args.db_url is not None:  # a database of its own beside the given one
        with _fresh_postgres(args.db_url) as fresh:
            drain, write = bench_drain(fresh, folder, args.drain_leaves)
    else:
        drain, write = bench_drain(drain_url, folder, args.drain_leaves)
    print(
        f"  the sequencer alone: {args.drain_leaves:,} pending commitments integrated and "
        f"covered by a signed checkpoint at {drain:,.0f} leaves/s "
        f"({'PASS' if drain >= target_rate else 'MISS'} >= {target_rate:,.0f}); the records and "
        f"their commitments were written at {write:,.0f} leaves/s in transactions of 1,000"
    )
    if args.pipeline_baseline_leaves <= 0:
        print("pymerkle append baseline skipped (--pipeline-baseline-leaves 0)")
        return
    base = bench_pymerkle_appends(folder, args.pipeline_baseline_leaves)
    if base is None:
        print("pymerkle is not installed: no append baseline in this run")
        return
    best = max(r.leaves_per_s for r in results if r.scenario.rate is None)
    print(
        f"pymerkle SqliteTree.append_entry one by one, {args.pipeline_baseline_leaves:,} entries: "
        f"{base:,.0f} leaves/s; the append path's best flat-out run is {best / base:,.1f}x that"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--proofs", type=int, default=2_000)
    parser.add_argument("--db-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--baseline-leaves", type=int, default=1_000_000)
    parser.add_argument("--baseline-proofs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--store", action=argparse.BooleanOptionalAction, default=True,
        help="part 1: the tile store's appends and proofs",
    )  # fmt: skip
    parser.add_argument(
        "--pipeline", action=argparse.BooleanOptionalAction, default=True,
        help="part 2: record commit -> leaf -> published checkpoint",
    )  # fmt: skip
    parser.add_argument("--pipeline-leaves", type=int, default=20_000, help="leaves per run")
    parser.add_argument("--k", type=int, default=10, help="records per writer transaction")
    parser.add_argument(
        "--drain-leaves", type=int, default=100_000,
        help="pending commitments the sequencer integrates alone (its own capacity)",
    )  # fmt: skip
    parser.add_argument("--interval", type=float, default=0.2, help="the sequencer's interval")
    parser.add_argument(
        "--sequencer", choices=("thread", "process"), default="thread",
        help="where sequencer.run runs: a thread beside the writers, sharing their GIL, or a "
        "process of its own, as `creditgraph audit sequence` is deployed",
    )  # fmt: skip
    parser.add_argument(
        "--witness", action=argparse.BooleanOptionalAction, default=True,
        help="also a run with a 1-of-1 witness policy against a real witness server",
    )  # fmt: skip
    parser.add_argument(
        "--paced-rate", type=float, default=1_000.0,
        help="leaves/s the paced runs offer: below the writers' capacity, so the latency is "
        "the sequencer's, not a queue's",
    )  # fmt: skip
    parser.add_argument(
        "--pipeline-baseline-leaves", type=int, default=5_000,
        help="entries pymerkle appends one by one (0 skips): each is its own fsync'd commit, "
        "so its rate does not depend on the count, and 5,000 take under a minute",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.store:
            report_store(args, folder, args.db_url or f"sqlite:///{folder / 'audit.db'}")
        if args.pipeline:
            report_pipeline(args, folder, args.db_url)


if __name__ == "__main__":
    main()
